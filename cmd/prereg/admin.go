package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/client"
	"github.com/prereg/prereg/internal/prereg"
)

// conn says where a CLI command works: through a running service
// (--server, --token) or directly on the store file (--db).
type conn struct {
	server, token, db string
	e                 *env
}

func addConn(cmd *cobra.Command, e *env) *conn {
	c := &conn{e: e}
	f := cmd.Flags()
	f.StringVar(&c.server, "server", "", "URL of a running prereg service (env PREREG_SERVER); without it the command works on --db")
	f.StringVar(&c.token, "token", "", "admin token for --server (env PREREG_TOKEN)")
	f.StringVar(&c.db, "db", "", "store file to work on when no service holds it (env PREREG_DB, default prereg.db)")
	return c
}

func (c *conn) resolve() {
	if c.server == "" {
		c.server = c.e.getenv("PREREG_SERVER")
	}
	if c.token == "" {
		c.token = c.e.getenv("PREREG_TOKEN")
	}
	if c.db == "" {
		c.db = c.e.getenv("PREREG_DB")
	}
	if c.db == "" {
		c.db = "prereg.db"
	}
}

func (c *conn) remote() bool { c.resolve(); return c.server != "" }

func (c *conn) client() (*client.Client, error) {
	if c.token == "" {
		return nil, prereg.Errorf(prereg.Invalid, "--server needs an admin token: --token or PREREG_TOKEN")
	}
	return client.New(c.server, c.token), nil
}

// open opens the store file; a store held by a running service fails within
// a second with a message that says so.
func (c *conn) open(sync bool) (*boltstore.Store, error) {
	c.resolve()
	if _, err := os.Stat(c.db); err != nil {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s (use --db PATH, or --server URL for a running service)", c.db)
	}
	return boltstore.Open(c.db, boltstore.Options{LockTimeout: time.Second, SyncEnabled: sync})
}

// do runs remote through the service when --server is set, and local on
// the store file otherwise (closing it afterwards).
func (c *conn) do(remote func(*client.Client) error, local func(*boltstore.Store) error) error {
	if c.remote() {
		cl, err := c.client()
		if err != nil {
			return err
		}
		return remote(cl)
	}
	s, err := c.open(false)
	if err != nil {
		return err
	}
	defer s.Close()
	return local(s)
}

// openOrCreate is open for commands that may start a new store (import).
func (c *conn) openOrCreate() (*boltstore.Store, error) {
	c.resolve()
	return boltstore.Open(c.db, boltstore.Options{LockTimeout: time.Second})
}

// cliActor names the CLI in the audit trail when it works on the file.
const cliActor = "cli"

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// regFilter is the registration filter that list and export share: as
// flags, as the admin API's query and as a store filter.
type regFilter struct{ status, org, email, sync string }

func (r *regFilter) bind(f *pflag.FlagSet, withSync bool) {
	f.StringVar(&r.status, "status", "", "pending, granted, revoked or expired")
	f.StringVar(&r.org, "organization", "", "organization ID; \"-\" for tenant-wide registrations only")
	f.StringVar(&r.email, "email", "", "exact address (case-insensitive)")
	if withSync {
		f.StringVar(&r.sync, "sync", "", "only grants whose Auth0 sync is pending, done or failed")
	}
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

func (r *regFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": r.status, "email": r.email, "sync": r.sync} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o, set := r.organization(); set {
		q.Set("organization_id", o)
	}
	return q
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
		Use:   "list",
		Short: "List registrations (filters: --status, --organization, --email, --sync)",
		Args:  cobra.NoArgs,
	}
	c := addConn(cmd, e)
	f := cmd.Flags()
	rf.bind(f, true)
	f.IntVar(&limit, "limit", 100, "page size (1 to 1000)")
	f.StringVar(&cursor, "cursor", "", "continue from a previous page's next_cursor")
	f.BoolVar(&all, "all", false, "fetch every page")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := rf.check(); err != nil {
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
		err := c.do(func(cl *client.Client) error {
			q := rf.query()
			q.Set("limit", strconv.Itoa(limit))
			return pages(func() error {
				if next != "" {
					q.Set("cursor", next)
				}
				var page struct {
					Items      []prereg.Registration `json:"items"`
					NextCursor string                `json:"next_cursor"`
				}
				if err := cl.JSON(ctx, "GET", "/v1/registrations", q, nil, &page); err != nil {
					return err
				}
				items, next = append(items, page.Items...), page.NextCursor
				return nil
			})
		}, func(s *boltstore.Store) error {
			filter := rf.filter()
			filter.Limit = limit
			return pages(func() error {
				filter.Cursor = next
				page, n, err := s.List(ctx, filter)
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
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tORGANIZATION\tSTATUS\tROLES\tGRANTED_TO\tSYNC")
		for _, r := range items {
			sync := string(r.Sync)
			if r.SyncError != "" {
				sync += ": " + r.SyncError
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Email, dash(r.OrganizationID), r.Status, strings.Join(r.Roles, "|"), dash(r.GrantedTo), dash(sync))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintf(e.stderr, "more: --cursor %s\n", next)
		}
		return nil
	}
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func revokeCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a registration (a granted one needs --force)",
		Args:  cobra.ExactArgs(1),
	}
	c := addConn(cmd, e)
	cmd.Flags().BoolVar(&force, "force", false, "also revoke a granted registration (and, with Auth0 sync, remove its roles)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var r prereg.Registration
		err := c.do(func(cl *client.Client) error {
			q := url.Values{}
			if force {
				q.Set("force", "true")
			}
			return cl.JSON(cmd.Context(), "DELETE", "/v1/registrations/"+url.PathEscape(args[0]), q, nil, &r)
		}, func(s *boltstore.Store) error {
			var err error
			r, _, err = s.Revoke(cmd.Context(), args[0], force, cliActor)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s is now %s\n", r.ID, r.Status)
		return nil
	}
	return cmd
}

func eraseCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "erase EMAIL",
		Short: "Erase every registration and stored trace of an address (right to erasure)",
		Args:  cobra.ExactArgs(1),
	}
	c := addConn(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var out prereg.Erasure
		err := c.do(func(cl *client.Client) error {
			return cl.JSON(cmd.Context(), "POST", "/v1/erasures", nil, map[string]string{"email": args[0]}, &out)
		}, func(s *boltstore.Store) error {
			var err error
			out, err = s.Erase(cmd.Context(), args[0], "", cliActor)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "erased %d registration(s) of %s; scrubbed %d import report(s), %d audit entr(ies), %d grant(s) to a user_id holding it, %d sync job(s), %d other trace(s); no byte of the store file holds it\n",
			len(out.Registrations), prereg.MaskEmail(args[0]), out.ImportsScrubbed, out.AuditEntries, out.Grants, out.Jobs, out.Other)
		return nil
	}
	return cmd
}

func tokensCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Manage admin tokens (create, list, revoke)"}
	var (
		name, org string
		readOnly  bool
	)
	create := &cobra.Command{Use: "create", Short: "Create an admin token (shown once)", Args: cobra.NoArgs}
	cc := addConn(create, e)
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringVar(&org, "organization", "", "limit the token to one organization")
	create.Flags().BoolVar(&readOnly, "read-only", false, "the token may only read")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		req := prereg.TokenRequest{Name: name, OrganizationID: org, ReadOnly: readOnly}.Normalize()
		if err := req.Validate(); err != nil {
			return err
		}
		var id, secret string
		err := cc.do(func(cl *client.Client) error {
			var out struct{ ID, Token string }
			if err := cl.JSON(cmd.Context(), "POST", "/v1/tokens", nil, req, &out); err != nil {
				return err
			}
			id, secret = out.ID, out.Token
			return nil
		}, func(s *boltstore.Store) error {
			tok, sec, err := s.CreateToken(cmd.Context(), req, cliActor)
			id, secret = tok.ID, sec
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %s created; its secret (shown this once):\n%s\n", id, secret)
		return nil
	}
	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List admin tokens (never their secrets)", Args: cobra.NoArgs}
	lc := addConn(list, e)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		var toks []prereg.Token
		err := lc.do(func(cl *client.Client) error {
			var out struct{ Items []prereg.Token }
			if err := cl.JSON(cmd.Context(), "GET", "/v1/tokens", nil, nil, &out); err != nil {
				return err
			}
			toks = out.Items
			return nil
		}, func(s *boltstore.Store) error {
			var err error
			toks, err = s.Tokens(cmd.Context())
			return err
		})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, toks)
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tORGANIZATION\tREAD_ONLY\tCREATED\tLAST_USED")
		for _, t := range toks {
			last := "-"
			if t.LastUsedAt != nil {
				last = t.LastUsedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", t.ID, t.Name, dash(t.OrganizationID), t.ReadOnly, t.CreatedAt.Format(time.RFC3339), last)
		}
		return tw.Flush()
	}
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an admin token at once", Args: cobra.ExactArgs(1)}
	rc := addConn(revoke, e)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		err := rc.do(func(cl *client.Client) error {
			return cl.JSON(cmd.Context(), "DELETE", "/v1/tokens/"+url.PathEscape(args[0]), nil, nil, nil)
		}, func(s *boltstore.Store) error {
			_, err := s.RevokeToken(cmd.Context(), args[0], cliActor)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
		return nil
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func statsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "stats", Short: "Counts by status, overall and per organization", Args: cobra.NoArgs}
	c := addConn(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var st prereg.Stats
		err := c.do(func(cl *client.Client) error {
			return cl.JSON(cmd.Context(), "GET", "/v1/stats", nil, nil, &st)
		}, func(s *boltstore.Store) error {
			var err error
			st, err = s.Stats(cmd.Context(), prereg.StatsFilter{})
			return err
		})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, st)
	}
	return cmd
}

func auditCmd(e *env) *cobra.Command {
	var (
		org, action, cursor string
		limit               int
		asJSON              bool
	)
	cmd := &cobra.Command{Use: "audit", Short: "Show the audit trail, newest first", Args: cobra.NoArgs}
	c := addConn(cmd, e)
	cmd.Flags().StringVar(&org, "organization", "", "only this organization (\"-\" for tenant-wide)")
	cmd.Flags().StringVar(&action, "action", "", "only this action (created, granted, erased, …)")
	cmd.Flags().IntVar(&limit, "limit", 100, "entries (1 to 1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var page struct {
			Items      []prereg.AuditEntry `json:"items"`
			NextCursor string              `json:"next_cursor"`
		}
		o := org
		if o == "-" {
			o = ""
		}
		err := c.do(func(cl *client.Client) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if org != "" {
				q.Set("organization_id", o)
			}
			if action != "" {
				q.Set("action", action)
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			return cl.JSON(cmd.Context(), "GET", "/v1/audit", q, nil, &page)
		}, func(s *boltstore.Store) error {
			var err error
			page.Items, page.NextCursor, err = s.AuditTrail(cmd.Context(), prereg.AuditFilter{OrganizationID: o, OrganizationSet: org != "", Action: prereg.AuditAction(action), Limit: limit, Cursor: cursor})
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

func checkCmd(e *env) *cobra.Command {
	var db string
	cmd := &cobra.Command{Use: "check", Short: "Run bbolt's consistency check on a store file", Args: cobra.NoArgs}
	cmd.Flags().StringVar(&db, "db", "prereg.db", "store file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		errs, err := checkFile(db)
		if err != nil {
			return err
		}
		for _, e2 := range errs {
			fmt.Fprintln(e.stdout, "problem:", e2)
		}
		if len(errs) > 0 {
			return prereg.Errorf(prereg.Invalid, "%s: %d problem(s) found", db, len(errs))
		}
		fmt.Fprintf(e.stdout, "%s: OK\n", db)
		return nil
	}
	return cmd
}

// checkFile opens a store read-only and runs Tx.Check on it.
func checkFile(path string) ([]error, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s", path)
	}
	return boltstore.CheckFile(path)
}

func backupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "backup OUT", Short: "Write a consistent copy of the store (through the service, or from the file)", Args: cobra.ExactArgs(1)}
	c := addConn(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		out := args[0]
		tmp, err := os.CreateTemp(filepath.Dir(out), ".prereg-backup-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if c.remote() {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.Request(cmd.Context(), "GET", "/v1/backup", nil, nil, "", tmp); err != nil {
				return err
			}
		} else {
			s, err := c.open(false)
			if err != nil {
				return err
			}
			_, err = s.Backup(cmd.Context(), tmp, nil)
			if err == nil {
				err = s.Audit(cmd.Context(), cliActor, prereg.AuditBackup, "", "", "backup written by the CLI")
			}
			s.Close()
			if err != nil {
				return err
			}
		}
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		errs, err := checkFile(tmp.Name())
		if err != nil {
			return fmt.Errorf("the backup does not open: %w", err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("the backup fails its consistency check: %v", errs[0])
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
		fi, _ := os.Stat(out)
		fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, checked)\n", out, fi.Size())
		return nil
	}
	return cmd
}

func restoreCmd(e *env) *cobra.Command {
	var (
		db    string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "restore IN --db PATH",
		Short: "Restore a backup into a store file (offline: refuses a store in use)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&db, "db", "", "store file to restore into (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing store file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if db == "" {
			return prereg.Errorf(prereg.Invalid, "--db is required")
		}
		errs, err := checkFile(args[0])
		if err != nil {
			return fmt.Errorf("the backup %s does not open: %w", args[0], err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("the backup %s fails its consistency check: %v", args[0], errs[0])
		}
		if _, err := os.Stat(db); err == nil {
			if !force {
				return prereg.Errorf(prereg.Conflict, "%s exists; pass --force to replace it", db)
			}
			// Taking the lock proves no service holds the file.
			s, err := boltstore.Open(db, boltstore.Options{LockTimeout: time.Second, ReadOnly: true})
			if err != nil {
				return err
			}
			s.Close()
		}
		if err := copyFile(args[0], db); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "restored %s into %s\n", args[0], db)
		return nil
	}
	return cmd
}

// copyFile copies through a temporary file and a rename, so db is never
// half-written.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".prereg-restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func syncCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sync", Short: "Auth0 sync of grants (retry)"}
	retry := &cobra.Command{Use: "retry ID", Short: "Queue the Auth0 sync of a granted registration again", Args: cobra.ExactArgs(1)}
	c := addConn(retry, e)
	retry.RunE = func(cmd *cobra.Command, args []string) error {
		if c.remote() {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.JSON(cmd.Context(), "POST", "/v1/registrations/"+url.PathEscape(args[0])+"/sync", nil, nil, nil); err != nil {
				return err
			}
		} else {
			s, err := c.open(true)
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := s.RetrySync(cmd.Context(), args[0], cliActor); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "sync of %s queued; the service works the queue\n", args[0])
		return nil
	}
	cmd.AddCommand(retry)
	return cmd
}
