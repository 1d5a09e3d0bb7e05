package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// maxProblems bounds what Check reports: a broken index would otherwise
// list every one of its entries.
const maxProblems = 100

// Check verifies, at one revision, that the indexes agree with the
// records both ways (every record's entries exist with the values it
// implies, every entry belongs to a record that implies it), that every
// organization is registered and every job has its due entry. It returns
// every problem found (at most maxProblems).
func (s *Store) Check() []error {
	ctx := context.Background()
	c := &checker{s: s}
	rev, err := s.eachKVRev(ctx, s.k(kRec), 0, false, c.record)
	if err == nil {
		c.rev = rev
		err = c.flush(ctx)
	}
	for _, space := range []string{kOrg, kUser, kExp, kSync} {
		if err != nil {
			break
		}
		err = s.eachKV(ctx, s.k(space), rev, func(kv *mvccKV) error { return c.entry(ctx, kv) })
	}
	if err == nil && len(c.entries) > 0 {
		err = c.flushEntries(ctx)
	}
	if err == nil {
		err = s.eachKV(ctx, s.k(kJob), rev, func(kv *mvccKV) error { return c.job(ctx, kv) })
	}
	if err != nil {
		c.errs = append(c.errs, err)
	}
	return c.errs
}

// CheckInvariants is Check as one error (storetest.Checker).
func (s *Store) CheckInvariants() error { return errors.Join(s.Check()...) }

type checker struct {
	s    *Store
	rev  int64
	want map[string]string // entries of records read, not yet verified
	orgs map[string]bool
	errs []error
	// entries are index entries read, not yet verified.
	entries []*mvccKV
}

func (c *checker) problem(format string, args ...any) {
	if len(c.errs) < maxProblems {
		c.errs = append(c.errs, fmt.Errorf(format, args...))
	}
}

func (c *checker) record(kv *mvccKV) error {
	r, err := decodeReg(kv.Value)
	if err != nil {
		c.problem("record %x: %v", kv.Key, err)
		return nil
	}
	k, _ := keyTail(kv.Key)
	if r.ID != k.ID() && prereg.RegistrationKey(r.OrganizationID, r.Email) != k {
		c.problem("record %s is stored under the key of %s", r.ID, k.ID())
	}
	if c.want == nil {
		c.want, c.orgs = map[string]string{}, map[string]bool{}
	}
	for ik, v := range c.s.entries(r, k) {
		c.want[ik] = v
	}
	c.want[c.s.k(kOrgs, r.OrganizationID)] = ""
	if len(c.want) >= maxOps-4 {
		return c.flush(context.Background())
	}
	return nil
}

// flush verifies the collected entries exist with their values.
func (c *checker) flush(ctx context.Context) error {
	if len(c.want) == 0 {
		return nil
	}
	keys := make([]string, 0, len(c.want))
	ops := make([]clientv3.Op, 0, len(c.want))
	for k := range c.want {
		keys = append(keys, k)
		ops = append(ops, clientv3.OpGet(k, clientv3.WithRev(c.rev)))
	}
	cctx, cancel := context.WithTimeout(ctx, scanTimeout)
	resp, err := c.s.cli.Txn(cctx).Then(ops...).Commit()
	cancel()
	if err != nil {
		return translate(err)
	}
	for i, rr := range resp.Responses {
		kvs := rr.GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			c.problem("index entry %q is missing", keys[i])
		case string(kvs[0].Value) != c.want[keys[i]]:
			c.problem("index entry %q holds %q, want %q", keys[i], kvs[0].Value, c.want[keys[i]])
		}
	}
	clear(c.want)
	return nil
}

// entry verifies, a batch at a time, that index entries' records imply
// them.
func (c *checker) entry(ctx context.Context, kv *mvccKV) error {
	if _, ok := keyTail(kv.Key); !ok {
		c.problem("index entry %q is too short", kv.Key)
		return nil
	}
	c.entries = append(c.entries, kv)
	if len(c.entries) < maxOps {
		return nil
	}
	return c.flushEntries(ctx)
}

func (c *checker) flushEntries(ctx context.Context) error {
	ops := make([]clientv3.Op, len(c.entries))
	for i, kv := range c.entries {
		k, _ := keyTail(kv.Key)
		ops[i] = clientv3.OpGet(c.s.recKey(k), clientv3.WithRev(c.rev))
	}
	cctx, cancel := context.WithTimeout(ctx, scanTimeout)
	resp, err := c.s.cli.Txn(cctx).Then(ops...).Commit()
	cancel()
	if err != nil {
		return translate(err)
	}
	for i, rr := range resp.Responses {
		kv := c.entries[i]
		kvs := rr.GetResponseRange().Kvs
		if len(kvs) == 0 {
			c.problem("index entry %q points to no record", kv.Key)
			continue
		}
		r, err := decodeReg(kvs[0].Value)
		if err != nil {
			c.problem("record %x: %v", kvs[0].Key, err)
			continue
		}
		k, _ := keyTail(kv.Key)
		if v, ok := c.s.entries(r, k)[string(kv.Key)]; !ok || v != string(kv.Value) {
			c.problem("index entry %q does not match its record %s", kv.Key, r.ID)
		}
	}
	c.entries = c.entries[:0]
	return nil
}

// job verifies that a job has its due entry.
func (c *checker) job(ctx context.Context, kv *mvccKV) error {
	item, err := c.s.dumpItem(prereg.DumpJob, kv)
	if err != nil {
		c.problem("%v", err)
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	resp, err := c.s.cli.Get(cctx, c.s.k(kDue, stamp(item.Job.NotBefore), item.Job.ID), clientv3.WithRev(c.rev), clientv3.WithCountOnly())
	if err != nil {
		return translate(err)
	}
	if resp.Count != 1 {
		c.problem("job %s has no due entry", item.Job.ID)
	}
	return nil
}

// Backup writes a dump of the store to w and returns its size; size,
// when set, learns it first. The dump is spooled to a temporary file so
// its size is known before the first byte goes out.
func (s *Store) Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	f, err := os.CreateTemp("", "prereg-backup-*")
	if err != nil {
		return 0, prereg.Wrap(prereg.Unavailable, err, "cannot create the backup's temporary file")
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeDump(ctx, s, f); err != nil {
		return 0, err
	}
	n, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if size != nil {
		size(n)
	}
	return io.Copy(w, f)
}
