package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run measured.
type Report struct {
	Machine  Machine       `json:"machine"`
	Config   ReportConfig  `json:"config"`
	Seed     *SeedResult   `json:"seed,omitempty"`
	Start    []StartTime   `json:"start,omitempty"`
	Loads    []LoadResult  `json:"loads"`
	Ratios   []Ratio       `json:"ratios"`
	Raw      []RawResult   `json:"raw,omitempty"`
	Grants   *GrantsVsRaw  `json:"grants_vs_raw,omitempty"`
	ListWalk []WalkResult  `json:"list_walks,omitempty"`
	Import   *ImportResult `json:"import,omitempty"`
	Memory   *Memory       `json:"memory,omitempty"`
	Etcd     *EtcdReport   `json:"etcd,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
}

// Machine says where the figures come from.
type Machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"model"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	// LoadBefore and LoadAfter are /proc/loadavg: other work on the
	// machine skews the figures.
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

// ReportConfig is the part of Config a report repeats.
type ReportConfig struct {
	Records     int     `json:"records"`
	OrgShare    float64 `json:"org_share"`
	Roles       int     `json:"roles"`
	Target      string  `json:"target"`
	Rate        int     `json:"rate"`
	GrantedRate int     `json:"granted_rate"`
	Duration    string  `json:"duration"`
	Concurrency int     `json:"concurrency"`
	Rounds      int     `json:"rounds"`
}

// SeedResult is how the store was filled.
type SeedResult struct {
	Records   int     `json:"records"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	FileMiB   float64 `json:"file_mib"`
}

// StartTime is one service start on the seeded store: Open is the store
// opening, Ready the time until /readyz answered 200.
type StartTime struct {
	Open  time.Duration `json:"open_ns"`
	Ready time.Duration `json:"ready_ns"`
}

// Ratio is prereg's maximum throughput over the bare handler's for one
// hook scenario, summed over the rounds.
type Ratio struct {
	Scenario string  `json:"scenario"`
	Prereg   float64 `json:"prereg_rps"`
	Bare     float64 `json:"bare_rps"`
	Ratio    float64 `json:"ratio"`
}

// GrantsVsRaw compares grants through the service with the raw loop.
type GrantsVsRaw struct {
	GrantsPerSecond float64 `json:"grants_per_second"`
	RawPerSecond    float64 `json:"raw_per_second"`
	Ratio           float64 `json:"ratio"`
}

// WalkResult is a sequential walk through list pages following cursors.
type WalkResult struct {
	Scenario string `json:"scenario"`
	Pages    int    `json:"pages"`
	Items    int    `json:"items"`
	P50      Millis `json:"p50_ms"`
	P99      Millis `json:"p99_ms"`
	Max      Millis `json:"max_ms"`
	Errors   int    `json:"errors"`
}

// ImportResult is the CSV import through the service.
type ImportResult struct {
	Rows      int     `json:"rows"`
	Status    int     `json:"status"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"rows_per_second"`
	Created   int     `json:"created"`
	Rejected  int     `json:"rejected"`
	Skipped   string  `json:"skipped,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as aligned text tables.
func (rep *Report) WriteTable(w io.Writer) error {
	rep.writeRun(w)
	fmt.Fprintln(w)
	if err := rep.writeLoads(w); err != nil {
		return err
	}
	rep.writeRatios(w)
	rep.writeSummaries(w)
	rep.writeMemory(w)
	rep.Etcd.write(w)
	for _, n := range slices.Compact(slices.Clone(rep.Notes)) {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// writeRun describes the machine, the run, the seeding and the starts.
func (rep *Report) writeRun(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), GOMAXPROCS %d, %s %s, load average %s before, %s after\n",
		m.CPUs, m.Model, m.GOMAXPROCS, m.Go, m.OS, m.LoadBefore, m.LoadAfter)
	c := rep.Config
	fmt.Fprintf(w, "run: %d records (org share %.2f, %d roles), target %s, %s per attack, concurrency %d, rate %d/s (granted %d/s), %d round(s)\n",
		c.Records, c.OrgShare, c.Roles, c.Target, c.Duration, c.Concurrency, c.Rate, c.GrantedRate, c.Rounds)
	if s := rep.Seed; s != nil {
		fmt.Fprintf(w, "seed: %d records in %.1fs (%.0f/s), store file %.0f MiB\n", s.Records, s.Seconds, s.PerSecond, s.FileMiB)
	}
	if len(rep.Start) > 0 {
		fmt.Fprint(w, "start (open store → /readyz 200):")
		for _, s := range rep.Start {
			fmt.Fprintf(w, " %s (open %s)", s.Ready.Round(10*time.Microsecond), s.Open.Round(10*time.Microsecond))
		}
		fmt.Fprintln(w)
	}
}

// writeLoads writes the table of attacks, then the raw loop's rounds.
func (rep *Report) writeLoads(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tmode\tround\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\twrong\tRSS MiB\t")
	for _, l := range rep.Loads {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\t\n",
			l.Scenario, l.Target, l.modeCell(), l.roundCell(), l.Requests, l.Throughput, l.P50, l.P90, l.P99, l.Max, l.Errors, l.Mismatches, l.rssCell())
	}
	for _, x := range rep.Raw {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.0f\t\t\t\t\t\t\t%.0f\t\n", ScRaw, "bbolt", fmt.Sprintf("c=%d", x.Workers), x.Round, x.Batches, x.PerSecond, x.RSSMiB)
	}
	return tw.Flush()
}

// modeCell is the concurrency of a maximum-throughput attack, or the rate
// of a fixed-rate one.
func (l LoadResult) modeCell() string {
	if l.Mode == "rate" {
		return fmt.Sprintf("%d/s", l.Rate)
	}
	return fmt.Sprintf("c=%d", l.Concurrency)
}

// roundCell is empty for an attack outside the rounds.
func (l LoadResult) roundCell() string {
	if l.Round > 0 {
		return fmt.Sprint(l.Round)
	}
	return ""
}

// rssCell is empty where the RSS was not measured.
func (l LoadResult) rssCell() string {
	if l.RSSMiB > 0 {
		return fmt.Sprintf("%.0f", l.RSSMiB)
	}
	return ""
}

// writeRatios writes prereg's throughput over the bare handler's.
func (rep *Report) writeRatios(w io.Writer) {
	if len(rep.Ratios) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hook scenario\tprereg req/s\tbare req/s\tprereg/bare\t")
	for _, r := range rep.Ratios {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t\n", r.Scenario, r.Prereg, r.Bare, r.Ratio)
	}
	tw.Flush()
}

// writeSummaries writes the grants comparison, the list walks and the
// import.
func (rep *Report) writeSummaries(w io.Writer) {
	if g := rep.Grants; g != nil {
		fmt.Fprintf(w, "\ngrants: %.0f/s through the service vs %.0f/s raw db.Batch grant writes: %.2f\n", g.GrantsPerSecond, g.RawPerSecond, g.Ratio)
	}
	if len(rep.ListWalk) > 0 {
		fmt.Fprintln(w)
		for _, lw := range rep.ListWalk {
			fmt.Fprintf(w, "%s walk: %d pages (%d items) one after another: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", lw.Scenario, lw.Pages, lw.Items, lw.P50, lw.P99, lw.Max)
		}
	}
	if im := rep.Import; im != nil {
		if im.Skipped != "" {
			fmt.Fprintf(w, "import: skipped (%s)\n", im.Skipped)
		} else {
			fmt.Fprintf(w, "import: %d rows through POST /v1/imports in %.2fs: %.0f rows/s (%d created, %d rejected)\n", im.Rows, im.Seconds, im.PerSecond, im.Created, im.Rejected)
		}
	}
}

// writeMemory writes the memory under load, saying whose it is.
func (rep *Report) writeMemory(w io.Writer) {
	mem := rep.Memory
	switch {
	case mem == nil || !mem.Available:
	case mem.Separate:
		fmt.Fprintf(w, "memory under load (the service's own process): RSS max %.0f MiB (anon %.0f, mapped files %.0f), peak %.0f MiB\n",
			mem.RSSMax, mem.RSSAnonMax, mem.RSSFileMax, mem.HWM)
	default:
		fmt.Fprintf(w, "memory under load (service + load generator + the raw loop's map, one process): RSS max %.0f MiB (anon %.0f, mapped files %.0f), peak %.0f MiB, Go heap in use max %.0f MiB\n",
			mem.RSSMax, mem.RSSAnonMax, mem.RSSFileMax, mem.HWM, mem.HeapInuseMax)
	}
}

// write writes the replicated mode's figures: raw loops, ratios, import
// and the replicas' memory (nothing for a bbolt run).
func (e *EtcdReport) write(w io.Writer) {
	if e == nil {
		return
	}
	fmt.Fprintf(w, "\netcd: %d replicas over %s\n", e.Replicas, strings.Join(e.Endpoints, ","))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "raw etcd loop\tround\tworkers\tops\tops/s\tp99 ms\terrors\t")
	for _, x := range e.Raw {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.2f\t%d\t\n", x.Kind, x.Round, x.Workers, x.Ops, x.PerSecond, x.P99, x.Errors)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "hook scenario\treplicas req/s\traw etcd\traw ops/s\treplicas/raw\t")
	for _, r := range e.Ratios {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.0f\t%.2f\t\n", r.Scenario, r.Prereg, r.Raw, r.RawRPS, r.Ratio)
	}
	tw.Flush()
	if len(e.CPU) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "CPU ms per op\ttarget\tround\treplicas\tetcd members\tgenerator/client\t")
		for _, c := range e.CPU {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t\n", c.Scenario, c.Target, c.Round, c.ReplicasMs, c.EtcdMs, c.GeneratorMs)
		}
		tw.Flush()
	}
	if i := e.Idle; i != nil {
		fmt.Fprintf(w, "idle (no load), CPU ms per second: replicas %.1f, etcd members %.1f, generator %.1f\n", i.ReplicasMs, i.EtcdMs, i.GeneratorMs)
	}
	if im := e.Import; im != nil && im.EtcdSeconds > 0 {
		fmt.Fprintf(w, "import: %d rows through POST /v1/imports: etcd %.1fs (%.0f rows/s), bbolt %.1fs: %.2f× bbolt; raw import Txns %.0f rows/s\n",
			im.Rows, im.EtcdSeconds, float64(im.Rows)/im.EtcdSeconds, im.BoltSeconds, im.Ratio, im.RawRowsPerSecond)
		if im.FloorRowsPerSecond > 0 {
			fmt.Fprintf(w, "import floor (one put per registration, %d per Txn): %.0f rows/s, %d rows in %.1fs",
				floorRowsPerTxn, im.FloorRowsPerSecond, im.Rows, im.FloorSeconds)
			if im.FloorRatio > 0 {
				fmt.Fprintf(w, ": %.2f× bbolt", im.FloorRatio)
			}
			fmt.Fprintln(w)
		}
	}
	for i, m := range e.ImportMemory {
		fmt.Fprintf(w, "replica %d during the import: RSS max %.0f MiB, peak %.0f MiB\n", i, m.RSSMax, m.HWM)
	}
	for i, m := range e.ReplicaMemory {
		fmt.Fprintf(w, "replica %d during the logins: RSS max %.0f MiB (anon %.0f), peak %.0f MiB\n", i, m.RSSMax, m.RSSAnonMax, m.HWM)
	}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadavg()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.Model = strings.TrimSpace(val)
				break
			}
		}
	}
	return m
}

func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
