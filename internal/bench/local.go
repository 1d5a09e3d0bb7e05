package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
)

// local seeds the store and starts the service in this process.
func (r *run) local(ctx context.Context) (func(), error) {
	cfg := r.cfg
	dir := cfg.Dir
	var cleanup func()
	path := cfg.DBPath
	if path == "" {
		tmp, err := os.MkdirTemp(dir, "prereg-bench-*")
		if err != nil {
			return nil, fmt.Errorf("temporary directory: %w", err)
		}
		dir = tmp
		path = filepath.Join(tmp, "prereg.db")
		cleanup = func() {
			if !cfg.Keep {
				os.RemoveAll(tmp)
			}
		}
	} else {
		if dir == "" {
			dir = filepath.Dir(path)
		}
		cleanup = func() { os.Remove(filepath.Join(dir, "raw.db")) }
	}
	fail := func(err error) (func(), error) { cleanup(); return nil, err }

	if _, err := os.Stat(path); err == nil {
		return fail(fmt.Errorf("%s already exists: the run seeds a new store", path))
	}
	r.logf("seeding %d registrations into %s", cfg.Dataset.Records, path)
	t0 := time.Now()
	step := max(cfg.Dataset.Records/10, SeedBatch)
	err := Seed(ctx, path, cfg.Dataset, func(done int) {
		if done%step == 0 || done == cfg.Dataset.Records {
			r.logf("  %d rows, %s", done, since(t0).Round(time.Millisecond))
		}
	})
	if err != nil {
		return fail(err)
	}
	el := time.Since(t0).Seconds()
	sr := &SeedResult{Records: cfg.Dataset.Records, Seconds: el, PerSecond: float64(cfg.Dataset.Records) / el}
	if fi, err := os.Stat(path); err == nil {
		sr.FileMiB = mib(uint64(fi.Size()))
	}
	r.rep.Seed = sr
	if cfg.SeedOnly {
		return cleanup, nil
	}
	if r.want(ScGranted) {
		r.rawDB = filepath.Join(dir, "raw.db")
		if err := copyFile(r.rawDB, path); err != nil {
			return fail(fmt.Errorf("copy the store for the raw loop: %w", err))
		}
	}
	if cfg.HookSecret == "" {
		cfg.HookSecret = boltstore.NewSecret("phs_")
		r.cfg.HookSecret = cfg.HookSecret
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = boltstore.NewSecret("prt_")
		r.cfg.AdminToken = cfg.AdminToken
	}
	opts := serviceOptions{HookSecret: cfg.HookSecret, AdminToken: cfg.AdminToken}
	if cfg.LogRequests {
		opts.LogPath = filepath.Join(dir, "requests.log")
	}
	var svc *service
	for n := range max(cfg.StartRuns, 1) {
		s, st, err := startService(ctx, path, opts)
		if err != nil {
			return fail(fmt.Errorf("start the service: %w", err))
		}
		r.rep.Start = append(r.rep.Start, st)
		r.logf("service start %d: store open %s, ready %s", n+1, st.Open, st.Ready)
		if n+1 < max(cfg.StartRuns, 1) {
			s.close()
			continue
		}
		svc = s
	}
	if !cfg.Separate {
		r.base = svc.URL
		return func() { svc.close(); cleanup() }, nil
	}
	svc.close()
	env := []string{childDB + "=" + path, childHookSecret + "=" + cfg.HookSecret, childAdminToken + "=" + cfg.AdminToken}
	if opts.LogPath != "" {
		env = append(env, childLog+"="+opts.LogPath)
	}
	service, err := startChild(ctx, "service", env, filepath.Join(dir, "service.stderr"))
	if err != nil {
		return fail(err)
	}
	bare, err := startChild(ctx, "bare", nil, filepath.Join(dir, "bare.stderr"))
	if err != nil {
		service.close()
		return fail(err)
	}
	r.base, r.bare, r.servicePID = service.URL, bare.URL, service.cmd.Process.Pid
	r.logf("service (pid %d) on %s and bare handler (pid %d) on %s, each in a process of its own",
		r.servicePID, service.URL, bare.cmd.Process.Pid, bare.URL)
	return func() { bare.close(); service.close(); cleanup() }, nil
}
