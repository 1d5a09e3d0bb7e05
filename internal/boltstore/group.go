package boltstore

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs concurrent write functions in shared transactions, as
// bbolt's DB.Batch does but without its timer: see "Group commit" in
// doc.go.
type groupCommit struct {
	mu      sync.Mutex
	db      *bolt.DB // the store's, as the last call gave it
	queue   []*groupCall
	running bool
	// after, when set, runs on the leading goroutine after each commit,
	// between two commits (the store gives mapped pages back there).
	after func(db *bolt.DB)
	// grants, when set, learns of every transaction's end.
	grants *grantCache
}

// maxGroup bounds one transaction's calls, as DB.MaxBatchSize does.
const maxGroup = 256

type groupCall struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// errTrySolo tells a caller whose function failed in a shared transaction
// to run it alone, so that one failure does not fail the others.
var errTrySolo = errors.New("batch function returned an error and should be re-run solo")

// do runs fn in a shared transaction and returns when that transaction
// committed or failed. Like DB.Batch, fn may run more than once (when
// another call in its transaction fails) and must be idempotent.
func (g *groupCommit) do(db *bolt.DB, fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, err: make(chan error, 1)}
	g.mu.Lock()
	g.db = db
	g.queue = append(g.queue, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	err := <-c.err
	if err == errTrySolo {
		err = g.grants.update(db, fn)
	}
	return err
}

// lead commits the calls queued so far, then hands the lead to a new
// goroutine if more arrived meanwhile, so that its own caller answers now.
func (g *groupCommit) lead() {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	calls := g.queue[:n:n]
	g.queue = g.queue[n:]
	db := g.db
	g.mu.Unlock()

	g.run(db, calls)
	if g.after != nil {
		g.after(db)
	}

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.queue = nil
		g.running = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go g.lead()
}

// run commits calls in one transaction; a call whose function fails is
// told to run alone and the others are tried again without it.
func (g *groupCommit) run(db *bolt.DB, calls []*groupCall) {
	for len(calls) > 0 {
		failed := -1
		err := g.grants.update(db, func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		calls[failed].err <- errTrySolo
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// safely calls fn, turning a panic into an error for its own caller (the
// solo run then panics in the caller's goroutine).
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a grouped write: %v", p)
		}
	}()
	return fn(tx)
}
