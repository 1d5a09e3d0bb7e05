package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/prereg"
)

// addFlags are the API's field names as the CLI spells them, so that an
// error names what the user typed.
var addFlags = map[string]string{
	"email": "EMAIL", "organization_id": "--organization", "roles": "--roles",
	"connection": "--connection", "expires_at": "--expires-at",
}

func addCmd(e *env) *cobra.Command {
	var (
		roles, org, connection, expires string
		asJSON                          bool
	)
	cmd := &cobra.Command{
		Use:   "add EMAIL --roles A,B",
		Short: "Create or update one registration",
		Long: `Create or update one registration: the roles EMAIL gets at its first login,
tenant-wide or in one organization. Writing an address again replaces its
roles, connection and expiry; a revoked or expired registration is reopened;
a granted one is left as it is (a different write is refused).`,
		Example: `  prereg add ana.silva@example.com --roles billing-admin,rol_lEh5V8omwZrnZd9o --db prereg.db
  prereg add ana.silva@example.com --roles viewer --organization org_dr3b5S9l3sReLayv \
      --expires-at 2027-01-31 --server https://prereg.example.com
  prereg add bo@example.com --roles admin --connection google-oauth2 --json`,
		Args: exactArgs("email address"),
	}
	c := addConn(cmd, e)
	c.create = true
	f := cmd.Flags()
	f.StringVar(&roles, "roles", "", "comma-separated role names or IDs (rol_…) (required)")
	f.StringVar(&org, "organization", "", "Auth0 organization ID (org_…); without it the registration is tenant-wide")
	f.StringVar(&connection, "connection", "", "only a login through this connection claims it")
	f.StringVar(&expires, "expires-at", "", "unclaimed after this it expires: RFC 3339 time or a date (end of that day, UTC)")
	f.BoolVar(&asJSON, "json", false, "print JSON: {\"change\": …, \"registration\": …}")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in := prereg.Input{Email: args[0], OrganizationID: org, Roles: config.SplitList(roles), Connection: connection}
		if len(in.Roles) == 0 {
			return usageError(cmd, "--roles is required: comma-separated role names or IDs")
		}
		if expires != "" {
			t, err := prereg.ParseExpiry(expires)
			if err != nil {
				return prereg.Errorf(prereg.Invalid, "--expires-at %q is not an RFC 3339 time (2027-01-31T18:00:00Z) or a date (2027-01-31)", expires)
			}
			in.ExpiresAt = t
		}
		in = in.Normalize()
		if err := in.Validate(); err != nil {
			return inFlagTerms(err, addFlags)
		}
		var (
			r      prereg.Registration
			change prereg.Change
		)
		err := c.with(func(a admin) (err error) {
			r, change, err = a.Put(cmd.Context(), in)
			return err
		})
		if err != nil {
			return inFlagTerms(err, addFlags)
		}
		if asJSON {
			return printJSON(e.stdout, map[string]any{"change": change, "registration": r})
		}
		fmt.Fprintf(e.stdout, "registration %s\n", change)
		return printRegistrations(e.stdout, []prereg.Registration{r})
	}
	return cmd
}

// printRegistrations writes registrations as a table.
func printRegistrations(w io.Writer, items []prereg.Registration) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tORGANIZATION\tSTATUS\tROLES\tEXPIRES\tGRANTED_TO\tSYNC")
	for _, r := range items {
		sync := string(r.Sync)
		if r.SyncError != "" {
			sync += ": " + r.SyncError
		}
		expires := ""
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Email, dash(r.OrganizationID), r.Status, strings.Join(r.Roles, "|"), dash(expires), dash(r.GrantedTo), dash(sync))
	}
	return tw.Flush()
}
