package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prereg/prereg/internal/bench"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
)

// TestMain lets a Separate run start this test binary as its service and
// bare-handler processes, and an etcd run as its etcd members.
func TestMain(m *testing.M) {
	etcdtest.RunMemberIfAsked()
	if child, err := bench.RunChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunSeparate runs the hook and admin scenarios with the service and
// the bare handler each in a process of its own: every answer is right,
// the memory is the service process's, the generator collects only
// between attacks, and both processes are gone when the run returns (the
// store is no longer locked, and holds exactly the grants answered).
func TestRunSeparate(t *testing.T) {
	c := tiny(t)
	c.Separate, c.GeneratorGC = true, -1
	c.DBPath = filepath.Join(t.TempDir(), "separate.db")
	c.Scenarios = []string{bench.ScNoMatch, bench.ScAlreadyGranted, bench.ScGranted, bench.ScList, bench.ScStats}
	rep, err := bench.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkLoads(t, rep.Loads)
	for _, l := range rep.Loads {
		if l.GCs != 0 {
			t.Errorf("%s %s %s: %d collections in the generator during the attack", l.Scenario, l.Target, l.Mode, l.GCs)
		}
	}
	if len(rep.Ratios) != 3 || len(rep.Raw) != 1 {
		t.Errorf("ratios %+v, raw rounds %d", rep.Ratios, len(rep.Raw))
	}
	if rep.Config.Target != "separate processes" {
		t.Errorf("report target %q", rep.Config.Target)
	}
	if !hasNote(rep, "each in a process of its own") || hasNote(rep, "share this process's Go runtime") {
		t.Errorf("notes %q", rep.Notes)
	}
	if m := rep.Memory; m == nil || !m.Separate || (m.Available && (m.RSSMax <= 0 || m.HeapInuseMax != 0)) {
		t.Errorf("memory = %+v, want the service process's", m)
	}
	granted := grantedAnswers(rep.Loads)
	if got, want := storeGrants(t, c.DBPath), uint64(c.PreGranted)+granted; got != want {
		t.Errorf("store holds %d grants, want %d (%d pre-granted, %d answered granted)", got, want, c.PreGranted, granted)
	}
}

// grantedAnswers counts the requests of prereg's granted attacks.
func grantedAnswers(loads []bench.LoadResult) uint64 {
	var n uint64
	for _, l := range loads {
		if l.Scenario == bench.ScGranted && l.Target == "prereg" {
			n += l.Requests
		}
	}
	return n
}

// storeGrants opens the store at path, which no process may hold any
// more, and counts its granted registrations.
func storeGrants(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("the store is still held after the run: %v", err)
	}
	defer st.Close()
	stats, err := st.Stats(context.Background(), prereg.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return uint64(stats.Overall.Granted)
}
