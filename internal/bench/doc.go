// Package bench is prereg's load generator and benchmark harness: it seeds
// a store, starts the real service (or targets a running one), drives it
// with vegeta next to a bare gin handler that does only the unavoidable
// HTTP and JSON work, and reports latency, throughput, the prereg/bare
// ratio, start time and memory. It asserts no timings: it measures.
//
// # Whose figures
//
// In one process the service and the load generator share a Go runtime:
// the generator's garbage collections delay the answers it reads, and the
// memory sampled is theirs together. A Separate run (Config.Separate)
// serves the seeded store and the bare handler each from a process of its
// own, started from this executable, as when --url and --bare-url point
// at processes started by hand; the memory sampled is then the service's
// alone. A started process learns what to serve from ChildEnv, and the
// store, the secrets and the log path from the environment too (not from
// its command line, which other users can read). It prints its URL on a
// line of its own and serves until its standard input closes, which also
// happens when the run dies.
//
// When both targets run elsewhere, Config.GeneratorGC tunes this
// process's collector: a collection's stop-the-world phases hold up the
// answers being read, which would count as the target's latency, so by
// default the collector is off during each attack (bounded by
// GeneratorMemoryLimit) and runs between attacks.
//
// # Replicated mode
//
// RunEtcd measures `prereg serve --store etcd`: a 3-member etcd cluster
// whose members are this executable started again (its main calls
// etcdtest.RunMemberIfAsked), or a cluster it is pointed at, and two
// replicas of the prereg binary. The engine's limit there is etcd itself:
// each hook scenario over both replicas is set against a raw loop on the
// same cluster at the same concurrency (linearizable Gets of one key, or
// Txns the size of a claim), and the import against one of import-shaped
// Txns. As every process shares the machine's cores, the run also
// reports each group's CPU time per operation, which explains the ratios.
package bench
