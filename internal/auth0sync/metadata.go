package auth0sync

import (
	"context"
	"time"

	"github.com/auth0/go-auth0/management"

	"github.com/prereg/prereg/internal/prereg"
)

// metadataKey is the app_metadata property the Action keeps the user's
// grants in.
const metadataKey = "prereg"

// forgetGrant removes registration regID from the user's
// app_metadata.prereg (see the package documentation). Auth0 merges
// app_metadata at the top level, so the PATCH rewrites only that property
// (null removes it). A user Auth0 no longer has, or one not holding the
// grant, needs nothing.
func (c *Client) forgetGrant(ctx context.Context, userID, regID string) error {
	var u *management.User
	err := c.call(ctx, "user read", func(ctx context.Context) error {
		var err error
		u, err = c.api.User.Read(ctx, userID, management.IncludeFields("app_metadata"))
		return err
	})
	if prereg.ErrorCode(err) == prereg.NotFound {
		return nil
	}
	if err != nil || u == nil || u.AppMetadata == nil {
		return err
	}
	next, changed := withoutGrant((*u.AppMetadata)[metadataKey], regID, c.now())
	if !changed {
		return nil
	}
	patch := &management.User{AppMetadata: &map[string]any{metadataKey: next}}
	err = c.call(ctx, "app_metadata update", func(ctx context.Context) error {
		return c.api.User.Update(ctx, userID, patch)
	})
	if prereg.ErrorCode(err) == prereg.NotFound {
		return nil
	}
	return err
}

// withoutGrant returns app_metadata.prereg without the grant of regID,
// nil when no grant remains, and whether it held that grant. It reads both
// forms the Action writes: the array of grants, and the earlier object
// {"roles", "grants", "updated_at"} whose tenant-wide roles it recomputes.
func withoutGrant(v any, regID string, now time.Time) (any, bool) {
	switch md := v.(type) {
	case []any:
		rest, changed := dropGrant(md, regID)
		if !changed || len(rest) > 0 {
			return rest, changed
		}
		return nil, true
	case map[string]any:
		grants, ok := md["grants"].([]any)
		if !ok {
			return nil, false
		}
		rest, changed := dropGrant(grants, regID)
		if !changed {
			return nil, false
		}
		if len(rest) == 0 {
			return nil, true
		}
		out := make(map[string]any, len(md))
		for k, x := range md {
			out[k] = x
		}
		out["grants"] = rest
		out["roles"] = tenantRoles(rest)
		out["updated_at"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
		return out, true
	}
	return nil, false
}

// dropGrant returns grants without those whose registration_id is regID.
func dropGrant(grants []any, regID string) ([]any, bool) {
	rest := make([]any, 0, len(grants))
	for _, g := range grants {
		if m, ok := g.(map[string]any); ok && m["registration_id"] == regID {
			continue
		}
		rest = append(rest, g)
	}
	return rest, len(rest) != len(grants)
}

// tenantRoles are the roles of the grants without an organization, each
// once, in order, as the Action computes them.
func tenantRoles(grants []any) []any {
	out := []any{}
	seen := map[string]bool{}
	for _, g := range grants {
		m, ok := g.(map[string]any)
		if !ok {
			continue
		}
		if org, _ := m["organization_id"].(string); org != "" {
			continue
		}
		roles, _ := m["roles"].([]any)
		for _, r := range roles {
			if s, ok := r.(string); ok && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
