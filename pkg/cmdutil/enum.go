package cmdutil

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The values' errors are usage errors that say everything (pflag wraps them in "invalid
// argument … for … flag", which the root's flag error handler strips again), so they name the
// flag as it is typed: "--state \"x\": want one of …", like every other bad flag value.

// flagName is how a message names the flag: --name, or -s/--name when it has a shorthand.
func flagName(name, shorthand string) string {
	if shorthand != "" {
		return "-" + shorthand + "/--" + name
	}
	return "--" + name
}

// enumValue is a string flag that accepts only one of its values.
type enumValue struct {
	name    string // as typed: --name or -s/--name
	p       *string
	allowed []string
}

func (e *enumValue) Set(v string) error {
	if !slices.Contains(e.allowed, v) {
		return errs.New(errs.Usage, "%s %q: want one of %s", e.name, v, strings.Join(e.allowed, ", "))
	}
	*e.p = v
	return nil
}
func (e *enumValue) String() string { return *e.p }
func (e *enumValue) Type() string   { return "string" }

// StringEnumFlag registers a string flag limited to values: one list validates it at parse
// time (a usage error, exit 2), is shown in the help and completes on the shell.
func StringEnumFlag(cmd *cobra.Command, p *string, name, shorthand, def string, values []string, usage string) *pflag.Flag {
	*p = def
	f := cmd.Flags().VarPF(&enumValue{name: flagName(name, shorthand), p: p, allowed: values}, name, shorthand, fmt.Sprintf("%s {%s}", usage, strings.Join(values, "|")))
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	return f
}

// enumSliceValue is a repeatable, comma-separated flag whose every element is one of its values.
type enumSliceValue struct {
	name    string
	p       *[]string
	allowed []string
	changed bool
}

func (e *enumSliceValue) Set(v string) error {
	var got []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(e.allowed, s) {
			return errs.New(errs.Usage, "%s %q: want one of %s", e.name, s, strings.Join(e.allowed, ", "))
		}
		got = append(got, s)
	}
	if !e.changed {
		*e.p = nil // the first use replaces the default
		e.changed = true
	}
	*e.p = append(*e.p, got...)
	return nil
}
func (e *enumSliceValue) String() string { return "[" + strings.Join(*e.p, ",") + "]" }
func (e *enumSliceValue) Type() string   { return "strings" }

// StringSliceEnumFlag is StringEnumFlag for a list flag (repeated or comma-separated).
func StringSliceEnumFlag(cmd *cobra.Command, p *[]string, name, shorthand string, def, values []string, usage string) *pflag.Flag {
	*p = def
	f := cmd.Flags().VarPF(&enumSliceValue{name: flagName(name, shorthand), p: p, allowed: values}, name, shorthand, fmt.Sprintf("%s {%s}", usage, strings.Join(values, "|")))
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	return f
}
