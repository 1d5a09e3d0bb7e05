package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// run is the state of one run.
type run struct {
	cfg  Config
	rep  *Report
	base string // prereg's URL
	bare string // the bare handler's URL
	// granted hands out the rows the granted scenario claims, each once;
	// raw hands the same rows to the raw loop.
	granted *counter
	raw     *counter
	rawDB   string
	mem     *sampler
	// collectBetween: the generator's collector is off, and runs before
	// each attack instead (Config.GeneratorGC -1).
	collectBetween bool
	// servicePID is the service's process in a Separate run.
	servicePID int
}

// attack is the package's attack, after a collection of the generator's
// garbage when its collector is off during attacks.
func (r *run) attack(ctx context.Context, name string, tr vegeta.Targeter, l Load, check func([]byte) bool) LoadResult {
	if r.collectBetween {
		runtime.GC()
	}
	return attack(ctx, name, tr, l, check)
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format+"\n", args...)
	}
}

func (r *run) want(sc string) bool {
	return len(r.cfg.Scenarios) == 0 || slices.Contains(r.cfg.Scenarios, sc)
}

// Run performs one run and returns its report. It stops by itself: every
// attack is bounded in time and count, and ctx cuts the whole run short.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.PreGranted >= cfg.Dataset.Records/2 {
		cfg.PreGranted = cfg.Dataset.Records / 4
	}
	r := newRun(cfg)
	stopTarget, err := r.target(ctx)
	if err != nil {
		return nil, err
	}
	defer stopTarget()
	if cfg.URL == "" && cfg.SeedOnly {
		r.rep.Machine.LoadAfter = loadavg()
		return r.rep, nil
	}
	stopBare, err := r.bareTarget()
	if err != nil {
		return nil, err
	}
	defer stopBare()
	r.startSampler()
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	err = r.scenarios(ctx)
	if r.mem != nil {
		m := r.mem.Stop()
		r.rep.Memory = &m
	}
	r.rep.Machine.LoadAfter = loadavg()
	return r.rep, err
}

// check refuses a configuration a run cannot start with.
func (c Config) check() error {
	if c.Concurrency <= 0 || c.Duration <= 0 || c.Rounds <= 0 {
		return errors.New("concurrency, duration and rounds must be positive")
	}
	if c.URL == "" {
		return nil
	}
	if c.HookSecret == "" || c.AdminToken == "" {
		return errors.New("--url needs --hook-secret and --admin-token")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--url %q is not an absolute URL", c.URL)
	}
	return nil
}

// newRun starts the report: the machine's load before the run, and the
// configuration it repeats.
func newRun(cfg Config) *run {
	rep := &Report{Machine: machine(), Loads: []LoadResult{}, Ratios: []Ratio{}}
	target := "in-process"
	if cfg.Separate {
		target = "separate processes"
	}
	rep.Config = ReportConfig{Records: cfg.Dataset.Records, OrgShare: cfg.Dataset.OrgShare, Roles: cfg.Dataset.Roles,
		Target: target, Rate: cfg.Rate, GrantedRate: cfg.GrantedRate, Duration: cfg.Duration.String(),
		Concurrency: cfg.Concurrency, Rounds: cfg.Rounds}
	r := &run{cfg: cfg, rep: rep}
	// Rows past the pre-granted ones are claimed once each, in order, by
	// the granted scenario; the raw loop takes the same rows in its own
	// copy of the store.
	r.granted = newCounter(cfg.PreGranted, cfg.Dataset.Records, false)
	r.raw = newCounter(cfg.PreGranted, cfg.Dataset.Records, false)
	return r
}

// target points the run at the --url service, or seeds a store and starts
// the service locally; the function returned stops what it started.
func (r *run) target(ctx context.Context) (func(), error) {
	if r.cfg.URL != "" {
		r.base = strings.TrimRight(r.cfg.URL, "/")
		r.rep.Config.Target = r.base
		r.note("remote target: seeding, start time, memory and the raw loop are measured only in-process")
		return func() {}, nil
	}
	stop, err := r.local(ctx)
	if err != nil || r.cfg.SeedOnly {
		return stop, err
	}
	if r.cfg.Separate {
		r.note("service and bare handler each in a process of its own (--separate): the memory is the service's process's")
	} else {
		r.note("service and load generator share this process's Go runtime: the latencies include the generator's garbage collections, and the memory is theirs together (--separate, or --url and --bare-url, for the service's own)")
	}
	return stop, nil
}

// bareTarget points the run at the bare handler of another process, or
// serves one in this process; the function returned undoes it.
func (r *run) bareTarget() (func(), error) {
	bareURL := r.cfg.BareURL
	if r.cfg.URL == "" && r.cfg.Separate {
		bareURL = r.bare
	}
	if bareURL == "" {
		bare, err := serveLoopback(BareHandler())
		if err != nil {
			return nil, err
		}
		r.bare = bare.URL
		return bare.close, nil
	}
	r.bare = strings.TrimRight(bareURL, "/")
	if r.cfg.URL == "" && !r.cfg.Separate {
		return func() {}, nil
	}
	return r.generatorGC(), nil
}

// generatorGC sets the collector of a process that only generates load
// (Config.GeneratorGC) and returns the function that puts it back.
func (r *run) generatorGC() func() {
	gc := r.cfg.GeneratorGC
	switch {
	case gc == 0:
		return func() {}
	case gc < 0:
		percent := debug.SetGCPercent(-1)
		limit := debug.SetMemoryLimit(GeneratorMemoryLimit)
		r.collectBetween = true
		r.note(fmt.Sprintf("load generator alone in this process: its collector is off during attacks (up to %d MiB) and runs between them (--generator-gc -1)", GeneratorMemoryLimit>>20))
		return func() {
			debug.SetMemoryLimit(limit)
			debug.SetGCPercent(percent)
		}
	default:
		percent := debug.SetGCPercent(gc)
		r.note(fmt.Sprintf("load generator alone in this process: its GC percent is %d (--generator-gc)", gc))
		return func() { debug.SetGCPercent(percent) }
	}
}

// startSampler samples the memory of the service's process, or of this
// one when the service runs in it; a remote service is not sampled.
func (r *run) startSampler() {
	switch {
	case r.servicePID != 0:
		r.mem = startSamplerOf(strconv.Itoa(r.servicePID), 100*time.Millisecond)
	case r.cfg.URL == "":
		r.mem = startSampler(100 * time.Millisecond)
	}
}

// startCPUProfile profiles this process into path (nothing when empty)
// until the function returned is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// note adds a line to the report's notes.
func (r *run) note(n string) { r.rep.Notes = append(r.rep.Notes, n) }

// add records an attack's result with the memory peak of its phase.
func (r *run) add(l LoadResult) {
	m := r.mem.Phase()
	l.RSSMiB, l.HeapMiB = m.RSSMax, m.HeapInuseMax
	r.rep.Loads = append(r.rep.Loads, l)
}
