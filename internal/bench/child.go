package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ChildEnv tells a process started for a Separate run what to serve
// ("service" or "bare"); the package documentation describes the protocol.
const ChildEnv = "PREREG_BENCH_CHILD"

const (
	childDB         = "PREREG_BENCH_DB"
	childHookSecret = "PREREG_BENCH_HOOK_SECRET"
	childAdminToken = "PREREG_BENCH_ADMIN_TOKEN"
	childLog        = "PREREG_BENCH_LOG"
)

// RunChild serves as a child of a Separate run when ChildEnv is set, and
// reports whether it was one. A program that may be started so (the
// command, and a test binary through TestMain) calls it first.
func RunChild() (child bool, err error) {
	kind := os.Getenv(ChildEnv)
	if kind == "" {
		return false, nil
	}
	var (
		url  string
		stop func()
	)
	switch kind {
	case "bare":
		l, err := serveLoopback(BareHandler())
		if err != nil {
			return true, err
		}
		url, stop = l.URL, l.close
	case "service":
		svc, _, err := startService(context.Background(), os.Getenv(childDB), serviceOptions{
			HookSecret: os.Getenv(childHookSecret), AdminToken: os.Getenv(childAdminToken), LogPath: os.Getenv(childLog)})
		if err != nil {
			return true, err
		}
		url, stop = svc.URL, svc.close
	default:
		return true, fmt.Errorf("%s=%q: want service or bare", ChildEnv, kind)
	}
	fmt.Println(url)
	_, _ = io.Copy(io.Discard, os.Stdin)
	stop()
	return true, nil
}

// childProcess is a started child and the URL it serves.
type childProcess struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *os.File
}

// startChild starts this executable as a child serving kind, with env
// added to its environment; its standard error goes to logPath.
func startChild(ctx context.Context, kind string, env []string, logPath string) (*childProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable to start the %s process: %w", kind, err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), ChildEnv+"="+kind), env...)
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the %s process: %w", kind, err)
	}
	c := &childProcess{cmd: cmd, stdin: stdin, log: logFile}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if ok {
			c.URL = u
			return c, nil
		}
		err = errors.New("it exited")
	case <-time.After(time.Minute):
		err = errors.New("no address within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.close()
	return nil, fmt.Errorf("the %s process did not start (%v); its log: %s", kind, err, filepath.Clean(logPath))
}

// close asks the child to stop (its standard input closes) and waits for
// it; one that has not exited within 10 s is killed.
func (c *childProcess) close() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	_ = c.log.Close()
}
