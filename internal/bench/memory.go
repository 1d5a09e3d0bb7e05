package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// Memory is the service's process's memory while the load ran, from
// /proc/PID/status. In one process it holds the load generator too, so
// the figures are an upper bound for the service alone; in a Separate run
// they are the service's own.
// RSSFile is the part of RSS that is the store's memory map (pages of the
// file the service touched): the kernel may drop it under pressure.
type Memory struct {
	Samples int `json:"samples"`
	// Max of VmRSS, RssAnon and RssFile over the samples, in MiB.
	RSSMax     float64 `json:"rss_max_mib"`
	RSSAnonMax float64 `json:"rss_anon_max_mib"`
	RSSFileMax float64 `json:"rss_file_max_mib"`
	// HWM is VmHWM, the peak RSS since the sampler started (the peak is
	// reset after seeding, so seeding does not count).
	HWM float64 `json:"hwm_mib"`
	// HeapInuseMax is the Go heap in use, in MiB (one process only).
	HeapInuseMax float64 `json:"heap_inuse_max_mib"`
	// Separate says the figures are those of the service's own process.
	Separate bool `json:"separate"`
	// Available says whether /proc was readable (Linux only).
	Available bool `json:"available"`
}

// sampler reads /proc/PID/status every interval until stopped.
type sampler struct {
	proc string // "self" or a child's PID
	mu   sync.Mutex
	mem  Memory
	// phase holds the maxima since the last Phase call.
	phase Memory
	stop  chan struct{}
	done  chan struct{}
}

// startSampler returns the heap to the OS, resets the kernel's peak RSS
// (writing 5 to clear_refs), and starts sampling.
func startSampler(interval time.Duration) *sampler {
	runtime.GC()
	debug.FreeOSMemory()
	return startSamplerOf("self", interval)
}

// startSamplerOf samples the process proc ("self" or a PID).
func startSamplerOf(proc string, interval time.Duration) *sampler {
	_ = os.WriteFile("/proc/"+proc+"/clear_refs", []byte("5"), 0)
	s := &sampler{proc: proc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	st, ok := readStatus(s.proc)
	var ms runtime.MemStats
	if s.proc == "self" {
		runtime.ReadMemStats(&ms)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []*Memory{&s.mem, &s.phase} {
		m.Samples++
		m.Separate = s.proc != "self"
		m.HeapInuseMax = max(m.HeapInuseMax, mib(ms.HeapInuse))
		if !ok {
			continue
		}
		m.Available = true
		m.RSSMax = max(m.RSSMax, st["VmRSS"])
		m.RSSAnonMax = max(m.RSSAnonMax, st["RssAnon"])
		m.RSSFileMax = max(m.RSSFileMax, st["RssFile"])
		m.HWM = max(m.HWM, st["VmHWM"])
	}
}

// Phase returns the maxima since the previous call (or the start), taking
// one more sample first, and starts a new phase.
func (s *sampler) Phase() Memory {
	if s == nil {
		return Memory{}
	}
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phase
	s.phase = Memory{}
	return p
}

// Stop ends sampling and returns the figures.
func (s *sampler) Stop() Memory {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mem
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// readStatus returns the kB fields of /proc/PROC/status in MiB.
func readStatus(proc string) (map[string]float64, bool) {
	raw, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return nil, false
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 2 && string(f[1]) == "kB" {
			if n, err := strconv.ParseFloat(string(f[0]), 64); err == nil {
				out[string(name)] = n / 1024
			}
		}
	}
	return out, true
}
