package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// RawResult is the raw bbolt figure a grant is compared with.
type RawResult struct {
	Round     int     `json:"round,omitempty"`
	Workers   int     `json:"workers"`
	Batches   uint64  `json:"batches"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	// RSSMiB is the peak RSS during the loop, which maps its own copy of
	// the store into this process.
	RSSMiB float64 `json:"rss_mib,omitempty"`
}

// The store's bucket names, as boltstore lays them out. The raw loop
// writes exactly the keys a grant writes, so it depends on that layout; a
// missing bucket makes it fail loudly rather than measure something else.
var (
	rawRecs   = []byte("recs")
	rawUser   = []byte("idx_user")
	rawOrg    = []byte("idx_org")
	rawCounts = []byte("counts")
	rawAudit  = []byte("audit")
)

// copyFile copies a closed store file, so the raw loop writes to a twin of
// the seeded store (same size, same tree depth) and never to the store the
// service uses.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// openRaw opens a store file with bbolt directly, with the options
// boltstore uses (fsync on) and db.Batch settings suited to grants: a few
// milliseconds' wait lets concurrent grants share one commit.
func openRaw(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open raw store: %w", err)
	}
	db.MaxBatchDelay = 5 * time.Millisecond
	db.MaxBatchSize = 256
	return db, nil
}

// grantShape is the byte cost of one grant: how much a record grows when
// claimed, and the size of its audit entry.
type grantShape struct{ grow, audit int }

func shapeOf(d Dataset, i int) grantShape {
	now := time.Now().UTC()
	r, _, _ := prereg.Apply(nil, d.Input(i), "import:bench-seed", now)
	before, _ := json.Marshal(r)
	prereg.Claim(&r, d.UserID(i), now, prereg.SyncNone)
	after, _ := json.Marshal(r)
	e := prereg.AuditEntry{ID: fmt.Sprintf("aud_%016x", 1<<20), At: now, Actor: "hook", Action: prereg.AuditGranted,
		OrganizationID: r.OrganizationID, RegistrationID: r.ID,
		Summary: fmt.Sprintf("granted to %s with roles %s", d.UserID(i), strings.Join(r.Roles, "|"))}
	audit, _ := json.Marshal(e)
	return grantShape{grow: max(len(after)-len(before), 0), audit: len(audit)}
}

// rawGrants runs workers goroutines, each calling db.Batch in a loop with
// the very writes of one grant and nothing else: read the record, write it
// back grown to its granted size, add the user index entry, bump two
// counters and append an audit entry (the organization index entry stays
// where it is, as in the store). No JSON, no HTTP, no rules: the physical
// limit of a grant on this disk with these Batch settings.
func rawGrants(ctx context.Context, db *bolt.DB, d Dataset, rows func() int, workers int, dur time.Duration, maxOps uint64) (RawResult, error) {
	shape := shapeOf(d, 0)
	var (
		done    atomic.Uint64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			audit := make([]byte, shape.audit)
			for ctx.Err() == nil && (maxOps == 0 || done.Load() < maxOps) {
				i := rows()
				if i >= d.Records {
					return
				}
				err := db.Batch(func(tx *bolt.Tx) error { return rawGrant(tx, d, i, shape.grow, audit) })
				if err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res := RawResult{Workers: workers, Batches: done.Load(), Seconds: el}
	if el > 0 {
		res.PerSecond = float64(res.Batches) / el
	}
	return res, first
}

func rawGrant(tx *bolt.Tx, d Dataset, i, grow int, audit []byte) error {
	b := func(name []byte) (*bolt.Bucket, error) {
		if bk := tx.Bucket(name); bk != nil {
			return bk, nil
		}
		return nil, fmt.Errorf("raw loop: the store has no bucket %q: the store layout changed, update internal/bench/raw.go", name)
	}
	var bks [5]*bolt.Bucket
	for k, name := range [][]byte{rawRecs, rawUser, rawOrg, rawCounts, rawAudit} {
		bk, err := b(name)
		if err != nil {
			return err
		}
		bks[k] = bk
	}
	// The organization index is opened (a grant's transaction opens it)
	// but not written: a claim leaves a record's entry where it is.
	recs, user, counts, aud := bks[0], bks[1], bks[3], bks[4]
	o, em := d.Org(i), prereg.EmailKey(d.Email(i))
	rk := prereg.RegistrationKey(o, em)
	v := recs.Get(rk[:])
	if v == nil {
		return fmt.Errorf("raw loop: row %d (%s) is not in the store", i, rk.ID())
	}
	rec := make([]byte, len(v), len(v)+grow)
	copy(rec, v)
	rec = append(rec, make([]byte, grow)...)
	k := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }
	key := string(rk[:])
	ops := []error{
		recs.Put(rk[:], rec),
		user.Put(k(d.UserID(i), key), rec[:min(len(rec), 64)]), // the grant: ID, organization, roles
		counts.Put(k(o, "pending"), be(uint64(i))), counts.Put(k(o, "granted"), be(uint64(i))),
	}
	for _, err := range ops {
		if err != nil {
			return err
		}
	}
	n, err := aud.NextSequence()
	if err != nil {
		return err
	}
	return aud.Put(be(n), audit)
}

func be(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
