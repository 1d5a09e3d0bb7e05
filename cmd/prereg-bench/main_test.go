package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/bench"
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
