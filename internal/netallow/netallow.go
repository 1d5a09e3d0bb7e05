// Package netallow decides which network addresses may call the login hook:
// an allow-list of CIDR prefixes, a loader for the file of outbound IP ranges
// Auth0 publishes, and the rule for finding a request's source address
// behind trusted reverse proxies.
package netallow

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// List is a set of IPv4 and IPv6 prefixes. A nil or empty List contains
// nothing. It is read-only after construction and safe for concurrent use.
type List struct {
	v4, v6 []netip.Prefix
}

// Parse builds a List from CIDR prefixes ("10.0.0.0/8", "2001:db8::/32") or
// bare addresses (a single host: /32 or /128). Surrounding white space is
// ignored, and so are empty items, so a flag value split on commas can be
// passed as it is. An IPv4-mapped IPv6 prefix ("::ffff:10.0.0.0/104") is
// stored as the IPv4 prefix it denotes. Errors are *prereg.Error with code
// Invalid naming the bad item.
func Parse(cidrs []string) (*List, error) {
	var ps []netip.Prefix
	for i, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, prereg.Errorf(prereg.Invalid, "address list item %d %q: %s", i+1, truncate(s, 64), err.Error())
		}
		ps = append(ps, p)
	}
	return New(ps...), nil
}

// ParsePrefix parses one CIDR prefix or bare address, normalised: masked,
// without zone, IPv4-mapped IPv6 turned into IPv4.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix")
		}
		return normalize(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("an address with a zone cannot be allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// normalize masks p and turns an IPv4-mapped IPv6 prefix of at least /96
// into its IPv4 form, so that Contains, which unmaps addresses, matches it.
func normalize(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// New builds a List from prefixes, normalising them and dropping duplicates.
func New(prefixes ...netip.Prefix) *List {
	l := &List{}
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		p = normalize(p)
		if p.Addr().Is4() {
			l.v4 = append(l.v4, p)
		} else {
			l.v6 = append(l.v6, p)
		}
	}
	l.v4 = sortUnique(l.v4)
	l.v6 = sortUnique(l.v6)
	return l
}

func sortUnique(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

// Contains reports whether addr lies in one of the prefixes. An IPv4-mapped
// IPv6 address (what a dual-stack listener reports for an IPv4 peer) is
// checked as the IPv4 address it carries; a zone is ignored.
func (l *List) Contains(addr netip.Addr) bool {
	if l == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	ps := l.v6
	if addr.Is4() {
		ps = l.v4
	}
	// Lists are short (Auth0 publishes a few dozen ranges per region): a
	// linear scan beats anything cleverer at this size.
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Len returns the number of prefixes.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.v4) + len(l.v6)
}

// Prefixes returns a copy of the prefixes, IPv4 first, sorted.
func (l *List) Prefixes() []netip.Prefix {
	if l == nil {
		return nil
	}
	return append(append([]netip.Prefix(nil), l.v4...), l.v6...)
}

// String lists the prefixes, comma-separated, for logs and diagnostics.
func (l *List) String() string {
	var b strings.Builder
	for i, p := range l.Prefixes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// maxHeaderAddrs bounds how many addresses ClientIP examines in a proxy
// header: a chain of proxies longer than this is not a real deployment.
const maxHeaderAddrs = 32

// ClientIP returns the source address of a request. remoteAddr is the direct
// peer (http.Request.RemoteAddr, "ip:port" or a bare ip). The proxy header
// headerName (for example "X-Forwarded-For", "X-Real-IP" or "Forwarded") is
// consulted only when headerName is set and the direct peer is in
// trustedProxies: anyone else could write any address into it.
//
// The header is read from right to left, because each proxy appends the
// address it saw: the first address that is not itself a trusted proxy is
// the client. Anything to its left was written by the client and is ignored.
// If an entry cannot be parsed the walk stops and the last good address is
// returned (a garbled entry cannot be trusted, nor anything left of it). If
// every entry is a trusted proxy, the left-most one is returned.
//
// The result is unmapped (an IPv4 peer seen on an IPv6 socket comes back as
// IPv4) and has no zone; it is the zero Addr only when remoteAddr itself
// cannot be parsed.
func ClientIP(remoteAddr string, header http.Header, headerName string, trustedProxies *List) netip.Addr {
	peer := parseHostPort(remoteAddr)
	if !peer.IsValid() || headerName == "" || !trustedProxies.Contains(peer) {
		return peer
	}
	values := header.Values(headerName)
	forwarded := strings.EqualFold(headerName, "Forwarded")
	client := peer
	seen := 0
	for i := len(values) - 1; i >= 0; i-- {
		items := strings.Split(values[i], ",")
		for j := len(items) - 1; j >= 0; j-- {
			seen++
			if seen > maxHeaderAddrs {
				return client
			}
			item := items[j]
			if forwarded {
				item = forwardedFor(item)
			}
			a := parseHostPort(strings.TrimSpace(item))
			if !a.IsValid() {
				return client
			}
			client = a
			if !trustedProxies.Contains(a) {
				return a
			}
		}
	}
	return client
}

// parseHostPort accepts "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" and
// "[::1]" and returns the unmapped address without zone, or the zero Addr.
func parseHostPort(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// forwardedFor extracts the for= parameter of one RFC 7239 Forwarded
// element (`for=192.0.2.60;proto=http;by=203.0.113.43`), unquoted; an
// element without one yields "", which does not parse and so stops the walk.
func forwardedFor(elem string) string {
	for _, pair := range strings.Split(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// LimitKey returns the key under which per-address limits count addr: the
// address itself for IPv4, its /64 for IPv6, because one IPv6 host usually
// controls a whole /64 and could otherwise use a fresh address per request.
func LimitKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// HTTPS reports whether a request reached the service over HTTPS: on a TLS
// connection, or from a trusted proxy that says so in X-Forwarded-Proto
// (or Forwarded's proto=). A client's own header is not believed.
func HTTPS(r *http.Request, trustedProxies *List) bool {
	if r.TLS != nil {
		return true
	}
	if !trustedProxies.Contains(parseHostPort(r.RemoteAddr)) {
		return false
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		return strings.EqualFold(strings.TrimSpace(strings.Split(p, ",")[0]), "https")
	}
	for _, part := range strings.Split(r.Header.Get("Forwarded"), ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "proto") {
			return strings.EqualFold(strings.Trim(v, `"`), "https")
		}
	}
	return false
}
