package bench

import (
	"io"
	"time"
)

// Config is one run of the tool.
type Config struct {
	Dataset Dataset
	// PreGranted is how many rows are claimed before the hook scenarios
	// (the users of already_granted); they come first in the dataset.
	PreGranted int

	// URL targets a running service instead of starting one; the service
	// must hold the same dataset (seeded with --seed-only). HookSecret
	// and AdminToken are its credentials (generated for in-process runs).
	URL        string
	HookSecret string
	AdminToken string
	// BareURL targets a bare handler served by another process (ServeBare)
	// instead of one in this process, so that with URL the load generator
	// shares no Go runtime (scheduler, collector) with either target.
	BareURL string

	// Rate and Duration shape the fixed-rate attacks; GrantedRate is the
	// fixed rate of the granted scenario (each request is a write).
	Rate        int
	GrantedRate int
	Duration    time.Duration
	// Concurrency is the number of workers of maximum-throughput attacks.
	Concurrency int
	// Rounds is how many times each maximum-throughput attack runs
	// against prereg and the bare handler, alternating.
	Rounds int
	// AdminConcurrency is the workers of the admin attacks.
	AdminConcurrency int
	// ListPages is how many pages the sequential list walk reads.
	ListPages int
	// ImportRows is the size of the generated CSV posted to /v1/imports
	// (0 skips the import).
	ImportRows int
	// StartRuns is how many times the service start is measured.
	StartRuns int
	// Scenarios limits the run to these scenario names (all when empty).
	Scenarios []string

	// Dir holds the temporary store (os.TempDir when empty); Keep leaves
	// it in place.
	Dir  string
	Keep bool
	// SeedOnly seeds the store at DBPath and stops (to serve it with
	// `prereg serve --db` and run against it with URL).
	SeedOnly bool
	DBPath   string
	// LogRequests writes the per-request log to a file as `prereg serve`
	// does (otherwise it is formatted and discarded).
	LogRequests bool

	// GeneratorGC is this process's GC percent while it only generates load
	// (both targets in other processes); 0 leaves the runtime's setting, -1
	// turns the collector off during attacks (see the package documentation).
	GeneratorGC int

	// Separate serves the seeded store and the bare handler each from a
	// process of its own, started from this executable (see RunChild),
	// instead of in this one: the targets' latencies and the service's
	// memory are then theirs alone. Seeding, start times and the raw loop
	// stay in this process. Ignored with URL.
	Separate bool

	// CPUProfile, when set, receives a CPU profile of the scenarios (not
	// of the seeding) in this process: service and load generator
	// together, or with Separate the generator only.
	CPUProfile string

	// EtcdEndpoints points a RunEtcd run at a running cluster instead of
	// three member processes it starts; PreregBin is the prereg binary
	// its replicas run (built from this module when empty).
	EtcdEndpoints []string
	PreregBin     string
	// EtcdRate is the fixed rate (logins/s) of a RunEtcd run's latency
	// attacks.
	EtcdRate int
	// SkipBoltImport leaves out the bbolt import a RunEtcd run times the
	// etcd import against.
	SkipBoltImport bool

	// Progress receives one line per step (nil: silent).
	Progress io.Writer
}

// Scenario names.
const (
	ScNoMatch        = "no_match"
	ScAlreadyGranted = "already_granted"
	ScGranted        = "granted"
	ScList           = "list"
	ScListFiltered   = "list_filtered"
	ScStats          = "stats"
	ScImport         = "import"
	ScConsole        = "console"
	ScRaw            = "raw_batch"
)

// AllScenarios lists every scenario in run order.
var AllScenarios = []string{ScNoMatch, ScAlreadyGranted, ScGranted, ScList, ScListFiltered, ScStats, ScConsole, ScImport}

// Defaults is the full run, on a store of a million registrations.
func Defaults() Config {
	return Config{
		Dataset:          Dataset{Records: 1_000_000, OrgShare: 0.5, Orgs: 100, Roles: 2},
		PreGranted:       5000,
		Rate:             5000,
		GrantedRate:      1000,
		Duration:         10 * time.Second,
		Concurrency:      32,
		Rounds:           2,
		AdminConcurrency: 4,
		ListPages:        200,
		ImportRows:       10000,
		StartRuns:        3,
		EtcdRate:         1000,
	}
}

// Quick shrinks c for CI: a small store and a couple of seconds per attack.
func Quick(c Config) Config {
	c.Dataset.Records = 20000
	c.PreGranted = 1000
	c.Duration = 2 * time.Second
	c.Rounds = 1
	c.ListPages = 20
	c.ImportRows = 1000
	c.StartRuns = 1
	return c
}

// GeneratorMemoryLimit bounds the generator's heap while its collector is
// off (Config.GeneratorGC -1): past it the runtime collects anyway, so an
// unusually long or fast attack cannot exhaust the machine's memory.
const GeneratorMemoryLimit = 1 << 30
