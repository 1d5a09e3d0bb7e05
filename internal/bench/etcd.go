package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/etcdtest"
)

// EtcdReport is what a --store etcd run measured: the import against
// bbolt's, each hook scenario over the replicas against a raw etcd loop of
// the same concurrency, the fixed-rate latencies and the replicas' memory.
type EtcdReport struct {
	Endpoints []string    `json:"endpoints"`
	Members   int         `json:"members,omitempty"`
	Replicas  int         `json:"replicas"`
	Import    *EtcdImport `json:"import,omitempty"`
	Raw       []EtcdRaw   `json:"raw"`
	Ratios    []EtcdRatio `json:"ratios"`
	// ReplicaMemory is each replica's process during the logins (after
	// the import), ImportMemory during the import.
	ReplicaMemory []Memory `json:"replica_memory,omitempty"`
	ImportMemory  []Memory `json:"import_memory,omitempty"`
	// CPU is where the processor time of each maximum-throughput attack
	// and raw loop went, per operation: on a machine whose cores every
	// process shares, it is what decides the throughput.
	CPU []EtcdCPU `json:"cpu,omitempty"`
	// Idle is the CPU time the same processes use with no load, in
	// milliseconds per second (raft heartbeats, the replicas' watches,
	// leases and probes): part of every per-operation figure above.
	Idle *EtcdCPU `json:"idle_cpu_ms_per_s,omitempty"`
}

// EtcdCPU is the CPU time per operation of one attack or raw loop, in
// milliseconds: the replicas', the etcd members' (started by the run only)
// and this process's (the load generator or the raw loop's client).
type EtcdCPU struct {
	Scenario    string  `json:"scenario"`
	Target      string  `json:"target"`
	Round       int     `json:"round,omitempty"`
	ReplicasMs  float64 `json:"replicas_ms"`
	EtcdMs      float64 `json:"etcd_ms"`
	GeneratorMs float64 `json:"generator_ms"`
}

// EtcdImport is the same CSV imported through POST /v1/imports into a
// bbolt service and into the etcd replicas.
type EtcdImport struct {
	Rows        int     `json:"rows"`
	BoltSeconds float64 `json:"bolt_seconds"`
	EtcdSeconds float64 `json:"etcd_seconds"`
	Ratio       float64 `json:"ratio"`
	// RawRowsPerSecond is the raw import loop's rate (rawImports): the
	// engine's limit for writing new registrations, to set EtcdSeconds
	// against.
	RawRowsPerSecond float64 `json:"raw_rows_per_second,omitempty"`
	// FloorRowsPerSecond is the import floor loop's rate (rawImportFloor):
	// one put per registration, the least any layout with a key per
	// registration can write. FloorSeconds
	// is Rows at that rate and FloorRatio FloorSeconds ÷ BoltSeconds: the
	// best ratio this cluster allows.
	FloorRowsPerSecond float64 `json:"floor_rows_per_second,omitempty"`
	FloorSeconds       float64 `json:"floor_seconds,omitempty"`
	FloorRatio         float64 `json:"floor_ratio,omitempty"`
}

// EtcdRatio is a hook scenario's maximum throughput over both replicas
// against the raw etcd loop it is compared with, averaged over rounds.
type EtcdRatio struct {
	Scenario string  `json:"scenario"`
	Raw      string  `json:"raw"`
	Prereg   float64 `json:"prereg_rps"`
	RawRPS   float64 `json:"raw_rps"`
	Ratio    float64 `json:"ratio"`
}

// etcdRun is the state of a --store etcd run.
type etcdRun struct {
	*run
	dir      string
	bin      string
	prefix   string
	rawRun   string
	eps      []string
	clients  []*clientv3.Client
	replicas []*replica
	er       *EtcdReport
	procs    *etcdtest.Procs // nil with Config.EtcdEndpoints
	cpu      *cpuGroups
}

// replica is one `prereg serve --store etcd` process.
type replica struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// RunEtcd is Run for the replicated mode: a 3-member etcd cluster of
// processes (this executable re-executed; its main calls
// etcdtest.RunMemberIfAsked) or Config.EtcdEndpoints, two replicas of the
// prereg binary over it, and the scenarios of the package documentation
// against raw etcd loops instead of the bare handler.
func RunEtcd(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.PreGranted >= cfg.Dataset.Records/2 {
		cfg.PreGranted = cfg.Dataset.Records / 4
	}
	r := &etcdRun{run: newRun(cfg), er: &EtcdReport{Raw: []EtcdRaw{}, Ratios: []EtcdRatio{}}}
	r.rep.Etcd = r.er
	r.rep.Config.Target = "etcd"
	r.rep.Config.Rate = cfg.EtcdRate
	dir, err := os.MkdirTemp(cfg.Dir, "prereg-bench-etcd-*")
	if err != nil {
		return nil, err
	}
	r.dir = dir
	if !cfg.Keep {
		defer os.RemoveAll(dir)
	}
	stop, err := r.setUp(ctx)
	defer stop()
	if err == nil {
		err = r.scenarios(ctx)
	}
	r.rep.Machine.LoadAfter = loadavg()
	return r.rep, err
}

// setUp starts (or reaches) the cluster, starts the replicas and seeds the
// dataset through them; the function returned stops what it started.
func (r *etcdRun) setUp(ctx context.Context) (func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	r.eps = r.cfg.EtcdEndpoints
	if len(r.eps) == 0 {
		r.logf("starting a 3-member etcd cluster (member processes)")
		procs, err := etcdtest.Launch(ctx, etcdtest.LaunchOptions{Members: 3, Dir: filepath.Join(r.dir, "etcd"), QuotaBytes: 8 << 30})
		if err != nil {
			return stop, err
		}
		stops = append(stops, procs.Close)
		r.procs = procs
		r.eps = procs.Endpoints()
		r.er.Members = 3
	}
	r.er.Endpoints = r.eps
	run := randomHex(6)
	r.prefix, r.rawRun = "/prereg-bench-"+run+"/", run
	for range 2 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: r.eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return stop, err
		}
		r.clients = append(r.clients, cli)
		stops = append(stops, func() { cli.Close() })
	}
	stops = append(stops, r.cleanKeys)
	bin, err := r.preregBinary(ctx)
	if err != nil {
		return stop, err
	}
	r.bin = bin
	r.cfg.HookSecret, r.cfg.AdminToken = "phs_"+randomHex(24), "prt_"+randomHex(24)
	for i := range 2 {
		rp, err := r.startReplica(ctx, i)
		if err != nil {
			return stop, err
		}
		r.replicas = append(r.replicas, rp)
		stops = append(stops, rp.stop)
	}
	r.er.Replicas = len(r.replicas)
	r.base = r.replicas[0].url
	r.cpu = newCPUGroups(r.cpuProcesses())
	return stop, r.seedEtcd(ctx)
}

// cleanKeys deletes what the run wrote to a cluster it did not start.
func (r *etcdRun) cleanKeys() {
	if len(r.cfg.EtcdEndpoints) == 0 || len(r.clients) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = r.clients[0].Delete(ctx, r.prefix, clientv3.WithPrefix())
	_, _ = r.clients[0].Delete(ctx, rawEtcdKey(r.rawRun), clientv3.WithPrefix())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// preregBinary is Config.PreregBin, or prereg built from this module.
func (r *etcdRun) preregBinary(ctx context.Context) (string, error) {
	if r.cfg.PreregBin != "" {
		return r.cfg.PreregBin, nil
	}
	bin := filepath.Join(r.dir, "prereg")
	r.logf("building prereg (go build github.com/prereg/prereg/cmd/prereg)")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/prereg/prereg/cmd/prereg").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build prereg (or pass --prereg PATH): %v\n%s", err, out)
	}
	return bin, nil
}

// startReplica starts `prereg serve --store etcd` on a free loopback port;
// the secrets go through its environment, not its command line.
func (r *etcdRun) startReplica(ctx context.Context, i int) (*replica, error) {
	env := []string{"PREREG_HOOK_SECRETS=" + r.cfg.HookSecret, "PREREG_ADMIN_TOKEN=" + r.cfg.AdminToken}
	return startServe(ctx, r.bin, filepath.Join(r.dir, fmt.Sprintf("replica%d.log", i)), env,
		"--store", "etcd", "--etcd-endpoints", strings.Join(r.eps, ","), "--etcd-prefix", r.prefix)
}

// startServe runs `prereg serve` with args on a free loopback port, its
// standard error in logPath, and waits until it listens.
func startServe(ctx context.Context, bin, logPath string, env []string, args ...string) (*replica, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-rate-limit", "0", "--auth-failure-limit", "0"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	rp := &replica{cmd: cmd, done: make(chan struct{}), log: logPath}
	url := make(chan string, 1)
	go func() {
		const marker = "prereg listening on "
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), marker); ok {
				select {
				case url <- strings.TrimSpace(s):
				default:
				}
			}
		}
		_ = cmd.Wait()
		logf.Close()
		close(rp.done)
	}()
	select {
	case rp.url = <-url:
	case <-rp.done:
		return nil, fmt.Errorf("prereg serve %s exited before listening; its log: %s", strings.Join(args, " "), tailFile(logPath))
	case <-time.After(2 * time.Minute):
		rp.stop()
		return nil, fmt.Errorf("prereg serve did not listen within 2 minutes; its log: %s", logPath)
	case <-ctx.Done():
		rp.stop()
		return nil, ctx.Err()
	}
	if err := waitReady(ctx, rp.url); err != nil {
		rp.stop()
		return nil, err
	}
	return rp, nil
}

// stop ends the process with SIGTERM (SIGKILL after 10 s) and waits.
func (rp *replica) stop() {
	_ = rp.cmd.Process.Signal(os.Interrupt)
	select {
	case <-rp.done:
	case <-time.After(10 * time.Second):
		_ = rp.cmd.Process.Kill()
		<-rp.done
	}
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return path + ":\n" + string(b)
}

// writeDatasetCSV writes the dataset's rows as an import file.
func writeDatasetCSV(path string, d Dataset) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString("email,organization_id,roles\n")
	for i := range d.Records {
		in := d.Input(i)
		bw.WriteString(in.Email + "," + in.OrganizationID + "," + strings.Join(in.Roles, "|") + "\n")
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seedEtcd imports the dataset as one CSV through POST /v1/imports, first
// into a bbolt service (the reference time), then into replica A.
func (r *etcdRun) seedEtcd(ctx context.Context) error {
	csvPath := filepath.Join(r.dir, "seed.csv")
	if err := writeDatasetCSV(csvPath, r.cfg.Dataset); err != nil {
		return err
	}
	imp := &EtcdImport{Rows: r.cfg.Dataset.Records}
	r.er.Import = imp
	if !r.cfg.SkipBoltImport {
		env := []string{"PREREG_HOOK_SECRETS=" + r.cfg.HookSecret, "PREREG_ADMIN_TOKEN=" + r.cfg.AdminToken}
		bolt, err := startServe(ctx, r.bin, filepath.Join(r.dir, "bolt.log"), env, "--db", filepath.Join(r.dir, "bolt.db"))
		if err != nil {
			return err
		}
		r.logf("importing %d rows into a bbolt service", imp.Rows)
		imp.BoltSeconds, err = postImport(ctx, bolt.url, r.cfg.AdminToken, csvPath, imp.Rows)
		bolt.stop()
		os.Remove(filepath.Join(r.dir, "bolt.db"))
		if err != nil {
			return fmt.Errorf("bbolt import: %w", err)
		}
		r.logf("bbolt import: %.1fs", imp.BoltSeconds)
	}
	samplers := r.replicaSamplers()
	r.logf("importing %d rows into the etcd replicas (through replica A)", imp.Rows)
	var err error
	r.cpu.begin()
	imp.EtcdSeconds, err = postImport(ctx, r.replicas[0].url, r.cfg.AdminToken, csvPath, imp.Rows)
	r.cpuUse("import (per row)", "replicas", 0, uint64(imp.Rows))
	for _, s := range samplers {
		r.er.ImportMemory = append(r.er.ImportMemory, s.Stop())
	}
	if err != nil {
		return fmt.Errorf("etcd import: %w", err)
	}
	if imp.BoltSeconds > 0 {
		imp.Ratio = imp.EtcdSeconds / imp.BoltSeconds
	}
	r.logf("etcd import: %.1fs (%.2f× bbolt)", imp.EtcdSeconds, imp.Ratio)
	raw, err := r.rawImportRound(ctx, "import_txn", importRowsPerTxn)
	if err != nil {
		return err
	}
	imp.RawRowsPerSecond = raw.PerSecond * importRowsPerTxn
	floor, err := r.rawImportRound(ctx, "import_floor", floorRowsPerTxn)
	if err != nil {
		return err
	}
	imp.FloorRowsPerSecond = floor.PerSecond * floorRowsPerTxn
	if imp.FloorRowsPerSecond > 0 {
		imp.FloorSeconds = float64(imp.Rows) / imp.FloorRowsPerSecond
		if imp.BoltSeconds > 0 {
			imp.FloorRatio = imp.FloorSeconds / imp.BoltSeconds
		}
	}
	// Every replica must see the last row before the logins start.
	last := r.cfg.Dataset.Records - 1
	return r.waitVisible(ctx, r.cfg.Dataset.UserID(last), r.cfg.Dataset.Email(last), r.cfg.Dataset.Org(last))
}

// rawImportRound runs the raw import loop of kind, whose Txns write rows
// registrations each, and reports its CPU per row, beside the import's.
func (r *etcdRun) rawImportRound(ctx context.Context, kind string, rows float64) (EtcdRaw, error) {
	raw, err := r.rawRound(ctx, kind, 0)
	if err != nil {
		return raw, err
	}
	rc := &r.er.CPU[len(r.er.CPU)-1]
	rc.Scenario, rc.ReplicasMs, rc.EtcdMs, rc.GeneratorMs = "raw_"+kind+" (per row)", rc.ReplicasMs/rows, rc.EtcdMs/rows, rc.GeneratorMs/rows
	return raw, nil
}

// waitVisible polls every replica's hook until the login of a seeded row
// is no longer no_match (replicas catch up through their watch).
func (r *etcdRun) waitVisible(ctx context.Context, user, email, org string) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for _, rp := range r.replicas {
		for {
			out, err := hookOnce(ctx, hc, rp.url, r.cfg.HookSecret, loginBody(user, email, org, false))
			if err == nil && !bytes.Contains(out, []byte(`"no_match"`)) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s does not see %s after 2 minutes (%v %s)", rp.url, email, err, truncate(out))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// hookOnce posts one login and returns the body of a 200 answer.
func hookOnce(ctx context.Context, hc *http.Client, base, secret string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/hooks/post-login", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return out, err
}

// postImport posts the CSV at path to /v1/imports and returns how long the
// import took; every row must be created.
func postImport(ctx context.Context, base, token, path string, rows int) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/imports", f)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	t := time.Now()
	resp, err := (&http.Client{Timeout: time.Hour}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	secs := time.Since(t).Seconds()
	if resp.StatusCode != http.StatusOK {
		return secs, fmt.Errorf("status %d: %s", resp.StatusCode, truncate(body))
	}
	var rep struct {
		Created int `json:"created"`
	}
	_ = json.Unmarshal(body, &rep)
	if rep.Created != rows {
		return secs, fmt.Errorf("%d rows created of %d: %s", rep.Created, rows, truncate(body))
	}
	return secs, nil
}

// cpuProcesses are the processes whose CPU time the run accounts for.
func (r *etcdRun) cpuProcesses() map[string][]string {
	g := map[string][]string{"generator": {"self"}}
	for _, rp := range r.replicas {
		g["replicas"] = append(g["replicas"], strconv.Itoa(rp.cmd.Process.Pid))
	}
	if r.procs != nil {
		for i := range r.er.Members {
			g["etcd"] = append(g["etcd"], strconv.Itoa(r.procs.PID(i)))
		}
	}
	return g
}

// cpuUse records the CPU time per operation since r.cpu.begin.
func (r *etcdRun) cpuUse(scenario, target string, round int, ops uint64) {
	m := r.cpu.perOp(ops)
	r.er.CPU = append(r.er.CPU, EtcdCPU{Scenario: scenario, Target: target, Round: round,
		ReplicasMs: m["replicas"], EtcdMs: m["etcd"], GeneratorMs: m["generator"]})
}

// replicaSamplers samples every replica's memory.
func (r *etcdRun) replicaSamplers() []*sampler {
	var ss []*sampler
	for _, rp := range r.replicas {
		ss = append(ss, startSamplerOf(strconv.Itoa(rp.cmd.Process.Pid), 100*time.Millisecond))
	}
	return ss
}

// bases are the replicas' URLs, which the hook attacks alternate between.
func (r *etcdRun) bases() []string {
	var b []string
	for _, rp := range r.replicas {
		b = append(b, rp.url)
	}
	return b
}

// scenarios runs the hook scenarios over both replicas, each max round
// followed by a round of its raw etcd loop, then the fixed-rate attacks.
func (r *etcdRun) scenarios(ctx context.Context) error {
	samplers := r.replicaSamplers()
	defer func() {
		for _, s := range samplers {
			r.er.ReplicaMemory = append(r.er.ReplicaMemory, s.Stop())
		}
	}()
	if err := r.preGrant(ctx, r.bases()); err != nil {
		return err
	}
	if err := r.idle(ctx); err != nil {
		return err
	}
	for _, sc := range r.hookScenarios() {
		if !r.want(sc.name) || (sc.name == ScAlreadyGranted && r.cfg.PreGranted == 0) {
			continue
		}
		if err := r.maxEtcd(ctx, sc); err != nil {
			return err
		}
	}
	for _, sc := range r.hookScenarios() {
		if !r.want(sc.name) || (sc.name == ScAlreadyGranted && r.cfg.PreGranted == 0) || r.cfg.EtcdRate <= 0 {
			continue
		}
		rate := r.cfg.EtcdRate
		if sc.name == ScGranted {
			rate = r.cfg.GrantedRate
		}
		if rate <= 0 {
			continue
		}
		l := Load{Rate: rate, Duration: r.cfg.Duration, MaxRequests: uint64(r.cfg.Duration.Seconds()*float64(rate)) + 1}
		if sc.name == ScGranted {
			l.MaxRequests = min(l.MaxRequests, uint64(r.granted.left()))
		}
		r.rep.Loads = append(r.rep.Loads, r.replicaAttack(ctx, sc, l))
	}
	return ctx.Err()
}

// idle measures the processes' CPU time for one attack's duration with no
// load at all.
func (r *etcdRun) idle(ctx context.Context) error {
	r.cpu.begin()
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.cfg.Duration):
	}
	m := r.cpu.perOp(1)
	secs := time.Since(start).Seconds()
	r.er.Idle = &EtcdCPU{Scenario: "idle", ReplicasMs: m["replicas"] / secs, EtcdMs: m["etcd"] / secs, GeneratorMs: m["generator"] / secs}
	r.logf("idle: CPU ms per second: replicas %.1f, etcd members %.1f, this process %.1f", r.er.Idle.ReplicasMs, r.er.Idle.EtcdMs, r.er.Idle.GeneratorMs)
	return nil
}

// maxEtcd runs a scenario's maximum-throughput rounds over the replicas,
// each followed by a round of the raw loop it is compared with.
func (r *etcdRun) maxEtcd(ctx context.Context, sc hookScenario) error {
	kind := "get"
	if sc.name == ScGranted {
		kind = "txn"
	}
	var preregSum, rawSum float64
	for round := 1; round <= r.cfg.Rounds; round++ {
		// ABBA order: drift over the run (other work on the machine)
		// favours neither side.
		for _, raw := range []bool{round%2 == 0, round%2 != 0} {
			if !raw {
				r.cpu.begin()
				res := r.replicaAttack(ctx, sc, Load{Concurrency: r.cfg.Concurrency, Duration: r.cfg.Duration, MaxRequests: r.budget(sc.name, false, 0)})
				res.Round = round
				r.rep.Loads = append(r.rep.Loads, res)
				r.cpuUse(sc.name, "replicas", round, res.Requests)
				preregSum += res.Throughput
				continue
			}
			x, err := r.rawRound(ctx, kind, round)
			if err != nil {
				return err
			}
			rawSum += x.PerSecond
			if sc.name == ScNoMatch {
				if _, err := r.rawRound(ctx, "login_read", round); err != nil {
					return err
				}
			}
		}
	}
	ratio := EtcdRatio{Scenario: sc.name, Raw: kind, Prereg: preregSum / float64(r.cfg.Rounds), RawRPS: rawSum / float64(r.cfg.Rounds)}
	if rawSum > 0 {
		ratio.Ratio = preregSum / rawSum
	}
	r.er.Ratios = append(r.er.Ratios, ratio)
	return ctx.Err()
}

// rawRound runs one round of the raw loop of kind.
func (r *etcdRun) rawRound(ctx context.Context, kind string, round int) (EtcdRaw, error) {
	r.cpu.begin()
	var (
		raw EtcdRaw
		err error
	)
	switch kind {
	case "get":
		raw, err = rawGets(ctx, r.rawRun, r.clients, r.cfg.Concurrency, r.cfg.Duration)
	case "login_read":
		raw, err = rawLoginReads(ctx, r.rawRun, r.clients, r.cfg.Concurrency, r.cfg.Duration)
	case "import_txn":
		raw, err = rawImports(ctx, r.rawRun, r.cfg.Dataset, r.clients, r.cfg.Duration)
	case "import_floor":
		raw, err = rawImportFloor(ctx, r.rawRun, r.cfg.Dataset, r.clients, r.cfg.Duration)
	default:
		raw, err = rawTxns(ctx, r.rawRun, r.cfg.Dataset, r.clients, r.cfg.Concurrency, r.cfg.Duration, round)
	}
	if err != nil {
		return raw, err
	}
	raw.Round = round
	r.cpuUse("raw_"+kind, "etcd", round, raw.Ops)
	r.er.Raw = append(r.er.Raw, raw)
	r.logf("%-16s %-8s %-4s %8d ops %9.0f/s p99 %7.2fms", "raw_"+kind, "etcd", "max", raw.Ops, raw.PerSecond, raw.P99)
	return raw, nil
}

// replicaAttack runs one attack of a hook scenario alternating between the
// replicas.
func (r *etcdRun) replicaAttack(ctx context.Context, sc hookScenario, l Load) LoadResult {
	tr := hookTargeterOver(r.bases(), r.cfg.HookSecret, r.rows(sc.name, false), r.hookBody(sc.name))
	res := r.attack(ctx, sc.name, tr, l, outcomeIs(sc.outcome))
	res.Target = "replicas"
	r.logf("%-16s %-8s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d mismatches %d",
		sc.name, res.Target, res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors, res.Mismatches)
	return res
}

// hookTargeterOver is hookTargeter alternating between several bases.
func hookTargeterOver(bases []string, secret string, next func() int, body func(i int) []byte) vegeta.Targeter {
	trs := make([]vegeta.Targeter, len(bases))
	for i, b := range bases {
		trs[i] = hookTargeter(b, secret, next, body)
	}
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		return trs[int(n.Add(1))%len(trs)](t)
	}
}
