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
		wg     sync.WaitGroup
		mu     sync.Mutex
		txs    = map[int]bool{} // transactions that ran a function
		errs   = make([]error, n)
		panics = make([]any, n)
	)
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = g.do(db, func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx.ID()] = true
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
	if len(txs) >= n {
		t.Errorf("%d calls ran in %d transactions: none shared", n, len(txs))
	}
	// Every shared transaction is followed by the hook; solo reruns of the
	// failing and panicking calls are not (they commit on their own).
	if a := afters.Load(); a == 0 || a > int64(len(txs)) {
		t.Errorf("after ran %d times for %d transactions", a, len(txs))
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
	// their answers.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		running, queued := g.running, len(g.queue)
		g.mu.Unlock()
		if !running && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left running=%v with %d queued", running, queued)
		}
	}
}
