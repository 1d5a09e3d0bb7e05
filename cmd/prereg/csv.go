package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/prereg"
)

// isTerminal reports whether w is a terminal (no progress bar otherwise).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// importMemoryLimit is the Go heap's soft limit during `prereg import --db`
// (GOMEMLIMIT overrides it).
const importMemoryLimit = 90 << 20

func importCmd(e *env) *cobra.Command {
	var dryRun, strict, asJSON bool
	cmd := &cobra.Command{
		Use: "import FILE",
		Example: `  prereg import users.csv --db prereg.db
  prereg import users.csv --dry-run --server https://prereg.example.com
  cat users.csv | prereg import - --strict --json`,
		Short: "Import a CSV of registrations (FILE or - for standard input)",
		Long: `Import a CSV of registrations: columns email and roles (required),
organization_id, connection, expires_at (optional); an export's read-only
columns are accepted, its revoked and expired rows skipped, and its granted
rows only checked, skipped when no longer granted (status); comma,
semicolon or tab; UTF-8 with or without BOM. Exit status: 0 when no
row was rejected, 1 when some rows were rejected, 2 on a fatal error (bad
header, encoding, a quote never closed, I/O).`,
		Args: exactArgs("CSV file"),
	}
	c := addConn(cmd, e)
	c.create = true
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "validate and report; write nothing")
	f.BoolVar(&strict, "strict", false, "write nothing if any row is bad")
	f.BoolVar(&asJSON, "json", false, "print the raw report")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in, size, err := openInput(e, args[0])
		if err != nil {
			return err
		}
		defer in.Close()
		bar := newBar(e, size)
		opts := prereg.ImportOptions{DryRun: dryRun, Strict: strict}
		if bar != nil {
			// Both passes of a local import report progress: the bar counts
			// to 2 x size.
			opts.Progress = func(n int64) { _ = bar.Set64(n) }
		}
		var rep prereg.ImportReport
		err = c.with(func(a admin) (err error) {
			rep, err = a.Import(cmd.Context(), in, opts)
			return err
		})
		if err != nil {
			return err
		}
		if bar != nil {
			_ = bar.Finish()
			fmt.Fprintln(e.stderr)
		}
		if asJSON {
			if err := printJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			printReport(e.stdout, rep)
		}
		if rep.Rejected > 0 {
			return exitError{code: 1}
		}
		return nil
	}
	show := &cobra.Command{Use: "show ID", Short: "Show a past import's report", Args: exactArgs("import ID"),
		Example: "  prereg import show imp_01J9ZQ4T7K --db prereg.db"}
	sc := addConn(show, e)
	var showJSON bool
	show.Flags().BoolVar(&showJSON, "json", false, "print the raw report")
	show.RunE = func(cmd *cobra.Command, args []string) error {
		var rep prereg.ImportReport
		err := sc.with(func(a admin) (err error) {
			rep, err = a.ImportReport(cmd.Context(), args[0])
			return err
		})
		if err != nil {
			return err
		}
		if showJSON {
			return printJSON(e.stdout, rep)
		}
		printReport(e.stdout, rep)
		return nil
	}
	cmd.AddCommand(show)
	return cmd
}

// openInput opens FILE, or standard input for "-", and its size when known.
func openInput(e *env, name string) (io.ReadCloser, int64, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), -1, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, prereg.Wrap(prereg.Invalid, err, "cannot open "+name+": "+osCause(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// newBar returns a progress bar on standard error when it is a terminal.
func newBar(e *env, size int64) *progressbar.ProgressBar {
	if !isTerminal(e.stderr) {
		return nil
	}
	return progressbar.NewOptions64(size*2,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
}

func printReport(w io.Writer, r prereg.ImportReport) {
	mode := ""
	if r.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "import %s%s: %d rows, %d created, %d updated, %d unchanged, %d rejected, %d skipped\n", r.ImportID, mode, r.Rows, r.Created, r.Updated, r.Unchanged, r.Rejected, r.Skipped)
	for _, er := range r.Errors {
		loc := "line " + strconv.Itoa(er.Line)
		if er.Column != "" {
			loc += ", " + er.Column
		}
		val := ""
		if er.Value != "" {
			val = fmt.Sprintf(" (%q)", er.Value)
		}
		fmt.Fprintf(w, "  error   %s: %s%s\n", loc, er.Message, val)
	}
	if r.ErrorsTruncated > 0 {
		fmt.Fprintf(w, "  … and %d more errors\n", r.ErrorsTruncated)
	}
	for _, wa := range r.Warnings {
		fmt.Fprintf(w, "  warning line %d: %s\n", wa.Line, wa.Message)
	}
	if r.WarningsTruncated > 0 {
		fmt.Fprintf(w, "  … and %d more warnings\n", r.WarningsTruncated)
	}
}

func exportCmd(e *env) *cobra.Command {
	var (
		rf  regFilter
		out string
	)
	cmd := &cobra.Command{
		Use: "export",
		Example: `  prereg export --db prereg.db > registrations.csv
  prereg export --status pending --organization org_dr3b5S9l3sReLayv -o pending.csv
  prereg export --sync failed --server https://prereg.example.com`,
		Short: "Export registrations as CSV in the import format (formula-safe)",
		Args:  noArgs,
	}
	c := addConn(cmd, e)
	rf.bind(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "-", "file to write (- for standard output)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := rf.check(); err != nil {
			return err
		}
		var w io.Writer = e.stdout
		var file *os.File
		if out != "-" {
			var err error
			if file, err = os.CreateTemp(filepath.Dir(out), ".prereg-export-*"); err != nil {
				return err
			}
			defer os.Remove(file.Name())
			defer file.Close()
			w = file
		}
		err := c.with(func(a admin) error { return a.Export(cmd.Context(), w, rf.filter()) })
		if err != nil {
			return err
		}
		if file != nil {
			if err := file.Sync(); err != nil {
				return err
			}
			if err := file.Close(); err != nil {
				return err
			}
			return os.Rename(file.Name(), out)
		}
		return nil
	}
	return cmd
}
