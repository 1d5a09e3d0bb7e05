package prereg_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

func TestImportVisibleTo(t *testing.T) {
	tenant := prereg.Principal{TokenID: "bootstrap"}
	orgA := prereg.Principal{TokenID: "tok_a", OrganizationID: "org_a"}
	orgARO := prereg.Principal{TokenID: "tok_a_ro", OrganizationID: "org_a", ReadOnly: true}
	orgB := prereg.Principal{TokenID: "tok_b", OrganizationID: "org_b"}
	tests := []struct {
		name    string
		report  prereg.ImportReport
		visible []prereg.Principal
	}{
		{"run by an org_a token", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "tok_a", OrganizationID: "org_a", Organizations: []string{"org_a", "org_b"}}}, []prereg.Principal{tenant, orgA, orgARO}},
		{"tenant-wide run, org_a rows only", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap", Organizations: []string{"org_a"}}}, []prereg.Principal{tenant, orgA, orgARO}},
		{"tenant-wide run, two organizations", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap", Organizations: []string{"org_a", "org_b"}}}, []prereg.Principal{tenant}},
		{"tenant-wide rows", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap", Organizations: []string{""}}}, []prereg.Principal{tenant}},
		{"org_a and tenant-wide rows", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap", Organizations: []string{"org_a", ""}}}, []prereg.Principal{tenant}},
		{"older report without organizations", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap"}}, []prereg.Principal{tenant}},
		{"older report run by an org_b token", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "tok_b", OrganizationID: "org_b"}}, []prereg.Principal{tenant, orgB}},
		{"no rows", prereg.ImportReport{ImportSummary: prereg.ImportSummary{Actor: "bootstrap", Organizations: []string{}}}, []prereg.Principal{tenant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := prereg.ImportSummary{Actor: tt.report.Actor, OrganizationID: tt.report.OrganizationID, Organizations: tt.report.Organizations}
			for _, p := range []prereg.Principal{tenant, orgA, orgARO, orgB} {
				want := slices.Contains(tt.visible, p)
				if got := tt.report.VisibleTo(p); got != want {
					t.Errorf("report visible to %+v: %v, want %v", p, got, want)
				}
				if got := sum.VisibleTo(p); got != want {
					t.Errorf("summary visible to %+v: %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestImportOrganizationsBounded(t *testing.T) {
	var o prereg.ImportOrganizations
	for i := range 3 * prereg.MaxImportOrganizations {
		o.Add(fmt.Sprintf("org_%d", i%(2*prereg.MaxImportOrganizations)))
		o.Add("")
	}
	got := o.List()
	if len(got) != prereg.MaxImportOrganizations || got[0] != "org_0" || got[1] != "" {
		t.Fatalf("%d organizations: %q…", len(got), got[:3])
	}
}
