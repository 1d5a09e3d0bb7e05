package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// EtcdRaw is one round of a raw etcd loop: the engine's own limit a hook
// scenario over the replicas is compared with.
type EtcdRaw struct {
	// Kind is "get" (linearizable Gets of one key each) or "txn" (Txns the
	// size of a claim).
	Kind    string `json:"kind"`
	Round   int    `json:"round,omitempty"`
	Workers int    `json:"workers"`
	Ops     uint64 `json:"ops"`
	// Errors counts failed operations, not in Ops.
	Errors      uint64  `json:"errors,omitempty"`
	ErrorSample string  `json:"error_sample,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P99         Millis  `json:"p99_ms"`
}

// claimShape is the byte size of a claim's Txn: the registration written
// back granted, the user index entry and the audit entry, and the compare
// on the registration's revision.
type claimShape struct{ pending, record, index, audit int }

func claimShapeOf(d Dataset, i int) claimShape {
	now := time.Now().UTC()
	r, _, _ := prereg.Apply(nil, d.Input(i), "import:bench-seed", now)
	pending, _ := json.Marshal(r)
	prereg.Claim(&r, d.UserID(i), now, prereg.SyncNone)
	rec, _ := json.Marshal(r)
	e := prereg.AuditEntry{ID: fmt.Sprintf("aud_%016x", 1<<20), At: now, Actor: "hook", Action: prereg.AuditGranted,
		OrganizationID: r.OrganizationID, RegistrationID: r.ID, Summary: "granted to " + d.UserID(i)}
	audit, _ := json.Marshal(e)
	return claimShape{pending: len(pending), record: len(rec), index: len(r.ID) + len(r.OrganizationID), audit: len(audit)}
}

// rawEtcdKey is under a prefix of its own, so the raw loops never touch
// the replicas' data.
func rawEtcdKey(run string, parts ...string) string {
	k := "/prereg-bench-raw/" + run
	for _, p := range parts {
		k += "/" + p
	}
	return k
}

// rawEtcdLoop runs workers goroutines over the clients (worker w uses
// clients[w%len]) calling op in a loop for dur, and measures them. An
// operation that fails (etcd's own request timeout on a loaded machine)
// is counted and the loop goes on, as the replicas' calls do; it fails
// only when nothing succeeded.
func rawEtcdLoop(ctx context.Context, kind string, clients []*clientv3.Client, workers int, dur time.Duration,
	op func(ctx context.Context, cli *clientv3.Client, n uint64) error) (EtcdRaw, error) {
	var (
		seq   atomic.Uint64
		errs  atomic.Uint64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		lat   []time.Duration
	)
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	start := time.Now()
	for w := range workers {
		cli := clients[w%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t := time.Now()
				if err := op(ctx, cli, seq.Add(1)); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
					}
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res := EtcdRaw{Kind: kind, Workers: workers, Ops: uint64(len(lat)), Errors: errs.Load(), Seconds: el, P99: ms(percentile(lat, 0.99))}
	if first != nil {
		res.ErrorSample = first.Error()
	}
	if el > 0 {
		res.PerSecond = float64(res.Ops) / el
	}
	if res.Ops == 0 && first != nil {
		return res, fmt.Errorf("raw %s loop: %w", kind, first)
	}
	return res, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := make([]time.Duration, len(d))
	copy(s, d)
	slices.Sort(s)
	return s[min(int(float64(len(s))*p), len(s)-1)]
}

// rawGets reads one key per call, linearizably (etcd's default): the
// least a hook answer could cost if it asked etcd.
func rawGets(ctx context.Context, run string, clients []*clientv3.Client, workers int, dur time.Duration) (EtcdRaw, error) {
	key := rawEtcdKey(run, "get")
	if _, err := clients[0].Put(ctx, key, string(make([]byte, 300))); err != nil {
		return EtcdRaw{}, fmt.Errorf("raw get loop: %w", err)
	}
	return rawEtcdLoop(ctx, "get", clients, workers, dur, func(ctx context.Context, cli *clientv3.Client, _ uint64) error {
		resp, err := cli.Get(ctx, key)
		if err == nil && len(resp.Kvs) != 1 {
			err = fmt.Errorf("raw get loop: %s is missing", key)
		}
		return err
	})
}

// rawLoginReads sends what the etcd store reads for each login: a
// read-only Txn of two prefix ranges (the address's records, one here; the
// user's grants, none), linearizable. It is not a ratio's denominator:
// beside rawGets it shows what the store's read costs etcd.
func rawLoginReads(ctx context.Context, run string, clients []*clientv3.Client, workers int, dur time.Duration) (EtcdRaw, error) {
	addr, user := rawEtcdKey(run, "login", "rec", "addr"), rawEtcdKey(run, "login", "user", "u")
	if _, err := clients[0].Put(ctx, addr+"/k", string(make([]byte, 300))); err != nil {
		return EtcdRaw{}, fmt.Errorf("raw login read loop: %w", err)
	}
	return rawEtcdLoop(ctx, "login_read", clients, workers, dur, func(ctx context.Context, cli *clientv3.Client, _ uint64) error {
		_, err := cli.Txn(ctx).Then(clientv3.OpGet(addr, clientv3.WithPrefix()), clientv3.OpGet(user, clientv3.WithPrefix())).Commit()
		return err
	})
}

// importRowsPerTxn is how many new registrations the raw import loop
// writes per Txn: a record and its organization index entry each, with a
// compare on the record, within etcd's default 128 operations.
const importRowsPerTxn = 64

// rawImports commits Txns the shape of an import's: importRowsPerTxn new
// records, each with its organization index entry and a compare that it
// does not exist yet, from 8 workers as the store's batch writer does. Its
// Ops are Txns; rows are Ops × importRowsPerTxn.
func rawImports(ctx context.Context, run string, d Dataset, clients []*clientv3.Client, dur time.Duration) (EtcdRaw, error) {
	rec := string(make([]byte, claimShapeOf(d, 0).pending))
	return rawEtcdLoop(ctx, "import_txn", clients, importWorkers, dur, func(ctx context.Context, cli *clientv3.Client, n uint64) error {
		cmps := make([]clientv3.Cmp, 0, importRowsPerTxn)
		ops := make([]clientv3.Op, 0, 2*importRowsPerTxn)
		for j := range importRowsPerTxn {
			id := strconv.FormatUint(n, 10) + "-" + strconv.Itoa(j)
			rk := rawEtcdKey(run, "imp", "rec", id)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(rk), "=", 0))
			ops = append(ops, clientv3.OpPut(rk, rec), clientv3.OpPut(rawEtcdKey(run, "imp", "org", id), ""))
		}
		resp, err := cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("raw import loop: a record of Txn %d exists", n)
		}
		return err
	})
}

// importWorkers is the raw import loop's concurrency: the etcd store's
// batch writer's.
const importWorkers = 8

// floorRowsPerTxn is how many registrations the import floor loop writes
// per Txn: etcd's default limit of 128 operations, one put each.
const floorRowsPerTxn = 128

// rawImportFloor is the least an import of new registrations into etcd
// can cost when each has a key of its own: one put of a record-sized value per registration (no index
// entry, no compare), floorRowsPerTxn to a Txn, from importWorkers
// workers. Its Ops are Txns; rows are Ops × floorRowsPerTxn.
func rawImportFloor(ctx context.Context, run string, d Dataset, clients []*clientv3.Client, dur time.Duration) (EtcdRaw, error) {
	rec := string(make([]byte, claimShapeOf(d, 0).pending))
	return rawEtcdLoop(ctx, "import_floor", clients, importWorkers, dur, func(ctx context.Context, cli *clientv3.Client, n uint64) error {
		ops := make([]clientv3.Op, 0, floorRowsPerTxn)
		for j := range floorRowsPerTxn {
			ops = append(ops, clientv3.OpPut(rawEtcdKey(run, "floor", strconv.FormatUint(n, 10)+"-"+strconv.Itoa(j)), rec))
		}
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		return err
	})
}

// rawTxns commits one Txn per call with the shape of a claim: compare a
// record's revision, write the record granted, move its organization
// index entry from pending to granted, add its user index entry and an
// audit entry.
func rawTxns(ctx context.Context, run string, d Dataset, clients []*clientv3.Client, workers int, dur time.Duration, round int) (EtcdRaw, error) {
	sh := claimShapeOf(d, 0)
	rec, idx, aud := string(make([]byte, sh.record)), string(make([]byte, sh.index)), string(make([]byte, sh.audit))
	prefix := "r" + strconv.Itoa(round)
	return rawEtcdLoop(ctx, "txn", clients, workers, dur, func(ctx context.Context, cli *clientv3.Client, n uint64) error {
		id := prefix + "-" + strconv.FormatUint(n, 10)
		rk := rawEtcdKey(run, "rec", id)
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(rk), "=", 0)).
			Then(clientv3.OpPut(rk, rec),
				clientv3.OpDelete(rawEtcdKey(run, "org", "pending", id)), clientv3.OpPut(rawEtcdKey(run, "org", "granted", id), ""),
				clientv3.OpPut(rawEtcdKey(run, "user", id), idx), clientv3.OpPut(rawEtcdKey(run, "audit", id), aud)).
			Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("raw txn loop: %s exists", rk)
		}
		return err
	})
}
