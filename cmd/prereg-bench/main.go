// Command prereg-bench measures prereg: it seeds a store, starts the real
// service in-process on loopback (or targets --url), drives the login hook
// and the admin API with vegeta next to a bare gin handler, and prints a
// table (or --json). It asserts no timings.
//
//	go run ./cmd/prereg-bench            # the full run: 1 000 000 records
//	go run ./cmd/prereg-bench --quick    # CI: 20 000 records, 2 s per attack
//	go run ./cmd/prereg-bench --store etcd   # replicated mode: 3 etcd members, 2 replicas
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
	"github.com/prereg/prereg/internal/etcdtest"
)

func main() {
	// A --store etcd run starts this executable again as etcd members.
	etcdtest.RunMemberIfAsked()
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
	c, o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.serveBare != "" {
		fmt.Fprintf(stderr, "bare handler on http://%s\n", o.serveBare)
		return bench.ServeBare(ctx, o.serveBare)
	}
	if c, err = o.apply(c); err != nil {
		return err
	}
	c.Progress = stderr
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	stopPprof, err := servePprof(o.pprofAddr)
	if err != nil {
		return err
	}
	defer stopPprof()
	runner := bench.Run
	if o.store == "etcd" {
		runner = bench.RunEtcd
	}
	rep, err := runner(ctx, c)
	if rep == nil {
		return err
	}
	if werr := o.write(rep, stdout); werr != nil {
		return werr
	}
	return err
}

// options are the flags that shape the command rather than the run.
type options struct {
	quick, asJSON                            bool
	scenarios, jsonOut, pprofAddr, serveBare string
	store, etcdEndpoints                     string
	timeout                                  time.Duration
	records                                  int
	recordsSet, grantedRateSet               bool
}

// etcdGrantedRate is --store etcd's default fixed rate of claims: each is
// a Raft commit on three members, so the hook's login rate would exceed
// what a small cluster commits and measure a queue rather than a latency.
const etcdGrantedRate = 200

// parseFlags reads the flags into a run's configuration and the command's
// options.
func parseFlags(args []string, stderr io.Writer) (bench.Config, options, error) {
	fs := flag.NewFlagSet("prereg-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	c := bench.Defaults()
	fs.BoolVar(&o.quick, "quick", false, "small run for CI: 20 000 records, 2 s per attack, one round")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma-separated subset of: "+strings.Join(bench.AllScenarios, ","))
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the scenarios (not the seeding) to this file: of the service and the load generator with --separate=false, of the generator only otherwise")
	fs.BoolVar(&c.Separate, "separate", true, "serve the seeded store and the bare handler each from a process of its own (this executable, started again); false: both in this process, beside the load generator")
	fs.StringVar(&o.jsonOut, "json-out", "", "also write the JSON report to this file")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060) during the run")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "stop the whole run after this long")
	fs.IntVar(&o.records, "records", c.Dataset.Records, "registrations to seed")
	fs.Float64Var(&c.Dataset.OrgShare, "org-share", c.Dataset.OrgShare, "share (0..1) of registrations that belong to an organization; the rest are tenant-wide")
	fs.IntVar(&c.Dataset.Orgs, "orgs", c.Dataset.Orgs, "organizations the organization rows spread over")
	fs.IntVar(&c.Dataset.Roles, "roles", c.Dataset.Roles, "roles per registration")
	fs.IntVar(&c.PreGranted, "pre-granted", c.PreGranted, "registrations granted before the hook scenarios (already_granted's users)")
	fs.StringVar(&c.URL, "url", "", "target a running service (seeded with --seed-only and the same dataset flags) instead of starting one")
	fs.StringVar(&c.HookSecret, "hook-secret", "", "hook secret of the --url service")
	fs.StringVar(&c.BareURL, "bare-url", "", "target a bare handler served by another process (prereg-bench --serve-bare ADDR) instead of one in this process")
	fs.StringVar(&o.serveBare, "serve-bare", "", "only serve the bare handler on this address (e.g. 127.0.0.1:8090) until interrupted, for --bare-url")
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
	fs.StringVar(&o.store, "store", "bolt", "bolt, or etcd: a 3-member etcd cluster (member processes, or --etcd-endpoints) and two `prereg serve --store etcd` replicas, compared with raw etcd loops")
	fs.StringVar(&o.etcdEndpoints, "etcd-endpoints", "", "with --store etcd: a running cluster's comma-separated client URLs instead of member processes (the run writes under prefixes of its own and deletes them)")
	fs.StringVar(&c.PreregBin, "prereg", "", "with --store etcd: the prereg binary the replicas run (default: built from this module with go build)")
	fs.IntVar(&c.EtcdRate, "etcd-rate", c.EtcdRate, "with --store etcd: fixed rate (logins/s) of the latency attacks over both replicas")
	fs.BoolVar(&c.SkipBoltImport, "skip-bolt-import", false, "with --store etcd: do not time the import into a bbolt service")
	if err := fs.Parse(args); err != nil {
		return c, o, err
	}
	o.recordsSet = isSet(fs, "records")
	o.grantedRateSet = isSet(fs, "granted-rate")
	return c, o, nil
}

// apply puts the options that change the run into c: --quick's sizes,
// --records over them, --scenarios.
func (o options) apply(c bench.Config) (bench.Config, error) {
	if o.quick {
		c = bench.Quick(c)
	}
	if !o.quick || o.recordsSet {
		c.Dataset.Records = o.records
	}
	if o.scenarios != "" {
		c.Scenarios = strings.Split(o.scenarios, ",")
	}
	switch o.store {
	case "bolt":
	case "etcd":
		if !o.grantedRateSet {
			c.GrantedRate = etcdGrantedRate
		}
		if o.etcdEndpoints != "" {
			c.EtcdEndpoints = strings.Split(o.etcdEndpoints, ",")
		}
	default:
		return c, fmt.Errorf("--store %q: want bolt or etcd", o.store)
	}
	if c.SeedOnly && c.DBPath == "" {
		return c, errors.New("--seed-only needs --db")
	}
	return c, nil
}

// servePprof serves net/http/pprof on a loopback address (nothing when
// addr is empty) until the function returned is called.
func servePprof(addr string) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !(host == "127.0.0.1" || host == "localhost" || host == "::1") {
		return nil, fmt.Errorf("--pprof %q: use a loopback address such as 127.0.0.1:6060", addr)
	}
	srv := &http.Server{Addr: addr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	return func() { srv.Close() }, nil
}

// write writes the report to --json-out when set, then to stdout as a
// table or, with --json, as JSON.
func (o options) write(rep *bench.Report, stdout io.Writer) error {
	if o.jsonOut != "" {
		f, err := os.Create(o.jsonOut)
		if err != nil {
			return err
		}
		werr := rep.WriteJSON(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s: %w", o.jsonOut, werr)
		}
	}
	if o.asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteTable(stdout)
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
