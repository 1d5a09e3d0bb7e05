package bench

import (
	"context"
	"fmt"
	"time"
)

// scenarios runs every wanted scenario in order.
func (r *run) scenarios(ctx context.Context) error {
	if err := r.preGrant(ctx, []string{r.base}); err != nil {
		return err
	}
	for _, sc := range r.hookScenarios() {
		if err := r.runHook(ctx, sc); err != nil {
			return err
		}
	}
	r.compareGrants()
	if err := r.admin(ctx); err != nil {
		return err
	}
	if r.want(ScConsole) {
		if err := r.console(ctx); err != nil {
			return err
		}
	}
	if r.want(ScImport) && r.cfg.ImportRows > 0 {
		if err := r.importCSV(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// preGrant grants the first PreGranted rows through the services at bases
// (alternating): the users already_granted logs in again.
func (r *run) preGrant(ctx context.Context, bases []string) error {
	cfg := r.cfg
	if !r.want(ScAlreadyGranted) || cfg.PreGranted <= 0 {
		return nil
	}
	r.logf("pre-granting %d registrations", cfg.PreGranted)
	pre := newCounter(0, cfg.PreGranted, false).next
	res := r.attack(ctx, "pre-grant", hookTargeterOver(bases, cfg.HookSecret, pre, r.hookBody(ScGranted)),
		Load{Concurrency: cfg.Concurrency, Duration: 30 * time.Minute, MaxRequests: uint64(cfg.PreGranted)}, outcomeIs("granted"))
	if res.Errors+res.Mismatches > 0 {
		return fmt.Errorf("pre-granting failed: %d errors, %d unexpected answers: %v", res.Errors, res.Mismatches, res.ErrorSamples)
	}
	return nil
}

// hookScenario is one kind of login the hook attacks send.
type hookScenario struct {
	name string
	// outcome is the one prereg must answer (the bare handler's is fixed).
	outcome string
	// rate is the fixed-rate attack's; 0 skips it.
	rate int
}

func (r *run) hookScenarios() []hookScenario {
	return []hookScenario{
		{ScNoMatch, "no_match", r.cfg.Rate},
		{ScAlreadyGranted, "already_granted", r.cfg.Rate},
		{ScGranted, "granted", r.cfg.GrantedRate},
	}
}

// hookBody builds the login of row i: an unknown user for no_match, the
// row's own user otherwise.
func (r *run) hookBody(sc string) func(i int) []byte {
	d := r.cfg.Dataset
	if sc == ScNoMatch {
		return func(i int) []byte { return loginBody("auth0|nobody"+pad(i, 8), d.NoMatchEmail(i), "", true) }
	}
	return func(i int) []byte { return loginBody(d.UserID(i), d.Email(i), d.Org(i), true) }
}

// rows hands out the rows one attack logs in. Prereg's granted attacks
// share one sequence, so that each row is claimed once in the whole run.
func (r *run) rows(sc string, bare bool) func() int {
	switch {
	case sc == ScNoMatch:
		return newCounter(0, 1<<30, true).next
	case sc == ScAlreadyGranted:
		return newCounter(0, max(r.cfg.PreGranted, 1), true).next
	case bare:
		return newCounter(r.cfg.PreGranted, r.cfg.Dataset.Records, true).next
	default:
		return r.granted.next
	}
}

// runHook runs a hook scenario's maximum-throughput rounds and its
// fixed-rate attacks, against prereg and the bare handler.
func (r *run) runHook(ctx context.Context, sc hookScenario) error {
	if !r.want(sc.name) {
		return nil
	}
	if sc.name == ScAlreadyGranted && r.cfg.PreGranted == 0 {
		r.note("already_granted skipped: --pre-granted is 0")
		return nil
	}
	ratio, err := r.maxRounds(ctx, sc)
	if err != nil {
		return err
	}
	r.rep.Ratios = append(r.rep.Ratios, ratio)
	if sc.rate > 0 {
		for _, bare := range []bool{false, true} {
			r.add(r.hookAttack(ctx, sc, bare, Load{Rate: sc.rate, Duration: r.cfg.Duration, MaxRequests: r.budget(sc.name, bare, sc.rate)}))
		}
	}
	return ctx.Err()
}

// maxRounds runs the maximum-throughput rounds, prereg and bare in ABBA
// order so that drift over the run favours neither side, each granted
// round followed by one of the raw loop.
func (r *run) maxRounds(ctx context.Context, sc hookScenario) (Ratio, error) {
	cfg := r.cfg
	var preregSum, bareSum float64
	for round := 1; round <= cfg.Rounds; round++ {
		order := []bool{false, true}
		if round%2 == 0 {
			order = []bool{true, false}
		}
		for _, bare := range order {
			res := r.hookAttack(ctx, sc, bare, Load{Concurrency: cfg.Concurrency, Duration: cfg.Duration, MaxRequests: r.budget(sc.name, bare, 0)})
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
				return Ratio{}, err
			}
		}
	}
	ratio := Ratio{Scenario: sc.name, Prereg: preregSum / float64(cfg.Rounds), Bare: bareSum / float64(cfg.Rounds)}
	if bareSum > 0 {
		ratio.Ratio = preregSum / bareSum
	}
	return ratio, nil
}

// compareGrants sets the report's grants through the service against the
// raw loop's, when both ran.
func (r *run) compareGrants() {
	if r.rawDB == "" || len(r.rep.Raw) == 0 {
		return
	}
	var grants, raw float64
	for _, l := range r.rep.Loads {
		if l.Scenario == ScGranted && l.Target == "prereg" && l.Mode == "max" {
			grants += l.Throughput / float64(r.cfg.Rounds)
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

// budget bounds an attack's request count: time × a generous rate, and for
// prereg's granted scenario the pending rows left.
func (r *run) budget(sc string, bare bool, rate int) uint64 {
	n := uint64(r.cfg.Duration.Seconds() * 200000)
	if rate > 0 {
		n = uint64(r.cfg.Duration.Seconds()*float64(rate)) + 1
	}
	if sc == ScGranted && !bare {
		// Each request claims a row of its own: never more than are left.
		n = min(n, uint64(r.granted.left()))
	}
	return n
}

// hookAttack runs one attack of a hook scenario on prereg or on the bare
// handler.
func (r *run) hookAttack(ctx context.Context, sc hookScenario, bare bool, l Load) LoadResult {
	name := sc.name
	base, target, check := r.base, "prereg", outcomeIs(sc.outcome)
	if bare {
		base, target, check = r.bare, "bare", outcomeIs("no_match")
	}
	tr := hookTargeter(base, r.cfg.HookSecret, r.rows(name, bare), r.hookBody(name))
	res := r.attack(ctx, name, tr, l, check)
	res.Target = target
	r.logf("%-16s %-6s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d mismatches %d gc %d",
		name, target, res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors, res.Mismatches, res.GCs)
	return res
}

// rawRound runs the raw loop once on its copy of the store.
func (r *run) rawRound(ctx context.Context, round int) error {
	db, err := openRaw(r.rawDB)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := rawGrants(ctx, db, r.cfg.Dataset, r.raw.next, r.cfg.Concurrency, r.cfg.Duration, 0)
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
