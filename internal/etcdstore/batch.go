package etcdstore

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Batches are written as many transactions within etcd's limits, several
// at once (doc.go, "Imports").
const (
	// chunkOps is the estimated operations of a chunk of a batch: its
	// records, if all are new, are written in one transaction.
	chunkOps = maxOps - 8
	// maxTxnBytes keeps a transaction well under etcd's default request
	// limit (--max-request-bytes).
	maxTxnBytes = 512 << 10
	// batchWorkers is how many chunks of a batch are written at once.
	batchWorkers = 16
)

// ApplyBatch is PrepareBatch followed by Apply.
func (s *Store) ApplyBatch(ctx context.Context, items []prereg.Input, source, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	return s.PrepareBatch(items, nil, source).Apply(ctx, actor, dryRun)
}

// Prepared is a batch readied by PrepareBatch; Apply writes it.
type Prepared struct {
	s      *Store
	items  []prereg.Input
	keys   []prereg.Key
	order  []int // items in key order
	source string
	now    time.Time
}

var _ prereg.PreparedBatch = (*Prepared)(nil)

// PrepareBatch derives the items' keys (unless the caller knows them:
// keys[i] must be items[i]'s prereg.RegistrationKey, or keys nil) and
// sorts them, touching no state.
func (s *Store) PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch {
	if len(keys) != len(items) {
		keys = make([]prereg.Key, len(items))
		for i, in := range items {
			keys[i] = prereg.RegistrationKey(in.OrganizationID, in.Email)
		}
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(keys[a][:], keys[b][:]) })
	return &Prepared{s: s, items: items, keys: keys, order: order, source: source, now: s.now().UTC()}
}

// keyRun is the items of a batch that write one key, in input order:
// they are applied one after the other and written in one transaction.
type keyRun struct {
	k     prereg.Key
	items []int
}

// Apply writes (or, with dryRun, only evaluates) the batch and reports
// each item's change in input order. Each key's record and indexes are
// written atomically; the batch as a whole is not one transaction.
func (p *Prepared) Apply(ctx context.Context, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	ctx = bulk(ctx)
	var runs []keyRun
	for _, i := range p.order {
		if n := len(runs); n > 0 && runs[n-1].k == p.keys[i] {
			runs[n-1].items = append(runs[n-1].items, i)
			continue
		}
		runs = append(runs, keyRun{k: p.keys[i], items: []int{i}})
	}
	w := batchWrite{p: p, actor: actor, dryRun: dryRun, audit: !strings.HasPrefix(p.source, "import:"), results: make([]prereg.WriteResult, len(p.items))}
	chunks := make(chan []keyRun)
	errs := make(chan error, batchWorkers)
	var wg sync.WaitGroup
	for range batchWorkers {
		wg.Go(func() {
			for c := range chunks {
				if err := w.chunk(ctx, c); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for lo := 0; lo < len(runs); {
		hi, ops := lo, 0
		for hi < len(runs) && (hi == lo || ops+w.estimate(runs[hi]) <= chunkOps) {
			ops += w.estimate(runs[hi])
			hi++
		}
		select {
		case chunks <- runs[lo:hi]:
		case err = <-errs:
			break feed
		}
		lo = hi
	}
	close(chunks)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return w.results, nil
}

// batchWrite is one Apply in progress; results are filled by key run,
// each run by one worker.
type batchWrite struct {
	p             *Prepared
	actor         string
	dryRun, audit bool
	results       []prereg.WriteResult
}

// estimate is how many operations run's record takes when new: the
// record, its organization and expiry entries, the organization's
// registration (unless known, see Store.orgsKnown), and audit entries.
func (w *batchWrite) estimate(run keyRun) int {
	n := 2
	in := w.p.items[run.items[0]]
	if _, ok := w.p.s.orgsKnown.Load(w.p.s.k(kOrgs, in.OrganizationID)); !ok {
		n++
	}
	if in.ExpiresAt != nil {
		n++
	}
	if w.audit {
		n += len(run.items)
	}
	return n
}

// chunk writes runs. Most rows of an import are new: it first writes
// them as new records in one transaction that holds only if none of
// their keys exists, and otherwise reads them in that transaction. Then
// it applies the items over what it read and commits in transactions
// within etcd's limits, each holding only if its records are still as
// read; the runs of a failed one are read and applied again.
func (w *batchWrite) chunk(ctx context.Context, runs []keyRun) error {
	s := w.p.s
	cur, done, err := w.fresh(ctx, runs)
	if err != nil || done {
		return err
	}
	return retry(ctx, "import", func() error {
		if cur == nil {
			var err error
			if cur, err = s.loadMany(ctx, runs); err != nil {
				return err
			}
		}
		var failed []keyRun
		tx := s.batchTxn()
		flush := func() error {
			if len(tx.runs) == 0 {
				return nil
			}
			_, err := s.commit(ctx, tx.cmps, tx.ops)
			tx.settled(err == nil)
			if err == errRetry {
				failed = append(failed, tx.runs...)
				err = nil
			}
			tx = s.batchTxn()
			return err
		}
		for i, run := range runs {
			ops, err := w.apply(run, cur[i])
			if err != nil {
				return err
			}
			if len(ops) == 0 || w.dryRun {
				continue
			}
			if !tx.fits(ops) {
				if err := flush(); err != nil {
					return err
				}
			}
			tx.add(run, s.unchanged(cur[i]), ops)
		}
		if err := flush(); err != nil {
			return err
		}
		cur = nil
		if len(failed) > 0 {
			runs = failed
			return errRetry
		}
		return nil
	})
}

// fresh writes runs as new records in one transaction if none of their
// keys exists (done), and otherwise returns the records as that
// transaction read them. It reports neither for a dry run, or when the
// writes are beyond one transaction.
func (w *batchWrite) fresh(ctx context.Context, runs []keyRun) ([]stored, bool, error) {
	s := w.p.s
	if w.dryRun || len(runs) > maxOps {
		return nil, false, nil
	}
	tx, gets := s.batchTxn(), make([]clientv3.Op, len(runs))
	for i, run := range runs {
		ops, err := w.apply(run, stored{k: run.k})
		if err != nil {
			return nil, false, err
		}
		if !tx.fits(ops) {
			return nil, false, nil
		}
		tx.add(run, clientv3.Compare(clientv3.CreateRevision(s.recKey(run.k)), "=", 0), ops)
		gets[i] = clientv3.OpGet(s.recKey(run.k))
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).If(tx.cmps...).Then(tx.ops...).Else(gets...).Commit()
	tx.settled(err == nil && resp.Succeeded)
	if err != nil {
		return nil, false, translate(err)
	}
	if resp.Succeeded {
		return nil, true, nil
	}
	cur := make([]stored, len(runs))
	for i, r := range resp.Responses {
		cur[i].k = runs[i].k
		if kvs := r.GetResponseRange().Kvs; len(kvs) == 1 {
			cur[i].mod = kvs[0].ModRevision
			if cur[i].r, err = decodeReg(kvs[0].Value); err != nil {
				return nil, false, err
			}
		}
	}
	return cur, false, nil
}

// apply applies the items of run over st and returns the operations that
// write the outcome (none when nothing changed).
func (w *batchWrite) apply(run keyRun, st stored) ([]clientv3.Op, error) {
	s, now := w.p.s, w.p.now
	old, cur := st.r, st.r
	var audits []clientv3.Op
	for _, i := range run.items {
		r, change, err := prereg.ApplyKey(cur, w.p.items[i], run.k, w.p.source, now)
		if err != nil && prereg.ErrorCode(err) != prereg.Conflict {
			return nil, err
		}
		w.results[i] = prereg.WriteResult{ID: r.ID, Change: change, Status: r.Status, Err: err}
		if err != nil || change == prereg.Unchanged {
			continue
		}
		if w.audit && !w.dryRun {
			audits = append(audits, s.writeAudit(now, w.actor, &r, change))
		}
		cur = &r
	}
	if cur == old || w.dryRun {
		return nil, nil
	}
	ops, err := s.putOps(run.k, old, cur)
	return append(ops, audits...), err
}

// pendingTxn collects the writes of several key runs into one
// transaction.
type pendingTxn struct {
	runs  []keyRun
	cmps  []clientv3.Cmp
	ops   []clientv3.Op
	puts  map[string]bool
	bytes int

	// With known set (a batch's transactions), an organization's entry
	// in kOrgs (orgs) that a committed batch wrote is compared to exist
	// rather than written again (see Store.orgsKnown).
	known *sync.Map
	orgs  string
	seen  []string
}

// batchTxn is a pendingTxn of a batch: it writes an organization's
// entry in kOrgs only where this replica has not seen it committed.
func (s *Store) batchTxn() pendingTxn {
	return pendingTxn{known: &s.orgsKnown, orgs: s.k(kOrgs)}
}

// fits reports whether ops can join the transaction within etcd's limits.
func (t *pendingTxn) fits(ops []clientv3.Op) bool {
	cmps := len(t.cmps) + 1
	if t.known != nil {
		cmps += len(ops) // each put might become a compare
	}
	return len(t.ops)+len(ops) <= maxOps && cmps <= maxOps && t.bytes+opBytes(ops) <= maxTxnBytes
}

// add joins a run's writes; a key put twice (an organization's entry
// in kOrgs) is put once, as etcd refuses a transaction that writes a key
// twice.
func (t *pendingTxn) add(run keyRun, cmp clientv3.Cmp, ops []clientv3.Op) {
	if t.puts == nil {
		t.puts = map[string]bool{}
	}
	t.runs = append(t.runs, run)
	t.cmps = append(t.cmps, cmp)
	for _, op := range ops {
		k := string(op.KeyBytes())
		if op.IsPut() {
			if t.puts[k] {
				continue
			}
			t.puts[k] = true
			if t.known != nil && strings.HasPrefix(k, t.orgs) {
				t.seen = append(t.seen, k)
				if _, ok := t.known.Load(k); ok {
					t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), ">", 0))
					continue
				}
			}
		}
		t.ops = append(t.ops, op)
	}
	t.bytes += opBytes(ops)
}

// settled records the transaction's outcome: the organizations' entries
// it wrote or compared exist if it committed. If it did not (a compare
// failed, perhaps because another replica cleared the prefix) or its
// outcome is unknown, they are forgotten, so the retry writes them.
func (t *pendingTxn) settled(committed bool) {
	if t.known == nil {
		return
	}
	for _, k := range t.seen {
		if committed {
			t.known.Store(k, struct{}{})
		} else {
			t.known.Delete(k)
		}
	}
}

func opBytes(ops []clientv3.Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.KeyBytes()) + len(op.ValueBytes()) + 16
	}
	return n
}

// loadMany reads the records of runs at one revision.
func (s *Store) loadMany(ctx context.Context, runs []keyRun) ([]stored, error) {
	ops := make([]clientv3.Op, len(runs))
	for i, run := range runs {
		ops[i] = clientv3.OpGet(s.recKey(run.k))
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).Then(ops...).Commit()
	if err != nil {
		return nil, translate(err)
	}
	out := make([]stored, len(runs))
	for i, r := range resp.Responses {
		out[i].k = runs[i].k
		if kvs := r.GetResponseRange().Kvs; len(kvs) == 1 {
			out[i].mod = kvs[0].ModRevision
			if out[i].r, err = decodeReg(kvs[0].Value); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
