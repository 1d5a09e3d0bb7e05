// Command prereg is the prereg service and its command-line tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prereg/prereg/internal/prereg"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries a specific exit status (import: 1 when rows were
// rejected) without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := describe(err)
	if !strings.HasPrefix(msg, "prereg ") { // usage errors name the command already
		msg = "prereg: " + msg
	}
	fmt.Fprintln(stderr, msg)
	return 2
}

// describe renders an error for a person: the caller-safe message and every
// detail; internal causes are shown too, since the CLI user is the operator.
func describe(err error) string {
	var pe *prereg.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	msg := pe.Message
	if pe.Code == prereg.Internal && pe.Err != nil {
		msg += ": " + pe.Err.Error()
	}
	for _, d := range pe.Details {
		if d.Message == pe.Message {
			continue // a file-level error's one detail repeats it
		}
		msg += fmt.Sprintf("\n  %s: %s", d.Field, d.Message)
	}
	return msg
}

// env carries the process's streams to every command.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdinTerminal reports whether a person can answer on stdin; nil
	// means no (tests set it to simulate a terminal).
	stdinTerminal func() bool
	// ready, when set, receives the listening address of serve (tests).
	ready func(addr string)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv,
		stdinTerminal: func() bool { return isTerminal(os.Stdin) }})
}

func runEnv(ctx context.Context, args []string, e *env) error {
	root := newRoot(e)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree: every command of prereg is listed here.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "prereg",
		Short:         "Pre-registered Auth0 role assignments, copied onto users at their first login",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate(versionLine())
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		serveCmd(e),
		versionCmd(e),
		addCmd(e),
		listCmd(e),
		revokeCmd(e),
		eraseCmd(e),
		exportCmd(e),
		importCmd(e),
		importsCmd(e),
		statsCmd(e),
		auditCmd(e),
		tokensCmd(e),
		syncCmd(e),
		reconcileCmd(e),
		auth0Cmd(e),
		checkCmd(e),
		backupCmd(e),
		restoreCmd(e),
		copyCmd(e),
		manifestsCmd(e),
	)
	return root
}

// versionLine is what both `prereg version` and `prereg --version` print.
func versionLine() string { return "prereg " + version + "\n" }

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  prereg version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(e.stdout, versionLine())
			return nil
		},
	}
}

// pflagLookup adapts a pflag.FlagSet to config.Lookup.
type pflagLookup struct{ fs *pflag.FlagSet }

func (p pflagLookup) Changed(name string) bool     { return p.fs.Changed(name) }
func (p pflagLookup) Set(name, value string) error { return p.fs.Set(name, value) }
func (p pflagLookup) Names() []string {
	var out []string
	p.fs.VisitAll(func(f *pflag.Flag) { out = append(out, f.Name) })
	return out
}
