package importer_test

import (
	"slices"
	"testing"

	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

// The report names the organizations its rows named, bad rows included: who
// may read it depends on that (prereg.ImportReport.VisibleTo).
func TestImportReportNamesOrganizations(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		opts importer.Options
		want []string
	}{
		{"one organization", "email,organization_id,roles\na@x.io," + orgA + ",r\nb@x.io," + orgA + ",r\n", importer.Options{}, []string{orgA}},
		{"bad rows count", "email,organization_id,roles\na@x.io," + orgA + ",r\nnot-an-address," + orgB + ",r\n", importer.Options{}, []string{orgA, orgB}},
		{"tenant-wide rows", "email,roles\na@x.io,r\n", importer.Options{}, []string{""}},
		{"mixed", "email,organization_id,roles\na@x.io,,r\nb@x.io," + orgA + ",r\n", importer.Options{}, []string{"", orgA}},
		{"invalid organization reads as tenant-wide", "email,organization_id,roles\na@x.io," + orgA + ",r\nb@x.io,acme,r\n", importer.Options{}, []string{orgA, ""}},
		{"row that cannot be read", "email,organization_id,roles\na@x.io," + orgA + ",r\nb@x.io\n", importer.Options{}, []string{orgA, ""}},
		{"dry run", "email,organization_id,roles\na@x.io," + orgB + ",r\n", importer.Options{DryRun: true}, []string{orgB}},
		{"other organization refused for a limited token", "email,organization_id,roles\na@x.io," + orgA + ",r\nb@x.io," + orgB + ",r\n",
			importer.Options{Principal: prereg.Principal{TokenID: "tok_1", OrganizationID: orgA}}, []string{orgA, orgB}},
		{"no rows", "email,roles\n", importer.Options{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			rep := run(t, s, []byte(tt.csv), tt.opts)
			if !slices.Equal(rep.Organizations, tt.want) || rep.Organizations == nil {
				t.Fatalf("organizations %q, want %q", rep.Organizations, tt.want)
			}
			kept, err := s.Import(t.Context(), rep.ImportID)
			if err != nil || !slices.Equal(kept.Organizations, tt.want) {
				t.Fatalf("kept report: %q %v", kept.Organizations, err)
			}
		})
	}
}
