package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/actions"
	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/prereg"
)

// auth0EnvHelp lists the Management API settings for the commands' help.
const auth0EnvHelp = `  AUTH0_DOMAIN         the tenant's domain or a custom domain (example.eu.auth0.com)
  AUTH0_CLIENT_ID      client ID of a machine-to-machine application
  AUTH0_CLIENT_SECRET  its client secret
  AUTH0_AUDIENCE       the Management API identifier tokens are asked for
                       (default https://<AUTH0_DOMAIN>/api/v2/; with a custom domain,
                       https://<canonical tenant domain>/api/v2/)`

// auth0Env reads the Management API credentials from the environment.
func auth0Env(e *env) (*auth0sync.Client, error) {
	d, id, sec := e.getenv("AUTH0_DOMAIN"), e.getenv("AUTH0_CLIENT_ID"), e.getenv("AUTH0_CLIENT_SECRET")
	if d == "" || id == "" || sec == "" {
		return nil, prereg.Errorf(prereg.Invalid, "set AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET (a machine-to-machine application of the Management API)")
	}
	return auth0sync.New(auth0sync.Config{Domain: d, ClientID: id, ClientSecret: sec, Audience: e.getenv("AUTH0_AUDIENCE")})
}

func reconcileCmd(e *env) *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use: "reconcile",
		Example: `  prereg reconcile --dry-run --server https://prereg.example.com
  AUTH0_DOMAIN=example.eu.auth0.com AUTH0_CLIENT_ID=… AUTH0_CLIENT_SECRET=… prereg reconcile --db prereg.db`,
		Short: "Grant pending registrations whose address already belongs to exactly one verified Auth0 user",
		Long: `Grant pending registrations whose address already belongs to exactly one verified
Auth0 user. Through a running service (--server) it uses the service's Auth0
credentials; on the file (--db) it reads them from the environment.

Environment:
` + auth0EnvHelp + "\n" + connEnvHelp,
		Args: noArgs,
	}
	c := addConn(cmd, e)
	c.sync = true
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be granted; write nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw report")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var rep prereg.ReconcileReport
		err := c.with(func(a admin) (err error) {
			rep, err = a.Reconcile(cmd.Context(), dryRun)
			return err
		})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, rep)
		}
		if len(rep.Items) > 0 {
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGISTRATION\tEMAIL\tRESULT\tUSER\tREASON")
			for _, it := range rep.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.RegistrationID, it.Email, it.Result, dash(it.UserID), dash(strings.TrimSpace(it.Reason+" "+it.Error)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "checked %d, granted %d, skipped %d, errors %d (dry run: %v)\n", rep.Checked, rep.Granted, rep.Skipped, rep.Errors, rep.DryRun)
		return nil
	}
	return cmd
}

// actionSecrets are the Action's secrets from the install/print flags.
type actionSecrets struct {
	url, secret, signing, onError, onUnverified, namespace string
	timeoutMS                                              int
}

func (a *actionSecrets) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.url, "url", "", "public HTTPS URL of this prereg service (PREREG_URL)")
	f.StringVar(&a.secret, "hook-secret", "", "the hook secret the Action presents (PREREG_SECRET)")
	f.StringVar(&a.signing, "signing-secret", "", "whsec_… secret to sign hook calls (PREREG_SIGNING_SECRET)")
	f.IntVar(&a.timeoutMS, "timeout-ms", 0, "PREREG_TIMEOUT_MS (default in the Action: 3000)")
	f.StringVar(&a.onError, "on-error", "", "PREREG_ON_ERROR: allow (default) or deny")
	f.StringVar(&a.onUnverified, "on-unverified", "", "PREREG_ON_UNVERIFIED: deny (default) or allow")
	f.StringVar(&a.namespace, "claim-namespace", "", "PREREG_CLAIM_NAMESPACE (default https://prereg/)")
}

func (a *actionSecrets) build(requireSecret bool) (map[string]string, error) {
	u, err := url.Parse(a.url)
	if a.url == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, prereg.Errorf(prereg.Invalid, "--url must be the service's absolute URL, e.g. https://prereg.example.com")
	}
	if requireSecret && a.secret == "" {
		return nil, prereg.Errorf(prereg.Invalid, "--hook-secret is required")
	}
	m := map[string]string{"PREREG_URL": strings.TrimRight(a.url, "/"), "PREREG_SECRET": a.secret}
	if a.signing != "" {
		m["PREREG_SIGNING_SECRET"] = a.signing
	}
	if a.timeoutMS > 0 {
		m["PREREG_TIMEOUT_MS"] = strconv.Itoa(a.timeoutMS)
	}
	for k, v := range map[string]string{"PREREG_ON_ERROR": a.onError, "PREREG_ON_UNVERIFIED": a.onUnverified} {
		if v != "" && v != "allow" && v != "deny" {
			return nil, prereg.Errorf(prereg.Invalid, "%s must be allow or deny", k)
		}
		if v != "" {
			m[k] = v
		}
	}
	if a.namespace != "" {
		if err := auth0sync.ValidClaimNamespace(a.namespace); err != nil {
			return nil, err
		}
		m["PREREG_CLAIM_NAMESPACE"] = a.namespace
	}
	return m, nil
}

func auth0Cmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth0",
		Short: "Install or print the Auth0 post-login Action",
		Example: `  prereg auth0 install-action --url https://prereg.example.com --hook-secret "$HOOK_SECRET"
  prereg auth0 print-action --url https://prereg.example.com > prereg-action.js`,
	}
	var inst actionSecrets
	install := &cobra.Command{
		Use: "install-action",
		Example: `  export AUTH0_DOMAIN=example.eu.auth0.com AUTH0_CLIENT_ID=… AUTH0_CLIENT_SECRET=…
  prereg auth0 install-action --url https://prereg.example.com --hook-secret "$HOOK_SECRET"
  prereg auth0 install-action --url https://prereg.example.com --hook-secret "$HOOK_SECRET" --on-error deny`,
		Short: "Create or update the Action \"prereg\", deploy it and bind it to post-login (idempotent)",
		Long: `Create or update the Action "prereg", deploy it and bind it to post-login
(idempotent). The Management API credentials come from the environment.

Environment:
` + auth0EnvHelp,
		Args: noArgs,
	}
	inst.flags(install)
	install.RunE = func(cmd *cobra.Command, _ []string) error {
		secrets, err := inst.build(true)
		if err != nil {
			return err
		}
		client, err := auth0Env(e)
		if err != nil {
			return err
		}
		res, err := client.InstallAction(cmd.Context(), auth0sync.InstallOptions{Code: actions.PostLogin, Secrets: secrets})
		if err != nil {
			return err
		}
		if !res.Changed {
			fmt.Fprintf(e.stdout, "Action %s is already installed, deployed and bound; nothing changed\n", res.ActionID)
			return nil
		}
		fmt.Fprintf(e.stdout, "Action %s: created %v, updated %v, deployed %v, bound %v\n", res.ActionID, res.Created, res.Updated, res.Deployed, res.Bound)
		return nil
	}
	var pr actionSecrets
	print := &cobra.Command{
		Use: "print-action",
		Example: `  prereg auth0 print-action --url https://prereg.example.com
  prereg auth0 print-action --url https://prereg.example.com --on-unverified allow > prereg-action.js`,
		Short: "Print the Action's code, and the secrets to set in the Auth0 dashboard (never their values)",
		Args:  noArgs,
	}
	pr.flags(print)
	// Code pasted into an Action stays in its version history, so the secret
	// flags are refused rather than printed; hidden, they only explain that.
	secretFlags := []struct{ flag, name string }{{"hook-secret", "PREREG_SECRET"}, {"signing-secret", "PREREG_SIGNING_SECRET"}}
	for _, f := range secretFlags {
		_ = print.Flags().MarkHidden(f.flag)
	}
	print.RunE = func(cmd *cobra.Command, _ []string) error {
		for _, f := range secretFlags {
			if cmd.Flags().Changed(f.flag) {
				return prereg.Errorf(prereg.Invalid, "print-action never prints a secret into the Action's code: drop --%s and set %s in the Action's secrets (the Action editor's Secrets panel), or let install-action set it", f.flag, f.name)
			}
		}
		if pr.url == "" {
			pr.url = "https://prereg.example.com"
		}
		secrets, err := pr.build(false)
		if err != nil {
			return err
		}
		secrets["PREREG_SECRET"] = "one of the service's --hook-secrets"
		secrets["PREREG_SIGNING_SECRET"] = "optional: the whsec_… secret listed in the service's --signing-secrets"
		fmt.Fprintln(e.stdout, "// Auth0 dashboard → Actions → Library → Create Action → Build from scratch:")
		fmt.Fprintln(e.stdout, "//   name \"prereg\", trigger \"Login / Post Login\", runtime Node 22.")
		fmt.Fprintln(e.stdout, "// Add these in the editor's Secrets panel (key icon); never write a secret into")
		fmt.Fprintln(e.stdout, "// the code, which Auth0 keeps in every version:")
		for _, k := range []string{"PREREG_URL", "PREREG_SECRET", "PREREG_SIGNING_SECRET", "PREREG_TIMEOUT_MS", "PREREG_ON_ERROR", "PREREG_ON_UNVERIFIED", "PREREG_CLAIM_NAMESPACE"} {
			if v, ok := secrets[k]; ok {
				fmt.Fprintf(e.stdout, "//   %s = %s\n", k, v)
			}
		}
		fmt.Fprintln(e.stdout, "// Then paste the code below, Deploy, and drag it into Actions → Triggers → post-login.")
		fmt.Fprintln(e.stdout)
		fmt.Fprint(e.stdout, actions.PostLogin)
		return nil
	}
	return group(cmd, install, print)
}
