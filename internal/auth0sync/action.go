package auth0sync

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/auth0/go-auth0"
	"github.com/auth0/go-auth0/management"

	"github.com/prereg/prereg/internal/prereg"
)

// The trigger prereg's Action runs on, and the Action's name and Node
// runtime when InstallOptions leave them empty.
const (
	PostLoginTrigger        = "post-login"
	PostLoginTriggerVersion = "v3"
	DefaultActionName       = "prereg"
	DefaultActionRuntime    = "node22"
	// configMarker starts the line appended to the Action's code that
	// carries the digest of the secrets (see the package documentation).
	configMarker = "// prereg-config: "
	// maxBindingPages bounds the scan of a trigger's bindings (50 a page).
	maxBindingPages = 20
)

// reservedClaimHosts are the domains whose custom claims Auth0 drops
// silently, subdomains included.
var reservedClaimHosts = []string{"auth0.com", "webtask.io", "webtask.run"}

// ValidClaimNamespace reports whether ns can prefix the Action's claim: an
// http(s) URL ending in "/" whose host is not one of Auth0's own domains.
// The Action applies the same rule and falls back to its default.
func ValidClaimNamespace(ns string) error {
	u, err := url.Parse(ns)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.HasSuffix(ns, "/") {
		return prereg.Errorf(prereg.Invalid, "claim namespace %q must be an http(s) URL ending in /, e.g. https://example.com/", ns)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range reservedClaimHosts {
		if host == d || strings.HasSuffix(host, "."+d) {
			return prereg.Errorf(prereg.Invalid, "claim namespace %q is on %s, whose claims Auth0 drops; use a domain of yours", ns, d)
		}
	}
	return nil
}

// InstallOptions says what Action to install.
type InstallOptions struct {
	// Name of the Action; default DefaultActionName.
	Name string
	// Code is the Action's source (actions/post-login.js).
	Code string
	// Secrets are the Action's secrets, by name (PREREG_URL, PREREG_SECRET…).
	Secrets map[string]string
	// Runtime is the Node runtime; default DefaultActionRuntime.
	Runtime string
	// BuildTimeout bounds the wait for Auth0 to build the Action; default
	// one minute.
	BuildTimeout time.Duration
	// PollInterval is the first pause between build status checks; it
	// doubles up to 2 s. Default 250 ms.
	PollInterval time.Duration
}

// InstallResult reports what InstallAction did.
type InstallResult struct {
	ActionID string `json:"action_id"`
	// Changed is false when the Action, its deployment and its binding
	// were already as asked.
	Changed bool `json:"changed"`
	// Created, Updated, Deployed and Bound detail Changed.
	Created  bool `json:"created"`
	Updated  bool `json:"updated"`
	Deployed bool `json:"deployed"`
	Bound    bool `json:"bound"`
}

// InstallAction creates or updates the post-login Action, waits until
// Auth0 has built it, deploys it and binds it to the post-login trigger
// after the actions already bound there, which stay bound. Running it
// again with the same inputs changes nothing (see the package
// documentation for how a changed secret value is noticed).
func (c *Client) InstallAction(ctx context.Context, opts InstallOptions) (InstallResult, error) {
	var res InstallResult
	opts = opts.withDefaults()
	if strings.TrimSpace(opts.Code) == "" {
		return res, prereg.Errorf(prereg.Invalid, "the Action's code is empty")
	}
	spec := c.actionSpec(opts)
	existing, err := c.findAction(ctx, opts.Name)
	if err != nil {
		return res, err
	}
	if res.ActionID, err = c.putAction(ctx, spec, existing, &res); err != nil {
		return res, err
	}
	if res.Created || res.Updated || !existing.AllChangesDeployed {
		if err := c.deployAction(ctx, res.ActionID, opts); err != nil {
			return res, err
		}
		res.Deployed = true
	}
	bound, err := c.bind(ctx, res.ActionID, opts.Name)
	if err != nil {
		return res, err
	}
	res.Bound = bound
	res.Changed = res.Created || res.Updated || res.Deployed || res.Bound
	return res, nil
}

// withDefaults fills in the options left empty.
func (o InstallOptions) withDefaults() InstallOptions {
	if o.Name == "" {
		o.Name = DefaultActionName
	}
	if o.Runtime == "" {
		o.Runtime = DefaultActionRuntime
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	return o
}

// actionSpec is the Action as InstallAction wants it in Auth0.
type actionSpec struct {
	name, runtime string
	// code ends with the line carrying the digest of the secrets.
	code        string
	secretNames []string // sorted
	secrets     []management.ActionSecret
}

func (c *Client) actionSpec(opts InstallOptions) actionSpec {
	s := actionSpec{
		name:    opts.Name,
		runtime: opts.Runtime,
		code:    strings.TrimRight(opts.Code, "\n") + "\n" + configMarker + c.configDigest(opts) + "\n",
	}
	s.secretNames = make([]string, 0, len(opts.Secrets))
	for n := range opts.Secrets {
		s.secretNames = append(s.secretNames, n)
	}
	sort.Strings(s.secretNames)
	s.secrets = make([]management.ActionSecret, len(s.secretNames))
	for i, n := range s.secretNames {
		s.secrets[i] = management.ActionSecret{Name: &s.secretNames[i], Value: auth0.String(opts.Secrets[n])}
	}
	return s
}

// action is the body that creates or updates the Action.
func (s actionSpec) action() *management.Action {
	triggers := []management.ActionTrigger{{ID: auth0.String(PostLoginTrigger), Version: auth0.String(PostLoginTriggerVersion)}}
	code, secrets := s.code, s.secrets
	return &management.Action{Name: auth0.String(s.name), SupportedTriggers: triggers, Code: &code, Runtime: auth0.String(s.runtime), Secrets: &secrets}
}

// matches reports whether a holds what s would send.
func (s actionSpec) matches(a *management.Action) bool {
	return a.GetCode() == s.code && a.GetRuntime() == s.runtime && sameSecretNames(a, s.secretNames) && sameTriggerVersion(a)
}

// putAction creates the Action, or updates the existing one where it
// differs from spec, and returns its ID.
func (c *Client) putAction(ctx context.Context, spec actionSpec, existing *management.Action, res *InstallResult) (string, error) {
	var action *management.Action
	switch {
	case existing == nil:
		action = spec.action()
		if err := c.call(ctx, "create Action", func(ctx context.Context) error { return c.api.Action.Create(ctx, action) }); err != nil {
			return "", err
		}
		res.Created = true
	case !supportsPostLogin(existing):
		return "", prereg.Errorf(prereg.Conflict, "an Action named %q exists for another trigger; choose another name", spec.name)
	case !spec.matches(existing):
		update := spec.action()
		id := existing.GetID()
		if err := c.call(ctx, "update Action", func(ctx context.Context) error { return c.api.Action.Update(ctx, id, update) }); err != nil {
			return "", err
		}
		action = update
		action.ID = &id
		res.Updated = true
	default:
		action = existing
	}
	if action.GetID() == "" {
		return "", prereg.Errorf(prereg.Unavailable, "Auth0 returned an Action without an ID")
	}
	return action.GetID(), nil
}

// deployAction waits until Auth0 has built the Action, then deploys it.
func (c *Client) deployAction(ctx context.Context, id string, opts InstallOptions) error {
	if err := c.waitBuilt(ctx, id, opts); err != nil {
		return err
	}
	return c.call(ctx, "deploy Action", func(ctx context.Context) error {
		_, err := c.api.Action.Deploy(ctx, id)
		return err
	})
}

// configDigest is the HMAC over the runtime and the sorted secrets.
func (c *Client) configDigest(opts InstallOptions) string {
	m := hmac.New(sha256.New, []byte(c.clientSecret))
	names := make([]string, 0, len(opts.Secrets))
	for n := range opts.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(m, "prereg-action-config/1\x00%s\x00", opts.Runtime)
	for _, n := range names {
		fmt.Fprintf(m, "%d:%s%d:%s", len(n), n, len(opts.Secrets[n]), opts.Secrets[n])
	}
	return "v1-" + hex.EncodeToString(m.Sum(nil)[:16])
}

func supportsPostLogin(a *management.Action) bool {
	for _, t := range a.SupportedTriggers {
		if t.GetID() == PostLoginTrigger {
			return true
		}
	}
	return false
}

func sameTriggerVersion(a *management.Action) bool {
	return len(a.SupportedTriggers) == 1 && a.SupportedTriggers[0].GetVersion() == PostLoginTriggerVersion
}

func sameSecretNames(a *management.Action, names []string) bool {
	var have []string
	if a.Secrets != nil {
		for _, s := range *a.Secrets {
			have = append(have, s.GetName())
		}
	}
	sort.Strings(have)
	return slices.Equal(have, names)
}

// findAction returns the Action with exactly this name, or nil.
func (c *Client) findAction(ctx context.Context, name string) (*management.Action, error) {
	var list *management.ActionList
	err := c.call(ctx, "list Actions", func(ctx context.Context) error {
		var err error
		list, err = c.api.Action.List(ctx, management.Parameter("actionName", name))
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, a := range list.Actions {
		if a.GetName() == name {
			// Read it again: the list does not always carry secrets and
			// the deployment state.
			var full *management.Action
			id := a.GetID()
			err := c.call(ctx, "read Action", func(ctx context.Context) error {
				var err error
				full, err = c.api.Action.Read(ctx, id)
				return err
			})
			return full, err
		}
	}
	return nil, nil
}

// waitBuilt polls the Action until Auth0 reports it built, with a pause
// that doubles up to 2 s, for at most opts.BuildTimeout.
func (c *Client) waitBuilt(ctx context.Context, id string, opts InstallOptions) error {
	bctx, cancel := context.WithTimeout(ctx, opts.BuildTimeout)
	defer cancel()
	pause := opts.PollInterval
	status := "not read yet"
	timedOut := func() error {
		return prereg.Wrap(prereg.Unavailable, bctx.Err(), fmt.Sprintf("Auth0 did not build the Action within %s (status %q)", opts.BuildTimeout, status))
	}
	for {
		var a *management.Action
		err := c.call(bctx, "read Action", func(ctx context.Context) error {
			var err error
			a, err = c.api.Action.Read(ctx, id)
			return err
		})
		if err != nil {
			// The build timeout may run out during a read as well as
			// between two: either way that is what stopped the wait.
			if bctx.Err() != nil && ctx.Err() == nil {
				return timedOut()
			}
			return err
		}
		status = a.GetStatus()
		switch status {
		case "built":
			return nil
		case "failed":
			return prereg.Errorf(prereg.Invalid, "Auth0 could not build the Action %s; see its errors in the Auth0 dashboard", id)
		}
		t := time.NewTimer(pause)
		select {
		case <-bctx.Done():
			t.Stop()
			return timedOut()
		case <-t.C:
		}
		pause = min(pause*2, 2*time.Second)
	}
}

// bind appends the Action to the post-login trigger's bindings unless it
// is bound already. The PATCH replaces the whole list, so every existing
// binding is sent back, by action ID, in its place.
func (c *Client) bind(ctx context.Context, actionID, name string) (bool, error) {
	var all []*management.ActionBinding
	for page := 0; page < maxBindingPages; page++ {
		var list *management.ActionBindingList
		err := c.call(ctx, "list trigger bindings", func(ctx context.Context) error {
			var err error
			list, err = c.api.Action.Bindings(ctx, PostLoginTrigger, management.Page(page))
			return err
		})
		if err != nil {
			return false, err
		}
		all = append(all, list.Bindings...)
		if len(list.Bindings) == 0 || len(all) >= list.Total {
			break
		}
	}
	refs := make([]*management.ActionBinding, 0, len(all)+1)
	for _, b := range all {
		if b.Action == nil || b.Action.GetID() == "" {
			continue
		}
		if b.Action.GetID() == actionID {
			return false, nil
		}
		refs = append(refs, &management.ActionBinding{
			DisplayName: b.DisplayName,
			Ref:         &management.ActionBindingReference{Type: auth0.String("action_id"), Value: auth0.String(b.Action.GetID())},
		})
	}
	refs = append(refs, &management.ActionBinding{
		DisplayName: auth0.String(name),
		Ref:         &management.ActionBindingReference{Type: auth0.String("action_id"), Value: auth0.String(actionID)},
	})
	err := c.call(ctx, "update trigger bindings", func(ctx context.Context) error {
		return c.api.Action.UpdateBindings(ctx, PostLoginTrigger, refs)
	})
	return err == nil, err
}
