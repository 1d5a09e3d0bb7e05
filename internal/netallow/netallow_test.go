package netallow_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/prereg"
)

func mustList(t *testing.T, cidrs ...string) *netallow.List {
	t.Helper()
	l, err := netallow.Parse(cidrs)
	if err != nil {
		t.Fatalf("Parse(%q): %v", cidrs, err)
	}
	return l
}

func TestContains(t *testing.T) {
	l := mustList(t, "10.0.0.0/8", " 192.0.2.7 ", "", "2001:db8::/32", "::1", "::ffff:198.51.100.0/120", "172.16.5.9/16")
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"::ffff:10.9.9.9", true},  // IPv4-mapped IPv6 of an allowed IPv4
		{"::ffff:11.0.0.1", false}, // mapped, not allowed
		{"198.51.100.200", true},   // from the mapped prefix, stored as IPv4 /24
		{"198.51.101.1", false},
		{"2001:db8:1::5", true},
		{"2001:db9::1", false},
		{"fe80::1%eth0", false},
		{"::1", true},
		{"::2", false},
		{"172.16.200.1", true}, // host bits in the prefix are masked
		{"0a00::1", false},     // 10.0.0.0/8 does not leak into IPv6
	}
	for _, tt := range tests {
		if got := l.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	var nilList *netallow.List
	if nilList.Contains(netip.MustParseAddr("10.0.0.1")) || l.Contains(netip.Addr{}) {
		t.Error("nil list or zero address contained")
	}
	if l.Len() != 6 {
		t.Errorf("Len = %d, want 6", l.Len())
	}
	if got := l.String(); got != "10.0.0.0/8,172.16.0.0/16,192.0.2.7/32,198.51.100.0/24,::1/128,2001:db8::/32" {
		t.Errorf("String = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"10.0.0.0/33", "300.1.1.1", "example.com", "10.0.0.0/8/8", "fe80::1%eth0", "1.2.3.4:80"} {
		_, err := netallow.Parse([]string{"10.0.0.0/8", in})
		if err == nil {
			t.Errorf("Parse(%q) succeeded", in)
			continue
		}
		if prereg.ErrorCode(err) != prereg.Invalid || !strings.Contains(err.Error(), "item 2") {
			t.Errorf("Parse(%q) = %v, want invalid naming item 2", in, err)
		}
	}
}

func TestNewDeduplicates(t *testing.T) {
	l := netallow.New(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/8"), netip.Prefix{})
	if l.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (duplicates after masking, invalid dropped)", l.Len())
	}
}

func TestClientIP(t *testing.T) {
	proxies := mustList(t, "10.0.0.0/8", "fd00::/8")
	xff := func(vals ...string) http.Header {
		h := http.Header{}
		for _, v := range vals {
			h.Add("X-Forwarded-For", v)
		}
		return h
	}
	tests := []struct {
		name   string
		remote string
		header http.Header
		hname  string
		want   string
	}{
		{"no header configured", "203.0.113.9:4000", xff("198.51.100.1"), "", "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9:4000", xff("198.51.100.1"), "X-Forwarded-For", "203.0.113.9"},
		{"trusted peer: header honoured", "10.0.0.2:4000", xff("198.51.100.1"), "X-Forwarded-For", "198.51.100.1"},
		{"spoofed left part ignored", "10.0.0.2:4000", xff("1.1.1.1, 198.51.100.1"), "X-Forwarded-For", "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.2:4000", xff("1.1.1.1, 198.51.100.1, 10.0.0.7, 10.0.0.8"), "X-Forwarded-For", "198.51.100.1"},
		{"several header lines", "10.0.0.2:4000", xff("1.1.1.1", "198.51.100.1, 10.0.0.9"), "X-Forwarded-For", "198.51.100.1"},
		{"all trusted: left-most", "10.0.0.2:4000", xff("10.0.0.5, 10.0.0.6"), "X-Forwarded-For", "10.0.0.5"},
		{"garbage stops the walk", "10.0.0.2:4000", xff("198.51.100.1, bogus, 10.0.0.6"), "X-Forwarded-For", "10.0.0.6"},
		{"garbage right-most: peer", "10.0.0.2:4000", xff("198.51.100.1, bogus"), "X-Forwarded-For", "10.0.0.2"},
		{"empty header: peer", "10.0.0.2:4000", xff(), "X-Forwarded-For", "10.0.0.2"},
		{"entry with port", "10.0.0.2:4000", xff("198.51.100.1:5555"), "X-Forwarded-For", "198.51.100.1"},
		{"IPv6 peer and entry", "[fd00::1]:4000", xff("2001:db8::7"), "X-Forwarded-For", "2001:db8::7"},
		{"bracketed IPv6 entry", "[fd00::1]:4000", xff("[2001:db8::7]"), "X-Forwarded-For", "2001:db8::7"},
		{"mapped IPv4 peer is trusted", "[::ffff:10.0.0.2]:4000", xff("198.51.100.1"), "X-Forwarded-For", "198.51.100.1"},
		{"mapped result is unmapped", "[::ffff:203.0.113.9]:4000", nil, "", "203.0.113.9"},
		{"bare remote address", "10.0.0.2", xff("198.51.100.1"), "X-Forwarded-For", "198.51.100.1"},
		{"X-Real-IP", "10.0.0.2:1", http.Header{"X-Real-Ip": {"198.51.100.3"}}, "X-Real-IP", "198.51.100.3"},
		{"Forwarded", "10.0.0.2:1", http.Header{"Forwarded": {`for=1.1.1.1, for="[2001:db8::9]:80";proto=https, for=10.0.0.3;by=10.0.0.2`}}, "Forwarded", "2001:db8::9"},
		{"Forwarded without for", "10.0.0.2:1", http.Header{"Forwarded": {`proto=https`}}, "Forwarded", "10.0.0.2"},
		{"bad remote", "nonsense", xff("198.51.100.1"), "X-Forwarded-For", "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := netallow.ClientIP(tt.remote, tt.header, tt.hname, proxies)
			if got.String() != tt.want {
				t.Fatalf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPBoundsHeader(t *testing.T) {
	proxies := mustList(t, "10.0.0.0/8")
	var parts []string
	parts = append(parts, "198.51.100.1")
	for i := 0; i < 1000; i++ {
		parts = append(parts, "10.0.0.1")
	}
	got := netallow.ClientIP("10.0.0.2:1", http.Header{"X-Forwarded-For": {strings.Join(parts, ",")}}, "X-Forwarded-For", proxies)
	if got.String() != "10.0.0.1" {
		t.Fatalf("ClientIP over a 1000-entry chain = %s, want the last trusted address examined", got)
	}
}

func TestLimitKey(t *testing.T) {
	tests := map[string]string{
		"198.51.100.1":         "198.51.100.1",
		"::ffff:198.51.100.1":  "198.51.100.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
	}
	for in, want := range tests {
		if got := netallow.LimitKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("LimitKey(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadAuth0IPs(t *testing.T) {
	f, err := os.ReadFile("testdata/ip-ranges.json")
	if err != nil {
		t.Fatal(err)
	}
	strs := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.String())
		}
		return out
	}
	tests := []struct {
		name    string
		in      string
		regions []string
		want    []string
		wantErr string
	}{
		{"Auth0 file, all regions", string(f), nil, []string{"3.65.249.224/32", "3.131.238.180/32", "13.54.254.182/32", "13.55.232.24/32", "18.116.79.126/32", "18.197.9.11/32", "52.28.184.187/32", "54.69.107.228/32", "174.129.105.183/32"}, ""},
		{"Auth0 file, one region, any case", string(f), []string{"eu"}, []string{"3.65.249.224/32", "18.197.9.11/32", "52.28.184.187/32"}, ""},
		{"Auth0 file, two regions", string(f), []string{"AU", "EU"}, []string{"3.65.249.224/32", "13.54.254.182/32", "13.55.232.24/32", "18.197.9.11/32", "52.28.184.187/32"}, ""},
		{"Auth0 file, unknown region", string(f), []string{"JP"}, nil, "has: AU, EU, US"},
		{"ipv6 list too", `{"regions":{"X":{"ipv4_cidrs":["192.0.2.0/24"],"ipv6_cidrs":["2001:db8::/48"]}}}`, nil, []string{"192.0.2.0/24", "2001:db8::/48"}, ""},
		{"region as plain list", `{"regions":{"X":["192.0.2.1"]}}`, nil, []string{"192.0.2.1/32"}, ""},
		{"plain array with bare addresses", "\ufeff[\"192.0.2.1\", \"2001:db8::1\", \"198.51.100.0/24\", \"192.0.2.1/32\"]", nil, []string{"192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128"}, ""},
		{"plain array with regions", `["192.0.2.1"]`, []string{"US"}, nil, "without regions"},
		{"empty", "  ", nil, nil, "empty"},
		{"not JSON", "192.0.2.1\n", nil, nil, "not JSON"},
		{"object without regions", `{"prefixes":[]}`, nil, nil, `no "regions"`},
		{"bad CIDR", `["192.0.2.1/40"]`, nil, nil, "192.0.2.1/40"},
		{"empty array", `[]`, nil, nil, "no addresses"},
		{"bad region value", `{"regions":{"X":42}}`, nil, nil, "neither"},
		{"too large", "[" + strings.Repeat(" ", netallow.MaxRangesFileSize) + "]", nil, nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := netallow.LoadAuth0IPs(strings.NewReader(tt.in), tt.regions...)
			if tt.wantErr != "" {
				if err == nil || prereg.ErrorCode(err) != prereg.Invalid || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want invalid containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadAuth0IPs: %v", err)
			}
			if !slices.Equal(strs(got), tt.want) {
				t.Fatalf("got %v\nwant %v", strs(got), tt.want)
			}
		})
	}
	// The loaded prefixes feed a List that then admits Auth0's addresses.
	ps, _ := netallow.LoadAuth0IPs(strings.NewReader(string(f)), "US")
	l := netallow.New(ps...)
	if !l.Contains(netip.MustParseAddr("54.69.107.228")) || l.Contains(netip.MustParseAddr("18.197.9.11")) || l.Contains(netip.MustParseAddr("203.0.113.7")) {
		t.Fatal("US list admits the wrong addresses (changelog removals must not count)")
	}
}

func TestHTTPS(t *testing.T) {
	proxies := mustList(t, "10.0.0.0/8")
	tests := []struct {
		name   string
		remote string
		tls    bool
		header map[string]string
		want   bool
	}{
		{"plain", "192.0.2.1:5000", false, nil, false},
		{"tls", "192.0.2.1:5000", true, nil, true},
		{"client claims https", "192.0.2.1:5000", false, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"proxy says https", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"proxy says http", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"proxy, first of a list", "10.1.2.3:5000", false, map[string]string{"X-Forwarded-Proto": "HTTPS, http"}, true},
		{"proxy, Forwarded", "10.1.2.3:5000", false, map[string]string{"Forwarded": `for=192.0.2.1;proto="https"`}, true},
		{"proxy says nothing", "10.1.2.3:5000", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/console/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := netallow.HTTPS(r, proxies); got != tt.want {
				t.Errorf("HTTPS = %v, want %v", got, tt.want)
			}
		})
	}
}
