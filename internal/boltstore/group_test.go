package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestGroupCommit(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	var afters atomic.Int64 // commits followed by the after hook
	g := &groupCommit{after: func(got *bolt.DB) {
		if got != db {
			t.Errorf("after got another database")
		}
		afters.Add(1)
	}}
	boom := errors.New("boom")
	const n = 200
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		// Transactions that ran a function, and those that committed.
		// Not by tx.ID(): bbolt gives a rolled-back write transaction's
		// ID to the next one.
		txs     = map[*bolt.Tx]bool{}
		commits atomic.Int64
		errs    = make([]error, n)
		panics  = make([]any, n)
	)
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = g.do(db, func(tx *bolt.Tx) error {
				mu.Lock()
				if !txs[tx] {
					txs[tx] = true
					tx.OnCommit(func() { commits.Add(1) })
				}
				mu.Unlock()
				switch i {
				case 13:
					return boom // fails alone, the others commit
				case 77:
					panic("bad function")
				}
				return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%03d", i), []byte("v"))
			})
		})
	}
	wg.Wait()
	for i := range n {
		switch {
		case i == 13 && !errors.Is(errs[i], boom):
			t.Errorf("call 13: %v, want its own error", errs[i])
		case i == 77 && panics[i] == nil:
			t.Errorf("call 77 did not panic in its caller")
		case i != 13 && i != 77 && (errs[i] != nil || panics[i] != nil):
			t.Errorf("call %d: %v %v", i, errs[i], panics[i])
		}
	}
	c := commits.Load()
	if c == 0 || c >= n-2 {
		t.Errorf("%d calls committed in %d transactions: none shared", n-2, c)
	}
	// Every commit is of a shared transaction (the solo reruns of calls 13
	// and 77 fail), and the hook follows each; it also follows a group
	// that committed nothing because it held only those two calls.
	if a := afters.Load(); a < c || a > c+2 {
		t.Errorf("after ran %d times for %d commits", a, c)
	}
	if len(txs) < int(c)+2 {
		t.Errorf("%d transactions ran a function, want the %d commits and the 2 solo reruns", len(txs), c)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket([]byte("b")).Stats().KeyN; got != n-2 {
			return fmt.Errorf("%d keys stored, want %d", got, n-2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The last leader may still be handing over after its callers got
	// their answers: a call made now must still be answered.
	done := make(chan error, 1)
	go func() { done <- g.do(db, func(*bolt.Tx) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call after the others was not answered: the group was left running")
	}
}
