//go:build unix

package etcdtest

import (
	"fmt"
	"syscall"
)

// Pause stops member i with SIGSTOP, as a member that stalls (a long
// defragmentation, a frozen machine): its connections stay open and it
// answers nothing, neither clients nor peers, until Resume. Close kills a
// paused member as any other.
func (p *Procs) Pause(i int) error { return p.signal(i, syscall.SIGSTOP) }

// Resume lets member i run again after Pause.
func (p *Procs) Resume(i int) error { return p.signal(i, syscall.SIGCONT) }

func (p *Procs) signal(i int, sig syscall.Signal) error {
	pid := p.PID(i)
	if pid == 0 {
		return fmt.Errorf("etcd member %s is not running", p.members[i].cfg.Name)
	}
	return syscall.Kill(pid, sig)
}
