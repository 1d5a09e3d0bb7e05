package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// byteUnits are the suffixes a byte size may carry, longest first so that
// "MiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// parseBytes reads a byte size: a whole number with an optional unit
// (256MiB, 10MB, 1048576).
func parseBytes(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a byte size (e.g. 256MiB, 10MB or 1048576)", s)
	}
	return n * mult, nil
}

// formatBytes writes n in the largest binary unit that divides it exactly,
// so that parseBytes reads it back unchanged.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// humanBytes writes n rounded for reading (1.4MiB), not for reading back.
func humanBytes(n int64) string {
	f, unit := float64(n), "B"
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	if unit == "B" {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.1f%s", f, unit)
}

// bytesValue shows an integer flag of bytes in units and accepts units,
// whether set on the command line or from the environment.
type bytesValue struct{ inner pflag.Value }

func (b bytesValue) String() string {
	n, err := strconv.ParseInt(b.inner.String(), 10, 64)
	if err != nil {
		return b.inner.String()
	}
	return formatBytes(n)
}

func (b bytesValue) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	return b.inner.Set(strconv.FormatInt(n, 10))
}

func (bytesValue) Type() string { return "bytes" }

// byteFlags turns the named integer flags of fs into byte-size flags.
func byteFlags(fs *pflag.FlagSet, names ...string) {
	for _, name := range names {
		if f := fs.Lookup(name); f != nil {
			f.Value = bytesValue{f.Value}
			f.DefValue = f.Value.String()
		}
	}
}
