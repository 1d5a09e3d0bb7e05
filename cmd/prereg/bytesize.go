package main

import (
	"strconv"

	"github.com/spf13/pflag"

	"github.com/prereg/prereg/internal/bytesize"
)

// bytesValue shows an integer flag of bytes in units and accepts units,
// whether set on the command line or from the environment.
type bytesValue struct{ inner pflag.Value }

func (b bytesValue) String() string {
	n, err := strconv.ParseInt(b.inner.String(), 10, 64)
	if err != nil {
		return b.inner.String()
	}
	return bytesize.Format(n)
}

func (b bytesValue) Set(s string) error {
	n, err := bytesize.Parse(s)
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
