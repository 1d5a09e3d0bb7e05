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

// scenarios runs every wanted scenario in order.
func (r *run) scenarios(ctx context.Context) error {
	cfg := r.cfg
	d := cfg.Dataset
	if r.want(ScAlreadyGranted) && cfg.PreGranted > 0 {
		r.logf("pre-granting %d registrations", cfg.PreGranted)
		pre := counter(0, cfg.PreGranted, false)
		res := r.attack(ctx, "pre-grant", hookTargeter(r.base, cfg.HookSecret, pre, func(i int) []byte {
			return loginBody(d.UserID(i), d.Email(i), d.Org(i), true)
		}), Load{Concurrency: cfg.Concurrency, Duration: 10 * time.Minute, MaxRequests: uint64(cfg.PreGranted)}, outcomeIs("granted"))
		if res.Errors+res.Mismatches > 0 {
			return fmt.Errorf("pre-granting failed: %d errors, %d unexpected answers: %v", res.Errors, res.Mismatches, res.ErrorSamples)
		}
	}
	type hookScenario struct {
		name    string
		body    func(i int) []byte
		next    func(bare bool) func() int
		outcome string
		rate    int
	}
	scenarios := []hookScenario{
		{ScNoMatch, func(i int) []byte {
			return loginBody("auth0|nobody"+pad(i, 8), d.NoMatchEmail(i), "", true)
		}, func(bool) func() int { return counter(0, 1<<30, true) }, "no_match", cfg.Rate},
		{ScAlreadyGranted, func(i int) []byte {
			return loginBody(d.UserID(i), d.Email(i), d.Org(i), true)
		}, func(bool) func() int { return counter(0, max(cfg.PreGranted, 1), true) }, "already_granted", cfg.Rate},
		{ScGranted, func(i int) []byte {
			return loginBody(d.UserID(i), d.Email(i), d.Org(i), true)
		}, func(bare bool) func() int {
			if bare {
				return counter(cfg.PreGranted, d.Records, true)
			}
			return func() int { return int(r.granted.Add(1)) - 1 }
		}, "granted", cfg.GrantedRate},
	}
	for _, sc := range scenarios {
		if !r.want(sc.name) {
			continue
		}
		if sc.name == ScAlreadyGranted && cfg.PreGranted == 0 {
			r.rep.Notes = append(r.rep.Notes, "already_granted skipped: --pre-granted is 0")
			continue
		}
		var preregSum, bareSum float64
		for round := 1; round <= cfg.Rounds; round++ {
			// ABBA order: drift over the run favours neither side.
			order := []bool{false, true}
			if round%2 == 0 {
				order = []bool{true, false}
			}
			for _, bare := range order {
				res := r.hookAttack(ctx, sc.name, sc.body, sc.next(bare), sc.outcome, bare, Load{Concurrency: cfg.Concurrency, Duration: cfg.Duration, MaxRequests: r.budget(sc.name, bare, 0)})
				res.Round = round
				if bare {
					bareSum += res.Throughput
				} else {
					preregSum += res.Throughput
				}
				r.add(res)
			}
			if sc.name == ScGranted && r.rawDB != "" {
				if err := r.rawRound(ctx, round); err != nil {
					return err
				}
			}
		}
		ratio := Ratio{Scenario: sc.name, Prereg: preregSum / float64(cfg.Rounds), Bare: bareSum / float64(cfg.Rounds)}
		if bareSum > 0 {
			ratio.Ratio = preregSum / bareSum
		}
		r.rep.Ratios = append(r.rep.Ratios, ratio)
		if sc.rate > 0 {
			for _, bare := range []bool{false, true} {
				r.add(r.hookAttack(ctx, sc.name, sc.body, sc.next(bare), sc.outcome, bare, Load{Rate: sc.rate, Duration: cfg.Duration, MaxRequests: r.budget(sc.name, bare, sc.rate)}))
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if r.rawDB != "" && len(r.rep.Raw) > 0 {
		var grants, raw float64
		for _, l := range r.rep.Loads {
			if l.Scenario == ScGranted && l.Target == "prereg" && l.Mode == "max" {
				grants += l.Throughput / float64(cfg.Rounds)
			}
		}
		for _, x := range r.rep.Raw {
			raw += x.PerSecond / float64(len(r.rep.Raw))
		}
		g := &GrantsVsRaw{GrantsPerSecond: grants, RawPerSecond: raw}
		if raw > 0 {
			g.Ratio = grants / raw
		}
		r.rep.Grants = g
	}
	if err := r.admin(ctx); err != nil {
		return err
	}
	if r.want(ScImport) && cfg.ImportRows > 0 {
		if err := r.importCSV(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// budget bounds an attack's request count: time × a generous rate, and for
// prereg's granted scenario the pending rows left.
func (r *run) budget(sc string, bare bool, rate int) uint64 {
	n := uint64(r.cfg.Duration.Seconds() * 200000)
	if rate > 0 {
		n = uint64(r.cfg.Duration.Seconds()*float64(rate)) + 1
	}
	if sc == ScGranted && !bare {
		// Each request claims a row of its own: never more than are left.
		n = min(n, uint64(max(int64(r.cfg.Dataset.Records)-r.granted.Load(), 0)))
	}
	return n
}

func (r *run) hookAttack(ctx context.Context, name string, body func(int) []byte, next func() int, outcome string, bare bool, l Load) LoadResult {
	base, target, check := r.base, "prereg", outcomeIs(outcome)
	secret := r.cfg.HookSecret
	if bare {
		base, target, check = r.bare, "bare", outcomeIs("no_match")
	}
	res := r.attack(ctx, name, hookTargeter(base, secret, next, body), l, check)
	res.Target = target
	r.logf("%-16s %-6s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d mismatches %d gc %d",
		name, target, res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors, res.Mismatches, res.GCs)
	return res
}

// add records an attack's result with the memory peak of its phase.
func (r *run) add(l LoadResult) {
	m := r.mem.Phase()
	l.RSSMiB, l.HeapMiB = m.RSSMax, m.HeapInuseMax
	r.rep.Loads = append(r.rep.Loads, l)
}

func (r *run) rawRound(ctx context.Context, round int) error {
	db, err := openRaw(r.rawDB)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := rawGrants(ctx, db, r.cfg.Dataset, r.raw, r.cfg.Concurrency, r.cfg.Duration, 0)
	if err != nil {
		return err
	}
	db.Close() // unmap the copy before the memory phase ends
	res.Round = round
	res.RSSMiB = r.mem.Phase().RSSMax
	r.rep.Raw = append(r.rep.Raw, res)
	r.logf("%-16s %-6s %-4s %8d ops %9.0f/s", ScRaw, "bbolt", "max", res.Batches, res.PerSecond)
	return nil
}
