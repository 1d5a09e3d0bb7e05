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
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// run is the state of one run.
type run struct {
	cfg  Config
	rep  *Report
	base string // prereg's URL
	bare string // the bare handler's URL
	// granted hands out the rows the granted scenario claims, each once.
	granted atomic.Int64
	raw     func() int
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
	if cfg.Concurrency <= 0 || cfg.Duration <= 0 || cfg.Rounds <= 0 {
		return nil, errors.New("concurrency, duration and rounds must be positive")
	}
	if cfg.PreGranted >= cfg.Dataset.Records/2 {
		cfg.PreGranted = cfg.Dataset.Records / 4
	}
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
	r.granted.Store(int64(cfg.PreGranted))
	r.raw = counter(cfg.PreGranted, cfg.Dataset.Records, false)

	if cfg.URL != "" {
		if cfg.HookSecret == "" || cfg.AdminToken == "" {
			return nil, errors.New("--url needs --hook-secret and --admin-token")
		}
		u, err := url.Parse(cfg.URL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("--url %q is not an absolute URL", cfg.URL)
		}
		r.base = strings.TrimRight(cfg.URL, "/")
		rep.Config.Target = r.base
		rep.Notes = append(rep.Notes, "remote target: seeding, start time, memory and the raw loop are measured only in-process")
	} else {
		stop, err := r.local(ctx)
		if err != nil {
			return nil, err
		}
		defer stop()
		if cfg.SeedOnly {
			rep.Machine.LoadAfter = loadavg()
			return rep, nil
		}
		if cfg.Separate {
			rep.Notes = append(rep.Notes, "service and bare handler each in a process of its own (--separate): the memory is the service's process's")
		} else {
			rep.Notes = append(rep.Notes, "service and load generator share this process's Go runtime: the latencies include the generator's garbage collections, and the memory is theirs together (--separate, or --url and --bare-url, for the service's own)")
		}
	}
	if cfg.URL == "" && cfg.Separate {
		cfg.BareURL = r.bare
	}
	if cfg.BareURL != "" {
		r.bare = strings.TrimRight(cfg.BareURL, "/")
		switch {
		case (cfg.URL == "" && !cfg.Separate) || cfg.GeneratorGC == 0:
		case cfg.GeneratorGC < 0:
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(GeneratorMemoryLimit))
			r.collectBetween = true
			rep.Notes = append(rep.Notes, fmt.Sprintf("load generator alone in this process: its collector is off during attacks (up to %d MiB) and runs between them (--generator-gc -1)", GeneratorMemoryLimit>>20))
		default:
			defer debug.SetGCPercent(debug.SetGCPercent(cfg.GeneratorGC))
			rep.Notes = append(rep.Notes, fmt.Sprintf("load generator alone in this process: its GC percent is %d (--generator-gc)", cfg.GeneratorGC))
		}
	} else {
		bare, err := serveLoopback(BareHandler())
		if err != nil {
			return nil, err
		}
		defer bare.close()
		r.bare = bare.URL
	}

	switch {
	case r.servicePID != 0:
		r.mem = startSamplerOf(strconv.Itoa(r.servicePID), 100*time.Millisecond)
	case cfg.URL == "":
		r.mem = startSampler(100 * time.Millisecond)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	err := r.scenarios(ctx)
	if r.mem != nil {
		m := r.mem.Stop()
		rep.Memory = &m
	}
	rep.Machine.LoadAfter = loadavg()
	return rep, err
}

// add records an attack's result with the memory peak of its phase.
func (r *run) add(l LoadResult) {
	m := r.mem.Phase()
	l.RSSMiB, l.HeapMiB = m.RSSMax, m.HeapInuseMax
	r.rep.Loads = append(r.rep.Loads, l)
}
