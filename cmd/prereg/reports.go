package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/prereg"
)

func statsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Counts by status, overall and per organization",
		Example: `  prereg stats --db prereg.db
  prereg stats --json --server https://prereg.example.com`,
		Args: noArgs,
	}
	c := addConn(cmd, e)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var st prereg.Stats
		err := c.with(func(a admin) (err error) {
			st, err = a.Stats(cmd.Context(), prereg.StatsFilter{})
			return err
		})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, st)
		}
		return printStats(e.stdout, st)
	}
	return cmd
}

// printStats writes one row per organization ("-" for tenant-wide), in
// order, then the overall counts.
func printStats(w io.Writer, st prereg.Stats) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORGANIZATION\tPENDING\tGRANTED\tREVOKED\tEXPIRED\tTOTAL")
	row := func(name string, c prereg.Counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", name, c.Pending, c.Granted, c.Revoked, c.Expired, c.Total)
	}
	for _, o := range slices.Sorted(maps.Keys(st.ByOrganization)) {
		row(dash(o), st.ByOrganization[o])
	}
	row("all", st.Overall)
	return tw.Flush()
}

// auditActions are the actions `audit --action` accepts (CONTRACT section 3).
var auditActions = []prereg.AuditAction{
	prereg.AuditCreated, prereg.AuditUpdated, prereg.AuditRevoked, prereg.AuditImported, prereg.AuditGranted,
	prereg.AuditSynced, prereg.AuditTokenCreated, prereg.AuditTokenRevoked, prereg.AuditBackup, prereg.AuditErased,
}

// checkAuditAction refuses an action the trail never holds, which would
// otherwise answer with an empty page.
func checkAuditAction(action string) error {
	if action == "" || slices.Contains(auditActions, prereg.AuditAction(action)) {
		return nil
	}
	names := make([]string, len(auditActions))
	for i, a := range auditActions {
		names[i] = string(a)
	}
	return prereg.Errorf(prereg.Invalid, "--action %q is not an audit action; one of %s", action, strings.Join(names, ", "))
}

func auditCmd(e *env) *cobra.Command {
	var (
		org, action, cursor string
		limit               int
		asJSON              bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail, newest first",
		Example: `  prereg audit --db prereg.db --limit 20
  prereg audit --action erased --organization org_dr3b5S9l3sReLayv --json --server https://prereg.example.com`,
		Args: noArgs,
	}
	c := addConn(cmd, e)
	cmd.Flags().StringVar(&org, "organization", "", "only this organization (\"-\" for tenant-wide)")
	cmd.Flags().StringVar(&action, "action", "", "only this action (created, granted, erased, …)")
	cmd.Flags().IntVar(&limit, "limit", 100, "entries (1 to 1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkAuditAction(action); err != nil {
			return err
		}
		if err := checkLimit(limit); err != nil {
			return err
		}
		var page struct {
			Items      []prereg.AuditEntry `json:"items"`
			NextCursor string              `json:"next_cursor"`
		}
		o := org
		if o == "-" {
			o = ""
		}
		err := c.with(func(a admin) (err error) {
			f := prereg.AuditFilter{OrganizationID: o, OrganizationSet: org != "", Action: prereg.AuditAction(action), Limit: limit, Cursor: cursor}
			page.Items, page.NextCursor, err = a.AuditTrail(cmd.Context(), f)
			return err
		})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, page)
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tACTOR\tACTION\tORGANIZATION\tREGISTRATION\tSUMMARY")
		for _, a := range page.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.Actor, a.Action, dash(a.OrganizationID), dash(a.RegistrationID), a.Summary)
		}
		return tw.Flush()
	}
	return cmd
}
