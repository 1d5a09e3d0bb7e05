package bench

import (
	"context"
	"fmt"
	"time"
)

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
