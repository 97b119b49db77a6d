package cmdutil

import (
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// The argument-count validators below replace cobra's: every count error is a usage error
// (exit 2) by type, never recognised by its text, and names the command that refused it.

// ExactArgs accepts exactly n arguments; what says which ("one VM name").
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return argsError(cmd, "%s takes %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// MinimumArgs accepts n or more arguments.
func MinimumArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return argsError(cmd, "%s takes %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// RangeArgs accepts between lo and hi arguments, inclusive.
func RangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return argsError(cmd, "%s takes %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// NoArgs accepts no arguments at all.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return argsError(cmd, "%s takes no arguments, got %d", cmd.CommandPath(), len(args))
	}
	return nil
}

func argsError(cmd *cobra.Command, format string, a ...any) error {
	return errs.New(errs.Usage, format, a...).WithHint("see '%s --help'", cmd.CommandPath())
}
