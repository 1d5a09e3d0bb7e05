package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/dumpio"
	"github.com/prereg/prereg/internal/prereg"
)

// loadBatch is how many items one Load writes: a transaction of bbolt, a
// few transactions of etcd (whose requests are bounded in size).
const loadBatch = 500

// location is a store named on the command line: bolt:PATH or
// etcd:URL[,URL…] (etcd: alone takes --etcd-endpoints), the URLs' path
// naming the key prefix (etcd:/PREFIX/ alone takes --etcd-endpoints too):
// so two prefixes of one cluster are two locations.
type location struct {
	kind string // config.StoreBolt or config.StoreEtcd
	path string
	etcd config.Etcd
}

func (l location) String() string {
	if l.kind == config.StoreBolt {
		return "bolt:" + l.path
	}
	return "etcd:" + strings.Join(l.etcd.Endpoints, ",") + " (prefix " + l.etcd.Prefix + ")"
}

// parseLocation reads SRC or DST of prereg copy; etcd holds the --etcd-*
// settings, whose endpoints and prefix a location that names none takes.
func parseLocation(arg string, etcd config.Etcd) (location, error) {
	kind, rest, ok := strings.Cut(arg, ":")
	switch {
	case ok && kind == config.StoreBolt && rest != "":
		return location{kind: kind, path: rest}, nil
	case ok && kind == config.StoreEtcd:
		if err := etcdLocation(rest, &etcd); err != nil {
			return location{}, fmt.Errorf("%s: %w", arg, err)
		}
		if len(etcd.Endpoints) == 0 {
			return location{}, fmt.Errorf("%q names no etcd endpoint: write etcd:https://HOST:2379[,…][/PREFIX/] or pass --etcd-endpoints", arg)
		}
		return location{kind: kind, etcd: etcd}, nil
	}
	return location{}, fmt.Errorf("%q is not a store: write bolt:PATH or etcd:URL[,URL…][/PREFIX/]", arg)
}

// etcdLocation reads what follows etcd: into e: endpoints, whose path (one
// for all) is the prefix, or a prefix alone.
func etcdLocation(rest string, e *config.Etcd) error {
	if strings.HasPrefix(rest, "/") {
		e.Prefix = rest
		return config.CheckPrefix(rest)
	}
	if rest == "" {
		return nil
	}
	e.Endpoints = nil
	prefix := ""
	for _, ep := range config.SplitList(rest) {
		u, err := url.Parse(ep)
		if err == nil && u.Path != "" && u.Path != "/" {
			if prefix != "" && u.Path != prefix {
				return fmt.Errorf("the endpoints name two prefixes, %s and %s", prefix, u.Path)
			}
			if err := config.CheckPrefix(u.Path); err != nil {
				return fmt.Errorf("prefix %w", err)
			}
			prefix, u.Path = u.Path, ""
			ep = u.String()
		}
		if err := config.CheckEndpoint(ep); err != nil {
			return err
		}
		e.Endpoints = append(e.Endpoints, ep)
	}
	if prefix != "" {
		e.Prefix = prefix
	}
	return nil
}

// open opens the store at l for one job. A bolt file must exist unless
// create; a source is opened read-only.
func (l location) open(ctx context.Context, create, readOnly bool) (dumpStore, error) {
	if l.kind == config.StoreEtcd {
		return openEtcd(ctx, l.etcd, etcdOpen{})
	}
	if _, err := os.Stat(l.path); errors.Is(err, fs.ErrNotExist) && !create {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s", l.path)
	}
	var (
		s   *boltstore.Store
		err error
	)
	if readOnly {
		// A source: one of an older schema is read migrated.
		s, err = boltstore.OpenSource(l.path, boltstore.Options{LockTimeout: time.Second})
	} else {
		s, err = boltstore.Open(l.path, boltstore.Options{LockTimeout: time.Second})
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// source yields a dump's items: a store's Dump, or a dump stream's.
type source func(fn func(prereg.DumpItem) error) error

func storeSource(ctx context.Context, s dumpStore) source {
	return func(fn func(prereg.DumpItem) error) error { return s.Dump(ctx, fn) }
}

// streamSource reads a dump stream; it fails on a damaged or cut stream
// after yielding what came before the damage.
func streamSource(r io.Reader) source {
	return func(fn func(prereg.DumpItem) error) error {
		rd, err := dumpio.NewReader(r)
		if err != nil {
			return err
		}
		for {
			it, err := rd.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
}

// transfer loads every item of src into dst, loadBatch at a time, and
// returns the counts of what it loaded.
func transfer(ctx context.Context, src source, dst dumpStore, bar *progressbar.ProgressBar) (prereg.DumpCounts, error) {
	sent := prereg.DumpCounts{}
	batch := make([]prereg.DumpItem, 0, loadBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.Load(ctx, batch); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if bar != nil {
			_ = bar.Add(len(batch))
		}
		batch = batch[:0]
		return nil
	}
	err := src(func(it prereg.DumpItem) error {
		batch = append(batch, it)
		sent[it.Kind]++
		if len(batch) == loadBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return sent, err
}

// sameCounts fails loudly when dst does not hold what was sent.
func sameCounts(ctx context.Context, dst dumpStore, want prereg.DumpCounts, name string) error {
	got, err := dst.DumpCounts(ctx)
	if err != nil {
		return err
	}
	var diffs []string
	for _, k := range prereg.DumpKinds {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%d %s items, want %d", got[k], k, want[k]))
		}
	}
	if len(diffs) > 0 {
		return prereg.Errorf(prereg.Internal, "%s does not hold what was copied: %s", name, strings.Join(diffs, "; "))
	}
	return nil
}

// total is the number of items counts counts.
func total(c prereg.DumpCounts) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// describeCounts is counts for a person: "12 registrations, 1 token, …".
func describeCounts(c prereg.DumpCounts) string {
	var parts []string
	for _, k := range prereg.DumpKinds {
		switch n := c[k]; {
		case n == 1 && k == prereg.DumpAudit:
			parts = append(parts, "1 audit entry")
		case n == 1:
			parts = append(parts, fmt.Sprintf("1 %s", k))
		case k == prereg.DumpAudit && n > 1:
			parts = append(parts, fmt.Sprintf("%d audit entries", n))
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// emptyOrForced refuses a destination that holds data unless force, and
// then clears it.
func emptyOrForced(ctx context.Context, dst dumpStore, name string, force bool) error {
	have, err := dst.DumpCounts(ctx)
	if err != nil {
		return err
	}
	if total(have) == 0 {
		return nil
	}
	if !force {
		return prereg.Errorf(prereg.Conflict, "%s is not empty (%s); pass --force to replace what it holds", name, describeCounts(have))
	}
	return dst.Clear(ctx)
}

// newCountBar is a progress bar of items on standard error when it is a
// terminal; total -1 when unknown.
func newCountBar(e *env, total int64, what string) *progressbar.ProgressBar {
	if !isTerminal(e.stderr) {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
