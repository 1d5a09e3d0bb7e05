package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// local seeds the store and starts the service in this process.
func (r *run) local(ctx context.Context) (func(), error) {
	dir, path, cleanup, err := r.storePath()
	if err != nil {
		return nil, err
	}
	stop, err := r.seedAndServe(ctx, dir, path)
	if err != nil {
		cleanup()
		return nil, err
	}
	return func() { stop(); cleanup() }, nil
}

// storePath is where the run seeds its store: Config.DBPath, or a new
// temporary directory. dir receives the run's other files; cleanup
// removes what the run leaves there.
func (r *run) storePath() (dir, path string, cleanup func(), err error) {
	dir, path = r.cfg.Dir, r.cfg.DBPath
	if path != "" {
		if dir == "" {
			dir = filepath.Dir(path)
		}
		return dir, path, func() { os.Remove(filepath.Join(dir, "raw.db")) }, nil
	}
	tmp, err := os.MkdirTemp(dir, "prereg-bench-*")
	if err != nil {
		return "", "", nil, fmt.Errorf("temporary directory: %w", err)
	}
	keep := r.cfg.Keep
	return tmp, filepath.Join(tmp, "prereg.db"), func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}, nil
}

// seedAndServe seeds the store at path and, unless the run only seeds,
// starts the service on it; the function returned stops the service.
func (r *run) seedAndServe(ctx context.Context, dir, path string) (func(), error) {
	if err := r.seed(ctx, path); err != nil {
		return nil, err
	}
	if r.cfg.SeedOnly {
		return func() {}, nil
	}
	if r.want(ScGranted) {
		r.rawDB = filepath.Join(dir, "raw.db")
		if err := copyFile(r.rawDB, path); err != nil {
			return nil, fmt.Errorf("copy the store for the raw loop: %w", err)
		}
	}
	if r.cfg.HookSecret == "" {
		r.cfg.HookSecret = prereg.NewSecret(prereg.HookSecretPrefix)
	}
	if r.cfg.AdminToken == "" {
		r.cfg.AdminToken = prereg.NewSecret(prereg.TokenPrefix)
	}
	opts := serviceOptions{HookSecret: r.cfg.HookSecret, AdminToken: r.cfg.AdminToken}
	if r.cfg.LogRequests {
		opts.LogPath = filepath.Join(dir, "requests.log")
	}
	svc, err := r.timeStarts(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	if !r.cfg.Separate {
		r.base = svc.URL
		return svc.close, nil
	}
	svc.close()
	return r.startChildren(ctx, dir, path, opts)
}

// seed fills a new store at path with the dataset, logging progress.
func (r *run) seed(ctx context.Context, path string) error {
	d := r.cfg.Dataset
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists: the run seeds a new store", path)
	}
	r.logf("seeding %d registrations into %s", d.Records, path)
	t0 := time.Now()
	step := max(d.Records/10, SeedBatch)
	err := Seed(ctx, path, d, func(done int) {
		if done%step == 0 || done == d.Records {
			r.logf("  %d rows, %s", done, since(t0).Round(time.Millisecond))
		}
	})
	if err != nil {
		return err
	}
	el := time.Since(t0).Seconds()
	sr := &SeedResult{Records: d.Records, Seconds: el, PerSecond: float64(d.Records) / el}
	if fi, err := os.Stat(path); err == nil {
		sr.FileMiB = mib(uint64(fi.Size()))
	}
	r.rep.Seed = sr
	return nil
}

// timeStarts starts the service on the seeded store StartRuns times,
// recording each start's times, and returns the last one running.
func (r *run) timeStarts(ctx context.Context, path string, opts serviceOptions) (*service, error) {
	var svc *service
	for n := range max(r.cfg.StartRuns, 1) {
		if svc != nil {
			svc.close()
		}
		s, st, err := startService(ctx, path, opts)
		if err != nil {
			return nil, fmt.Errorf("start the service: %w", err)
		}
		svc = s
		r.rep.Start = append(r.rep.Start, st)
		r.logf("service start %d: store open %s, ready %s", n+1, st.Open, st.Ready)
	}
	return svc, nil
}

// startChildren serves the store and the bare handler each from a process
// of its own (Config.Separate); the function returned stops both.
func (r *run) startChildren(ctx context.Context, dir, path string, opts serviceOptions) (func(), error) {
	env := []string{childDB + "=" + path, childHookSecret + "=" + opts.HookSecret, childAdminToken + "=" + opts.AdminToken}
	if opts.LogPath != "" {
		env = append(env, childLog+"="+opts.LogPath)
	}
	service, err := startChild(ctx, "service", env, filepath.Join(dir, "service.stderr"))
	if err != nil {
		return nil, err
	}
	bare, err := startChild(ctx, "bare", nil, filepath.Join(dir, "bare.stderr"))
	if err != nil {
		service.close()
		return nil, err
	}
	r.base, r.bare, r.servicePID = service.URL, bare.URL, service.cmd.Process.Pid
	r.logf("service (pid %d) on %s and bare handler (pid %d) on %s, each in a process of its own",
		r.servicePID, service.URL, bare.cmd.Process.Pid, bare.URL)
	return func() { bare.close(); service.close() }, nil
}
