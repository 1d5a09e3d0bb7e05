package netallow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// MaxRangesFileSize bounds the file LoadAuth0IPs reads. Auth0's published
// file is a few kilobytes; a megabyte leaves room for years of changelog.
const MaxRangesFileSize = 1 << 20

// auth0Ranges is the documented shape of https://cdn.auth0.com/ip-ranges.json
// (Auth0 docs, "Auth0 IP Addresses for Allow Lists", machine-readable list):
//
//	{"last_updated_at": "<ISO 8601>",
//	 "regions": {"<REGION>": {"ipv4_cidrs": ["3.65.249.224/32", ...]}, ...},
//	 "changelog": [{"date": "...", "region": "...", "action": "add|remove", "ipv4_cidrs": [...]}]}
//
// Only "regions" is used: the changelog also records removed ranges. An
// "ipv6_cidrs" list is read too, should Auth0 ever add one.
type auth0Ranges struct {
	LastUpdatedAt string                     `json:"last_updated_at"`
	Regions       map[string]json.RawMessage `json:"regions"`
}

type auth0Region struct {
	IPv4 []string `json:"ipv4_cidrs"`
	IPv6 []string `json:"ipv6_cidrs"`
}

// LoadAuth0IPs reads the list of outbound IP ranges Auth0 publishes
// (ip-ranges.json, downloaded by the operator: the service never fetches
// anything) and returns its prefixes, sorted and without duplicates. It also
// accepts a plain JSON array of CIDR prefixes or addresses. Bare addresses
// become /32 or /128.
//
// regions, when given, keeps only those regions of Auth0's file (matched
// case-insensitively): a tenant is served from one region, and allowing
// every region's addresses would let any Auth0 tenant anywhere reach the
// hook. Naming a region the file does not have is an error that lists the
// ones it has. regions must be empty for a plain array.
//
// Errors are *prereg.Error with code Invalid.
func LoadAuth0IPs(r io.Reader, regions ...string) ([]netip.Prefix, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRangesFileSize+1))
	if err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "read IP ranges file")
	}
	if len(data) > MaxRangesFileSize {
		return nil, prereg.Errorf(prereg.Invalid, "IP ranges file is larger than %d bytes", MaxRangesFileSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, prereg.Errorf(prereg.Invalid, "IP ranges file is empty")
	}

	var items []string
	switch trimmed[0] {
	case '[':
		if len(regions) > 0 {
			return nil, prereg.Errorf(prereg.Invalid, "IP ranges file is a plain list without regions; do not select regions")
		}
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, prereg.Wrap(prereg.Invalid, err, "IP ranges file: expected a JSON array of CIDR strings")
		}
	case '{':
		items, err = auth0Items(trimmed, regions)
		if err != nil {
			return nil, err
		}
	default:
		return nil, prereg.Errorf(prereg.Invalid, "IP ranges file is not JSON (expected Auth0's ip-ranges.json or an array of CIDR strings)")
	}

	var out []netip.Prefix
	for _, s := range items {
		p, err := ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, prereg.Errorf(prereg.Invalid, "IP ranges file: %q: %s", truncate(s, 64), err.Error())
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, prereg.Errorf(prereg.Invalid, "IP ranges file lists no addresses")
	}
	return New(out...).Prefixes(), nil
}

func auth0Items(data []byte, regions []string) ([]string, error) {
	var doc auth0Ranges
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "IP ranges file: not in the shape of Auth0's ip-ranges.json")
	}
	if len(doc.Regions) == 0 {
		return nil, prereg.Errorf(prereg.Invalid, `IP ranges file: no "regions" object (expected Auth0's ip-ranges.json)`)
	}
	names := make([]string, 0, len(doc.Regions))
	for name := range doc.Regions {
		names = append(names, name)
	}
	sort.Strings(names)

	selected := names
	if len(regions) > 0 {
		selected = nil
		for _, want := range regions {
			want = strings.TrimSpace(want)
			i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, want) })
			if i < 0 {
				return nil, prereg.Errorf(prereg.Invalid, "IP ranges file has no region %q; it has: %s", truncate(want, 32), strings.Join(names, ", "))
			}
			selected = append(selected, names[i])
		}
	}

	var items []string
	for _, name := range selected {
		raw := doc.Regions[name]
		var reg auth0Region
		if err := json.Unmarshal(raw, &reg); err != nil {
			// Tolerate a region given directly as a list of strings.
			var list []string
			if err2 := json.Unmarshal(raw, &list); err2 != nil {
				return nil, prereg.Wrap(prereg.Invalid, err, fmt.Sprintf("IP ranges file: region %q is neither an object with ipv4_cidrs nor a list", truncate(name, 32)))
			}
			reg.IPv4 = list
		}
		items = append(items, reg.IPv4...)
		items = append(items, reg.IPv6...)
	}
	return items, nil
}
