package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/bench"
	"github.com/prereg/prereg/internal/etcdtest"
)

// seedOnly runs the command to seed a store with args added, and returns
// the report it printed as JSON.
func seedOnly(t *testing.T, args ...string) bench.Report {
	t.Helper()
	db := filepath.Join(t.TempDir(), "seed.db")
	var stdout, stderr bytes.Buffer
	args = append([]string{"--seed-only", "--db", db, "--json"}, args...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout.String())
	}
	return rep
}

// --records sets the dataset's size, also over --quick's.
func TestRecordsFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"records", []string{"--records", "400"}, 400},
		{"records over quick", []string{"--quick", "--records", "300"}, 300},
		{"quick", []string{"--quick"}, bench.Quick(bench.Defaults()).Dataset.Records},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := seedOnly(t, tt.args...)
			if rep.Seed == nil || rep.Seed.Records != tt.want || rep.Config.Records != tt.want {
				t.Errorf("seeded %+v (config %d records), want %d records", rep.Seed, rep.Config.Records, tt.want)
			}
		})
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"seed only without db", []string{"--seed-only"}, "--seed-only needs --db"},
		{"pprof off loopback", []string{"--pprof", "0.0.0.0:6060", "--seed-only", "--db", "x.db"}, "loopback"},
		{"unknown flag", []string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run %q = %v, want an error naming %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &stdout, &stderr); err != nil {
		t.Errorf("run -h = %v", err)
	}
	if !strings.Contains(stderr.String(), "-generator-gc") {
		t.Errorf("usage lacks the flags:\n%s", stderr.String())
	}
}

// A run in one process writes the table to stdout and the JSON report to
// --json-out.
func TestRunWritesTableAndJSON(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.json")
	args := []string{"--separate=false", "--records", "1500", "--pre-granted", "100", "--duration", "200ms",
		"--concurrency", "4", "--rounds", "1", "--rate", "200", "--scenarios", "no_match", "--start-runs", "1",
		"--dir", dir, "--json-out", out}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "prereg/bare") || !strings.Contains(stdout.String(), "no_match") {
		t.Errorf("table:\n%s", stdout.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Loads) != 4 || len(rep.Ratios) != 1 {
		t.Errorf("--json-out report (%v): %d loads, ratios %+v", err, len(rep.Loads), rep.Ratios)
	}
}

// TestMain lets a --store etcd run start this test binary as its etcd
// members.
func TestMain(m *testing.M) {
	etcdtest.RunMemberIfAsked()
	os.Exit(m.Run())
}

// A --store etcd run on tiny sizes goes end to end: three member
// processes, two replicas, the import against bbolt's, every hook scenario
// over both replicas against its raw etcd loop, and the replicas' memory.
func TestRunEtcdQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prereg and starts etcd member processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prereg")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/prereg/prereg/cmd/prereg").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "report.json")
	args := []string{"--store", "etcd", "--prereg", bin, "--quick", "--records", "600", "--pre-granted", "50",
		"--duration", "300ms", "--concurrency", "4", "--rounds", "1", "--etcd-rate", "100", "--dir", dir, "--json-out", out}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Etcd == nil {
		t.Fatalf("report (%v): %s", err, raw)
	}
	e := rep.Etcd
	if e.Replicas != 2 || e.Members != 3 || len(e.Ratios) != 3 || len(e.ReplicaMemory) != 2 {
		t.Errorf("etcd report: %d replicas, %d members, ratios %+v, %d memories", e.Replicas, e.Members, e.Ratios, len(e.ReplicaMemory))
	}
	if e.Import == nil || e.Import.EtcdSeconds <= 0 || e.Import.BoltSeconds <= 0 {
		t.Errorf("import: %+v", e.Import)
	}
	for _, l := range rep.Loads {
		if l.Errors+l.Mismatches > 0 {
			t.Errorf("%s %s: %d errors, %d wrong answers: %v", l.Scenario, l.Mode, l.Errors, l.Mismatches, l.ErrorSamples)
		}
	}
	if !strings.Contains(stdout.String(), "replicas/raw") {
		t.Errorf("table:\n%s", stdout.String())
	}
}
