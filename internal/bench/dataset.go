package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// Dataset describes the deterministic registrations a run seeds. Row i
// always has the same email, organization and roles, so a remote service
// seeded by `prereg-bench --seed-only` and a later run against it agree on
// which addresses exist.
type Dataset struct {
	// Records is the number of registrations.
	Records int
	// OrgShare is the share (0..1) of rows that belong to an organization;
	// the others are tenant-wide.
	OrgShare float64
	// Orgs is how many organizations those rows spread over.
	Orgs int
	// Roles is the number of roles per row.
	Roles int
}

var roleNames = []string{"rol_lEh5V8omwZrnZd9o", "billing-admin", "viewer", "editor", "rol_Q2w3E4r5T6y7U8i9", "Support Agent", "auditor", "owner"}

// Email is row i's address. Seeded addresses live under bench.example;
// NoMatchEmail addresses under nobody.example never exist.
func (d Dataset) Email(i int) string {
	return "b" + pad(i, 8) + "@bench.example"
}

// NoMatchEmail is an address that is never seeded.
func (d Dataset) NoMatchEmail(i int) string {
	return "n" + pad(i, 8) + "@nobody.example"
}

// UserID is the Auth0 user that logs in as row i.
func (d Dataset) UserID(i int) string { return "auth0|bench" + pad(i, 8) }

// Org is row i's organization ("" for a tenant-wide row). Rows are spread
// by a multiplicative hash so every stretch of rows has the same mix.
func (d Dataset) Org(i int) string {
	if d.OrgShare <= 0 {
		return ""
	}
	if float64(uint32(i)*2654435761%1000)/1000 >= d.OrgShare {
		return ""
	}
	return OrgID(i % max(d.Orgs, 1))
}

// OrgID is the ID of the n-th seeded organization: org_ and 16 characters,
// the shape of a real one.
func OrgID(n int) string { return "org_bench" + pad(n, 11) }

// Input is row i as a writer would supply it.
func (d Dataset) Input(i int) prereg.Input {
	roles := make([]string, 0, d.Roles)
	for j := range d.Roles {
		if j < len(roleNames) {
			roles = append(roles, roleNames[(i+j*3)%len(roleNames)])
		} else {
			roles = append(roles, "role-"+strconv.Itoa(j))
		}
	}
	return prereg.Input{Email: d.Email(i), OrganizationID: d.Org(i), Roles: roles}
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// SeedBatch is the number of rows per ApplyBatch transaction while seeding.
const SeedBatch = 10000

// Seed writes the dataset's rows into the store file at path, creating it.
// It opens the store with NoSync (nothing else runs on it, and a crash
// only loses a benchmark file) and closes it again, so the service under
// test opens it afresh with fsync on. Rows go in batches; source
// "import:bench-seed" keeps the audit trail at one line per batch's worth,
// as a real import would.
func Seed(ctx context.Context, path string, d Dataset, progress func(done int)) error {
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		return fmt.Errorf("open store to seed: %w", err)
	}
	order := idOrder(d)
	items := make([]prereg.Input, 0, SeedBatch)
	for start := 0; start < d.Records; start += SeedBatch {
		if err := ctx.Err(); err != nil {
			st.Close()
			return err
		}
		items = items[:0]
		for _, i := range order[start:min(start+SeedBatch, d.Records)] {
			items = append(items, d.Input(int(i)))
		}
		res, err := st.ApplyBatch(ctx, items, "import:bench-seed", "bench", false)
		if err != nil {
			st.Close()
			return fmt.Errorf("seed rows %d..%d: %w", start, start+len(items), err)
		}
		for k, r := range res {
			if r.Err != nil {
				st.Close()
				return fmt.Errorf("seed row %d: %w", start+k, r.Err)
			}
		}
		if progress != nil {
			progress(start + len(items))
		}
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close seeded store: %w", err)
	}
	return nil
}

// idOrder returns the row numbers sorted by registration ID. bbolt copies
// every page a transaction touches; rows in ID order touch a narrow band of
// the records bucket per batch instead of nearly all of it, which makes
// seeding a million rows several times faster.
func idOrder(d Dataset) []int32 {
	type row struct {
		id string
		i  int32
	}
	rows := make([]row, d.Records)
	for i := range rows {
		rows[i] = row{prereg.RegistrationID(d.Org(i), d.Email(i)), int32(i)}
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })
	out := make([]int32, len(rows))
	for k, r := range rows {
		out[k] = r.i
	}
	return out
}

// since is time.Since, rounded for reports.
func since(t time.Time) time.Duration { return time.Since(t).Round(time.Microsecond) }
