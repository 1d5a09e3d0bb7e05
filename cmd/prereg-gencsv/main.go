// Command prereg-gencsv writes a large, valid import file for benchmarks
// and load tests:
//
//	go run ./cmd/prereg-gencsv -rows 1000000 -org-share 0.5 -roles 2 -seed 1 > big.csv
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/prereg/prereg/internal/csvio/csvgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prereg-gencsv:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("prereg-gencsv", flag.ContinueOnError)
	var o csvgen.Options
	var out, delim string
	fs.IntVar(&o.Rows, "rows", 1000, "number of data rows")
	fs.Float64Var(&o.OrgShare, "org-share", 0.5, "share of rows (0..1) that belong to an organization")
	fs.IntVar(&o.Orgs, "orgs", 100, "number of distinct organizations")
	fs.IntVar(&o.Roles, "roles", 2, "roles per row")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (the same seed writes the same file)")
	fs.StringVar(&delim, "delimiter", ",", `delimiter: ",", ";" or "tab"`)
	fs.BoolVar(&o.CRLF, "crlf", false, "end lines with CRLF")
	fs.BoolVar(&o.BOM, "bom", false, "start with a UTF-8 byte-order mark")
	fs.StringVar(&out, "o", "-", "output file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch delim {
	case ",", ";":
		o.Delimiter = rune(delim[0])
	case "tab", "\t":
		o.Delimiter = '\t'
	default:
		return fmt.Errorf("-delimiter must be \",\", \";\" or \"tab\", not %q", delim)
	}
	if o.Rows < 0 || o.OrgShare < 0 || o.OrgShare > 1 {
		return fmt.Errorf("-rows must be >= 0 and -org-share between 0 and 1")
	}
	w := stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("create %s: %w", out, err)
		}
		defer f.Close()
		w = f
	}
	if err := csvgen.Write(w, o); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && out != "-" {
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", out, err)
		}
	}
	return nil
}
