// Command prereg-bench measures prereg: it seeds a store, starts the real
// service in-process on loopback (or targets --url), drives the login hook
// and the admin API with vegeta next to a bare gin handler, and prints a
// table (or --json). It asserts no timings.
//
//	go run ./cmd/prereg-bench            # the full run: 1 000 000 records
//	go run ./cmd/prereg-bench --quick    # CI: 20 000 records, 2 s per attack
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with --pprof, on loopback
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prereg/prereg/internal/bench"
)

func main() {
	// A --separate run starts this executable again to serve the store
	// or the bare handler.
	if child, err := bench.RunChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, "prereg-bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "prereg-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prereg-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := bench.Defaults()
	quick := fs.Bool("quick", false, "small run for CI: 20 000 records, 2 s per attack, one round")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	scenarios := fs.String("scenarios", "", "comma-separated subset of: "+strings.Join(bench.AllScenarios, ","))
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the scenarios (not the seeding) to this file: of the service and the load generator with --separate=false, of the generator only otherwise")
	fs.BoolVar(&c.Separate, "separate", true, "serve the seeded store and the bare handler each from a process of its own (this executable, started again); false: both in this process, beside the load generator")
	jsonOut := fs.String("json-out", "", "also write the JSON report to this file")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060) during the run")
	timeout := fs.Duration("timeout", time.Hour, "stop the whole run after this long")
	records := fs.Int("records", c.Dataset.Records, "registrations to seed")
	fs.Float64Var(&c.Dataset.OrgShare, "org-share", c.Dataset.OrgShare, "share (0..1) of registrations that belong to an organization; the rest are tenant-wide")
	fs.IntVar(&c.Dataset.Orgs, "orgs", c.Dataset.Orgs, "organizations the organization rows spread over")
	fs.IntVar(&c.Dataset.Roles, "roles", c.Dataset.Roles, "roles per registration")
	fs.IntVar(&c.PreGranted, "pre-granted", c.PreGranted, "registrations granted before the hook scenarios (already_granted's users)")
	fs.StringVar(&c.URL, "url", "", "target a running service (seeded with --seed-only and the same dataset flags) instead of starting one")
	fs.StringVar(&c.HookSecret, "hook-secret", "", "hook secret of the --url service")
	fs.StringVar(&c.BareURL, "bare-url", "", "target a bare handler served by another process (prereg-bench --serve-bare ADDR) instead of one in this process")
	serveBare := fs.String("serve-bare", "", "only serve the bare handler on this address (e.g. 127.0.0.1:8090) until interrupted, for --bare-url")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin token of the --url service (start it with --admin-rate-limit 0)")
	fs.IntVar(&c.GeneratorGC, "generator-gc", -1, "GC percent of this process when it only generates load (--url and --bare-url set); -1: collector off during each attack (up to 1 GiB) and run between attacks; 0 keeps the runtime's")
	fs.IntVar(&c.Rate, "rate", c.Rate, "fixed rate (requests/s) of the no_match and already_granted attacks")
	fs.IntVar(&c.GrantedRate, "granted-rate", c.GrantedRate, "fixed rate (requests/s) of the granted attack; 0 skips it")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of each attack")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "workers of the maximum-throughput attacks (vegeta max-workers at rate 0) and of the raw db.Batch loop")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "maximum-throughput rounds per hook scenario, alternating prereg and bare")
	fs.IntVar(&c.AdminConcurrency, "admin-concurrency", c.AdminConcurrency, "workers of the list and stats attacks")
	fs.IntVar(&c.ListPages, "list-pages", c.ListPages, "pages of 100 read one after another by the list walks")
	fs.IntVar(&c.ImportRows, "import-rows", c.ImportRows, "rows of the CSV posted to /v1/imports (0 skips)")
	fs.IntVar(&c.StartRuns, "start-runs", c.StartRuns, "service starts measured on the seeded store")
	fs.StringVar(&c.Dir, "dir", "", "directory for the temporary store (default: the system's temporary directory)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary store after the run")
	fs.BoolVar(&c.SeedOnly, "seed-only", false, "seed the store at --db and stop")
	fs.StringVar(&c.DBPath, "db", "", "store file to seed (must not exist; default: a temporary one)")
	fs.BoolVar(&c.LogRequests, "log-requests", true, "write the per-request log to a file in the run's directory, as serve writes it to stderr (false: format it and discard it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *serveBare != "" {
		fmt.Fprintf(stderr, "bare handler on http://%s\n", *serveBare)
		return bench.ServeBare(ctx, *serveBare)
	}
	if *quick {
		c = bench.Quick(c)
	} else {
		c.Dataset.Records = *records
	}
	if fs.Lookup("records") != nil && isSet(fs, "records") {
		c.Dataset.Records = *records
	}
	if *scenarios != "" {
		c.Scenarios = strings.Split(*scenarios, ",")
	}
	if c.SeedOnly && c.DBPath == "" {
		return errors.New("--seed-only needs --db")
	}
	c.Progress = stderr
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *pprofAddr != "" {
		host, _, err := net.SplitHostPort(*pprofAddr)
		if err != nil || !(host == "127.0.0.1" || host == "localhost" || host == "::1") {
			return fmt.Errorf("--pprof %q: use a loopback address such as 127.0.0.1:6060", *pprofAddr)
		}
		srv := &http.Server{Addr: *pprofAddr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	rep, err := bench.Run(ctx, c)
	if rep != nil && *jsonOut != "" {
		f, ferr := os.Create(*jsonOut)
		if ferr != nil {
			return ferr
		}
		werr := rep.WriteJSON(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", *jsonOut, werr)
		}
	}
	if rep != nil {
		if *asJSON {
			if werr := rep.WriteJSON(stdout); werr != nil {
				return werr
			}
		} else if werr := rep.WriteTable(stdout); werr != nil {
			return werr
		}
	}
	return err
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
