package netallow_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/netallow"
)

// FuzzClientIP: never panics; the answer is the peer, or an address written
// in the header, and never anything from an untrusted peer's header.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:443", "198.51.100.1, 10.0.0.3", "X-Forwarded-For")
	f.Add("[fd00::1]:443", `for="[2001:db8::1]:80";proto=https, for=10.0.0.9`, "Forwarded")
	f.Add("203.0.113.5:1", "1.1.1.1", "X-Forwarded-For")
	f.Add("10.0.0.2", ",,, ,[::1]", "X-Real-IP")
	proxies, _ := netallow.Parse([]string{"10.0.0.0/8", "fd00::/8"})
	f.Fuzz(func(t *testing.T, remote, value, name string) {
		h := http.Header{}
		if name != "" {
			h.Set(name, value)
		}
		got := netallow.ClientIP(remote, h, name, proxies)
		if !got.IsValid() {
			return
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("ClientIP returned %v: mapped or zoned", got)
		}
		peer := netallow.ClientIP(remote, nil, "", nil)
		if got == peer {
			return
		}
		if !proxies.Contains(peer) {
			t.Fatalf("header of untrusted peer %v honoured: %v", peer, got)
		}
		if !strings.Contains(value, got.String()) && !strings.Contains(strings.ToLower(value), strings.ToLower(got.String())) {
			// The header may spell the address differently (leading
			// zeros, mapped form); it must at least parse back.
			if _, err := netip.ParseAddr(got.String()); err != nil {
				t.Fatalf("ClientIP invented %v", got)
			}
		}
	})
}

// FuzzLoadAuth0IPs: never panics; what it accepts is a usable list.
func FuzzLoadAuth0IPs(f *testing.F) {
	f.Add(`{"regions":{"US":{"ipv4_cidrs":["192.0.2.0/24"]}}}`, "")
	f.Add(`["192.0.2.1","2001:db8::/32"]`, "")
	f.Add(`{"regions":{"EU":["10.0.0.1"]},"changelog":[]}`, "eu")
	f.Add(`{"regions":{}}`, "US")
	f.Fuzz(func(t *testing.T, doc, region string) {
		var regions []string
		if region != "" {
			regions = []string{region}
		}
		ps, err := netallow.LoadAuth0IPs(strings.NewReader(doc), regions...)
		if err != nil {
			return
		}
		if len(ps) == 0 {
			t.Fatal("accepted a file with no prefixes")
		}
		l := netallow.New(ps...)
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || !l.Contains(p.Addr()) {
				t.Fatalf("bad prefix %v", p)
			}
		}
	})
}
