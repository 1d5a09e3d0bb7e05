package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/suggest"
)

// usageError is a mistake on the command line: what is wrong, then where
// to read how the command is used.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	return prereg.Errorf(prereg.Invalid, "%s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), cmd.CommandPath())
}

// flagError adds the nearest flag to an unknown one, and a usage hint to
// every flag error.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		if near := nearestFlag(cmd, name); near != "" {
			msg += " (did you mean --" + near + "?)"
		}
	}
	return usageError(cmd, "%s", msg)
}

// nearestFlag is the flag of cmd closest to name (at most two edits away,
// or name is a prefix of it), or "".
func nearestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := suggest.Distance(name, f.Name)
		if d > 2 && strings.HasPrefix(f.Name, name) {
			d = 2
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return best
}

// exactArgs wants one positional argument per name, and says which is
// missing: "prereg revoke: missing registration ID".
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usageError(cmd, "%s: missing %s", cmd.CommandPath(), names[len(args)])
		}
		if len(args) > len(names) {
			return usageError(cmd, "%s: %s expected, got %d arguments", cmd.CommandPath(), argList(names), len(args))
		}
		return nil
	}
}

func argList(names []string) string {
	if len(names) == 1 {
		return "one " + names[0]
	}
	return strings.Join(names, " and ")
}

// noArgs refuses positional arguments, naming the first.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, "%s: takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// group makes cmd a command of subcommands: alone it prints its help, and
// an unknown subcommand gets the nearest ones.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.AddCommand(subs...)
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(near, "\n\t") + "\n"
		}
		return usageError(cmd, "%s", msg)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// inFlagTerms renames the API fields an error names to the flags the user
// typed ("organization_id: …" becomes "--organization: …"); flags maps
// field to flag.
func inFlagTerms(err error, flags map[string]string) error {
	var pe *prereg.Error
	if !errors.As(err, &pe) || len(pe.Details) == 0 {
		return err
	}
	out := *pe
	out.Details = make([]prereg.FieldError, len(pe.Details))
	for i, d := range pe.Details {
		if name, ok := flags[d.Field]; ok {
			if out.Message == d.Field+": "+d.Message {
				out.Message = name + ": " + d.Message
			}
			d.Field = name
		}
		out.Details[i] = d
	}
	if len(out.Details) == 1 && out.Message == out.Details[0].Field+": "+out.Details[0].Message {
		out.Details = nil // the message says it all
	}
	return &out
}
