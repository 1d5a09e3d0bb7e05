package etcdtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// MemberEnv names the file of a member's configuration in the environment
// of a process started to be one etcd member (see RunMemberIfAsked).
const MemberEnv = "PREREG_ETCDTEST_MEMBER"

// MemberConfig is what one member process runs: written as JSON by the
// parent, read by RunMemberIfAsked in the child.
type MemberConfig struct {
	Name           string `json:"name"`
	Dir            string `json:"dir"`
	ClientURL      string `json:"client_url"`
	PeerURL        string `json:"peer_url"`
	InitialCluster string `json:"initial_cluster"`
	Token          string `json:"token"`
	// QuotaBytes is the backend's size limit (etcd's default, 2 GiB, when
	// 0); a benchmark of a million registrations keeps several versions
	// of each key until compaction and needs more.
	QuotaBytes int64 `json:"quota_bytes,omitempty"`
}

// RunMemberIfAsked runs one etcd member and never returns when the
// environment names a member configuration (MemberEnv); otherwise it
// returns at once. A test binary whose tests start member processes calls
// it first in TestMain, and so does any command that does (prereg-bench):
// StartProcesses starts this executable again with MemberEnv set.
//
// The member stops when its standard input closes, so that members never
// outlive the process that started them, even one killed itself.
func RunMemberIfAsked() {
	path := os.Getenv(MemberEnv)
	if path == "" {
		return
	}
	if err := runMember(path, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "etcd member:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runMember(path string, stdin io.Reader) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var mc MemberConfig
	if err := json.Unmarshal(b, &mc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = mc.Name, mc.Dir
	cu, err := url.Parse(mc.ClientURL)
	if err != nil {
		return err
	}
	pu, err := url.Parse(mc.PeerURL)
	if err != nil {
		return err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster, cfg.InitialClusterToken = mc.InitialCluster, mc.Token
	// A restarted member finds its data directory and ignores the initial
	// cluster; "new" is right for the first start of every member.
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	if mc.QuotaBytes > 0 {
		cfg.QuotaBackendBytes = mc.QuotaBytes
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start member %s: %w", mc.Name, err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fmt.Errorf("member %s: %w", mc.Name, err)
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-closed:
		return nil
	case err := <-e.Err():
		return fmt.Errorf("member %s: %w", mc.Name, err)
	}
}

// Procs is a cluster of etcd members, each a process of its own that can
// be killed and restarted.
type Procs struct {
	exe     string
	dir     string
	members []*member
	mu      sync.Mutex
}

type member struct {
	cfg     MemberConfig
	cfgPath string
	log     string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}
}

// StartProcesses starts an n-member cluster, each member the test binary
// re-executed (the test's TestMain must call RunMemberIfAsked first), with
// data in temporary directories and loopback ports, and returns once every
// member answers a linearizable read. The members are killed when the test
// ends.
func StartProcesses(t testing.TB, n int) *Procs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := Launch(ctx, LaunchOptions{Members: n, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// LaunchOptions shape a cluster started by Launch.
type LaunchOptions struct {
	Members int
	// Dir holds the members' data directories, configurations and logs.
	Dir string
	// Exe is the executable to start (os.Args[0] when empty); it must
	// call RunMemberIfAsked first.
	Exe string
	// QuotaBytes is each member's backend quota (etcd's default when 0).
	QuotaBytes int64
}

// Launch starts a cluster of member processes as StartProcesses does,
// for programs that are not tests (prereg-bench). Close stops it.
func Launch(ctx context.Context, o LaunchOptions) (*Procs, error) {
	var err error
	for range launchAttempts {
		var p *Procs
		p, err = launch(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
		// Another process took a port between choosing and binding it:
		// start afresh on other ports.
		if rerr := os.RemoveAll(o.Dir); rerr != nil {
			return nil, rerr
		}
		if rerr := os.MkdirAll(o.Dir, 0o700); rerr != nil {
			return nil, rerr
		}
	}
	return nil, err
}

// launchAttempts bounds Launch's retries on ports taken by others.
const launchAttempts = 3

func launch(ctx context.Context, o LaunchOptions) (*Procs, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this executable to start etcd members: %w", err)
		}
	}
	ports, err := processPorts(2 * o.Members)
	if err != nil {
		return nil, err
	}
	p := &Procs{exe: exe, dir: o.Dir}
	var initial []string
	for i := range o.Members {
		name := fmt.Sprintf("m%d", i)
		mc := MemberConfig{
			Name:       name,
			Dir:        filepath.Join(o.Dir, name+".etcd"),
			ClientURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			Token:      "prereg-etcdtest-" + filepath.Base(o.Dir),
			QuotaBytes: o.QuotaBytes,
		}
		initial = append(initial, name+"="+mc.PeerURL)
		p.members = append(p.members, &member{cfg: mc, cfgPath: filepath.Join(o.Dir, name+".json"), log: filepath.Join(o.Dir, name+".log")})
	}
	for _, m := range p.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
		b, _ := json.Marshal(m.cfg)
		if err := os.WriteFile(m.cfgPath, b, 0o600); err != nil {
			return nil, err
		}
	}
	// A member's first start waits for its peers, so all are started
	// before any is waited for.
	for i := range p.members {
		if err := p.start(i); err != nil {
			p.Close()
			return nil, err
		}
	}
	for i := range p.members {
		if err := p.waitServing(ctx, i); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// processPorts finds n distinct free loopback ports. They are free when
// found; another process could take one before the member binds it, which
// on a test machine's loopback is rare enough.
func processPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start starts member i's process; waitServing waits for it.
func (p *Procs) start(i int) error {
	m := p.members[i]
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), MemberEnv+"="+m.cfgPath)
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start etcd member %s: %w", m.cfg.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		// Read stdout to its end (the ready line, then nothing), so that
		// Wait does not wait for the pipe's reader.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	if m.stdin != nil {
		m.stdin.Close() // the pipe of the process this one replaces
	}
	m.cmd, m.stdin, m.exited = cmd, stdin, exited
	p.mu.Unlock()
	return nil
}

// waitServing waits until member i answers a linearizable read, which it
// does only once it is part of a quorum and has caught up with the
// leader's commit index.
func (p *Procs) waitServing(ctx context.Context, i int) error {
	m := p.members[i]
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.cfg.ClientURL}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	var last error
	for {
		select {
		case <-m.exited:
			return fmt.Errorf("etcd member %s exited; its log: %s", m.cfg.Name, tail(m.log))
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, last = cli.Get(rctx, "/etcdtest/health")
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("etcd member %s does not serve: %v; its log: %s", m.cfg.Name, last, tail(m.log))
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path + ": " + err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return path + ":\n" + string(b)
}

// Endpoints are the members' client URLs, in member order.
func (p *Procs) Endpoints() []string {
	eps := make([]string, len(p.members))
	for i, m := range p.members {
		eps[i] = m.cfg.ClientURL
	}
	return eps
}

// PID is member i's process ID (0 when it is not running), to measure
// what it uses.
func (p *Procs) PID(i int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.members[i]
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	select {
	case <-m.exited:
		return 0
	default:
		return m.cmd.Process.Pid
	}
}

// Endpoint is member i's client URL.
func (p *Procs) Endpoint(i int) string { return p.members[i].cfg.ClientURL }

// Kill kills member i with SIGKILL, as a lost machine, and waits until the
// process is gone.
func (p *Procs) Kill(i int) {
	p.mu.Lock()
	m := p.members[i]
	cmd, exited := m.cmd, m.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts member i again on its data directory and ports after
// Kill, without waiting for it to serve: without a quorum it cannot. Wait
// with WaitServing.
func (p *Procs) Restart(i int) error {
	p.mu.Lock()
	m := p.members[i]
	exited := m.exited
	p.mu.Unlock()
	select {
	case <-exited:
	default:
		return fmt.Errorf("etcd member %s is running", m.cfg.Name)
	}
	return p.start(i)
}

// WaitServing waits until member i answers a linearizable read: it is in
// a quorum and caught up.
func (p *Procs) WaitServing(ctx context.Context, i int) error { return p.waitServing(ctx, i) }

// Close kills every member and waits for them.
func (p *Procs) Close() {
	for i := range p.members {
		p.Kill(i)
	}
}
