package bench

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's CPU
// times: 100 on every Linux Go runs on.
const clockTicks = 100

// cpuSeconds is the CPU time (user and system) process proc ("self" or a
// PID) has used so far, from /proc/PROC/stat; 0 where it cannot be read.
func cpuSeconds(proc string) float64 {
	raw, err := os.ReadFile("/proc/" + proc + "/stat")
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: fields count from
	// after its closing parenthesis.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 here.
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / clockTicks
}

// cpuGroups measures the CPU time of groups of processes over a phase.
type cpuGroups struct {
	groups map[string][]string
	start  map[string]float64
}

func newCPUGroups(groups map[string][]string) *cpuGroups {
	return &cpuGroups{groups: groups}
}

func (c *cpuGroups) sum(name string) float64 {
	var t float64
	for _, p := range c.groups[name] {
		t += cpuSeconds(p)
	}
	return t
}

// begin starts a phase.
func (c *cpuGroups) begin() {
	c.start = map[string]float64{}
	for name := range c.groups {
		c.start[name] = c.sum(name)
	}
}

// perOp is each group's CPU time since begin, in milliseconds per op.
func (c *cpuGroups) perOp(ops uint64) map[string]float64 {
	out := map[string]float64{}
	if ops == 0 {
		return out
	}
	for name := range c.groups {
		out[name] = (c.sum(name) - c.start[name]) * 1000 / float64(ops)
	}
	return out
}
