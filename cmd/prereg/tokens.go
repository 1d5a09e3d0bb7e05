package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/prereg"
)

// tokenFlags are the token request's fields as the CLI spells them.
var tokenFlags = map[string]string{"name": "--name", "organization_id": "--organization", "read_only": "--read-only"}

func tokensCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage admin tokens (create, list, revoke)",
		Example: `  prereg tokens create --name ci --read-only --db prereg.db
  prereg tokens list --server https://prereg.example.com`,
	}
	var (
		name, org string
		readOnly  bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an admin token (shown once)",
		Example: `  prereg tokens create --name ci --db prereg.db
  prereg tokens create --name acme-desk --organization org_dr3b5S9l3sReLayv --read-only --server https://prereg.example.com`,
		Args: noArgs,
	}
	cc := addConn(create, e)
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringVar(&org, "organization", "", "limit the token to one organization")
	create.Flags().BoolVar(&readOnly, "read-only", false, "the token may only read")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		req := prereg.TokenRequest{Name: name, OrganizationID: org, ReadOnly: readOnly}.Normalize()
		if req.Name == "" {
			return usageError(cmd, "--name is required: what the token is for")
		}
		if err := req.Validate(); err != nil {
			return inFlagTerms(err, tokenFlags)
		}
		var id, secret string
		err := cc.with(func(a admin) error {
			tok, sec, err := a.CreateToken(cmd.Context(), req)
			id, secret = tok.ID, sec
			return err
		})
		if err != nil {
			return inFlagTerms(err, tokenFlags)
		}
		fmt.Fprintf(e.stdout, "token %s created; its secret (shown this once):\n%s\n", id, secret)
		return nil
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List admin tokens (never their secrets)",
		Example: `  prereg tokens list --db prereg.db
  prereg tokens list --json --server https://prereg.example.com`,
		Args: noArgs,
	}
	lc := addConn(list, e)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		var toks []prereg.Token
		err := lc.with(func(a admin) (err error) {
			toks, err = a.Tokens(cmd.Context())
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
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an admin token at once", Args: exactArgs("token ID"),
		Example: "  prereg tokens revoke tok_5Hq2x8Ld --db prereg.db"}
	rc := addConn(revoke, e)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		err := rc.with(func(a admin) error { return a.RevokeToken(cmd.Context(), args[0]) })
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
		return nil
	}
	return group(cmd, create, list, revoke)
}
