package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/prereg"
)

func importsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "imports", Short: "Past imports (list)", Example: "  prereg imports list --db prereg.db"}
	var (
		cursor      string
		limit       int
		all, asJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List past imports, newest first",
		Example: `  prereg imports list --db prereg.db --limit 10
  prereg imports list --all --json --server https://prereg.example.com`,
		Args: noArgs,
	}
	c := addConn(list, e)
	f := list.Flags()
	f.IntVar(&limit, "limit", 100, "page size (1 to 1000)")
	f.StringVar(&cursor, "cursor", "", "continue from a previous page's next_cursor")
	f.BoolVar(&all, "all", false, "fetch every page")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkLimit(limit); err != nil {
			return err
		}
		ctx := cmd.Context()
		var items []prereg.ImportSummary
		next := cursor
		err := c.with(func(a admin) error {
			for {
				page, n, err := a.Imports(ctx, prereg.ImportFilter{Limit: limit, Cursor: next})
				if err != nil {
					return err
				}
				items, next = append(items, page...), n
				if !all || next == "" {
					return nil
				}
			}
		})
		if err != nil {
			return err
		}
		if items == nil {
			items = []prereg.ImportSummary{}
		}
		if asJSON {
			return printJSON(e.stdout, map[string]any{"items": items, "next_cursor": next})
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFINISHED\tACTOR\tORGANIZATIONS\tROWS\tCREATED\tUPDATED\tUNCHANGED\tREJECTED\tDRY_RUN")
		for _, r := range items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%v\n", r.ImportID, r.FinishedAt.Format(time.RFC3339), r.Actor, importOrgs(r),
				r.Rows, r.Created, r.Updated, r.Unchanged, r.Rejected, r.DryRun)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(e.stderr, "more: --cursor %s\n", next)
		}
		return nil
	}
	return group(cmd, list)
}

// importOrgs names the organizations an import's rows named ("-" for
// tenant-wide rows, "?" when an older report does not say).
func importOrgs(r prereg.ImportSummary) string {
	if r.Organizations == nil {
		return "?"
	}
	if len(r.Organizations) == 0 {
		return "-"
	}
	out := make([]string, len(r.Organizations))
	for i, o := range r.Organizations {
		out[i] = dash(o)
	}
	return strings.Join(out, ",")
}
