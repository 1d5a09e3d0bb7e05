package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prereg/prereg/internal/prereg"
)

// regFilter is the registration filter that list and export share: as
// flags, as the admin API's query and as a store filter.
type regFilter struct{ status, org, email, sync string }

func (r *regFilter) bind(f *pflag.FlagSet) {
	f.StringVar(&r.status, "status", "", "pending, granted, revoked or expired")
	f.StringVar(&r.org, "organization", "", "organization ID; \"-\" for tenant-wide registrations only")
	f.StringVar(&r.email, "email", "", "exact address (case-insensitive)")
	f.StringVar(&r.sync, "sync", "", "only grants whose Auth0 sync is pending, done or failed")
}

// check refuses what the store would silently answer with nothing, naming
// the flag at fault.
func (r *regFilter) check() error {
	return asFlags(r.filter().Validate())
}

// asFlags rewords a prereg error about one field as one about the flag of
// the same name ("--status must be one of ...").
func asFlags(err error) error {
	var pe *prereg.Error
	if !errors.As(err, &pe) || len(pe.Details) != 1 {
		return err
	}
	d := pe.Details[0]
	return &prereg.Error{Code: pe.Code, Message: fmt.Sprintf("--%s must be %s", d.Field, d.Message), Err: pe.Err}
}

// organization is the organization filter: "-" means tenant-wide only.
func (r *regFilter) organization() (id string, set bool) {
	if r.org == "" {
		return "", false
	}
	if r.org == "-" {
		return "", true
	}
	return strings.TrimSpace(r.org), true
}

func (r *regFilter) filter() prereg.Filter {
	o, set := r.organization()
	return prereg.Filter{Status: prereg.Status(r.status), Email: r.email, Sync: prereg.SyncState(r.sync), OrganizationID: o, OrganizationSet: set}
}

func listCmd(e *env) *cobra.Command {
	var (
		rf          regFilter
		cursor      string
		limit       int
		all, asJSON bool
	)
	cmd := &cobra.Command{
		Use: "list",
		Example: `  prereg list --db prereg.db
  prereg list --status pending --organization org_dr3b5S9l3sReLayv --server https://prereg.example.com
  prereg list --sync failed --all --json`,
		Short: "List registrations (filters: --status, --organization, --email, --sync)",
		Args:  noArgs,
	}
	c := addConn(cmd, e)
	f := cmd.Flags()
	rf.bind(f)
	f.IntVar(&limit, "limit", 100, "page size (1 to 1000)")
	f.StringVar(&cursor, "cursor", "", "continue from a previous page's next_cursor")
	f.BoolVar(&all, "all", false, "fetch every page")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := rf.check(); err != nil {
			return err
		}
		if err := checkLimit(limit); err != nil {
			return err
		}
		ctx := cmd.Context()
		var items []prereg.Registration
		next := cursor
		// pages calls page until the last page, or once without --all.
		pages := func(page func() error) error {
			for {
				if err := page(); err != nil {
					return err
				}
				if !all || next == "" {
					return nil
				}
			}
		}
		err := c.with(func(a admin) error {
			filter := rf.filter()
			filter.Limit = limit
			return pages(func() error {
				filter.Cursor = next
				page, n, err := a.List(ctx, filter)
				items, next = append(items, page...), n
				return err
			})
		})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, map[string]any{"items": items, "next_cursor": next})
		}
		if err := printRegistrations(e.stdout, items); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(e.stderr, "more: --cursor %s\n", next)
		}
		return nil
	}
	return cmd
}

func revokeCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a registration (a granted one needs --force)",
		Example: `  prereg revoke reg_3mJr7AoUXx2Wqd5q --db prereg.db
  prereg revoke reg_3mJr7AoUXx2Wqd5q --force --server https://prereg.example.com`,
		Args: exactArgs("registration ID"),
	}
	c := addConn(cmd, e)
	cmd.Flags().BoolVar(&force, "force", false, "also revoke a granted registration (and, with Auth0 sync, remove its roles)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var r prereg.Registration
		err := c.with(func(a admin) (err error) {
			r, err = a.Revoke(cmd.Context(), args[0], force)
			return err
		})
		if prereg.ErrorCode(err) == prereg.Conflict && !force {
			// The store and the API word this for API callers (?force=true).
			return prereg.Wrap(prereg.Conflict, err, fmt.Sprintf("%s is granted to a user; use --force to revoke it anyway (with Auth0 sync, its roles are removed from the user too)", args[0]))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s is now %s\n", r.ID, r.Status)
		return nil
	}
	return cmd
}

func eraseCmd(e *env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "erase EMAIL",
		Short: "Erase every registration and stored trace of an address (right to erasure)",
		Long: `Erase every registration and stored trace of an address (right to erasure),
in every organization; the freed pages that held it are overwritten, so that
no byte of the address remains in the store file. It cannot be undone: on a terminal it asks first; elsewhere
(scripts, pipes) pass --yes.`,
		Example: `  prereg erase ana.silva@example.com --db prereg.db
  prereg erase ana.silva@example.com --yes --server https://prereg.example.com`,
		Args: exactArgs("email address"),
	}
	c := addConn(cmd, e)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "erase without asking")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// A string that is no address is refused before anyone is asked.
		if err := prereg.ValidateEmail(args[0]); err != nil {
			return err
		}
		if !yes {
			if err := confirm(e, cmd, fmt.Sprintf("Erase every registration of %s and every stored trace of it? This cannot be undone.", prereg.MaskEmail(args[0])), "not erased"); err != nil {
				return err
			}
		}
		var out prereg.Erasure
		err := c.with(func(a admin) (err error) {
			out, err = a.Erase(cmd.Context(), args[0])
			return err
		})
		if err != nil {
			return err
		}
		left := "no byte of the store file holds it"
		if out.Unfinished != "" {
			left = "but " + out.Unfinished
		}
		fmt.Fprintf(e.stdout, "erased %d registration(s) of %s; scrubbed %d import report(s), %d audit entr(ies), %d grant(s) to a user_id holding it, %d sync job(s), %d other trace(s); %s\n",
			len(out.Registrations), prereg.MaskEmail(args[0]), out.ImportsScrubbed, out.AuditEntries, out.Grants, out.Jobs, out.Other, left)
		return nil
	}
	return cmd
}

// confirm asks question on the terminal and wants y or yes (else the error
// says declined); off a terminal it refuses, since nobody can answer (the
// command's --yes skips it).
func confirm(e *env, cmd *cobra.Command, question, declined string) error {
	if e.stdinTerminal == nil || !e.stdinTerminal() {
		return usageError(cmd, "%s asks for confirmation, and standard input is not a terminal: pass --yes to go ahead", cmd.CommandPath())
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return prereg.Errorf(prereg.Invalid, "%s (the answer was not yes)", declined)
}

func syncCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sync", Short: "Auth0 sync of grants (retry)", Example: "  prereg sync retry reg_3mJr7AoUXx2Wqd5q --server https://prereg.example.com"}
	retry := &cobra.Command{Use: "retry ID", Short: "Queue the Auth0 sync of a granted registration again", Args: exactArgs("registration ID"),
		Example: "  prereg sync retry reg_3mJr7AoUXx2Wqd5q --server https://prereg.example.com"}
	c := addConn(retry, e)
	c.sync = true
	retry.RunE = func(cmd *cobra.Command, args []string) error {
		err := c.with(func(a admin) error { return a.RetrySync(cmd.Context(), args[0]) })
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sync of %s queued; the service works the queue\n", args[0])
		return nil
	}
	return group(cmd, retry)
}
