// Package app is hvctl's entry point: argv[0] dispatch, the root command, the signal context,
// and the one place where errors become messages and exit codes.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// Links are the names the binary answers to besides hvctl, and the subtree each one runs.
var Links = []struct{ Name, Tree string }{
	{"vmctl", "vm"}, {"isoctl", "iso"}, {"netctl", "net"}, {"auditctl", "audit"},
}

// Main runs hvctl with the process's arguments and returns the exit code.
func Main() int {
	return Run(os.Args, cmdutil.New(progName(os.Args[0])))
}

func progName(argv0 string) string {
	base := filepath.Base(argv0)
	for _, l := range Links {
		if base == l.Name {
			return base
		}
	}
	return "hvctl"
}

// Run executes one invocation with the given factory (tests pass their own streams).
func Run(args []string, f *cmdutil.Factory) int {
	root := NewRoot(f, f.Prog)
	root.SetArgs(args[1:])
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ctx.Err() != nil { // a signal ended the run, whatever the command made of it
		err = &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: err}
	}
	return report(f, err)
}

// report prints err once, in the one format, and returns its exit code.
func report(f *cmdutil.Factory, err error) int {
	kind := errs.KindOf(err)
	msg := err.Error()
	var e *errs.Error
	if !errors.As(err, &e) && isCobraUsage(msg) {
		kind = errs.Usage
	}
	hint := errs.HintOf(err)
	if kind == errs.Usage && hint == "" {
		hint = fmt.Sprintf("see '%s --help'", f.Prog)
	}
	asJSON := f.Global.JSON || f.Global.JQ != "" || f.Global.Output == "json"
	if asJSON {
		body := map[string]any{"error": map[string]any{"code": kind.String(), "message": msg, "exit_code": kind.ExitCode(), "hint": hint}}
		b, _ := json.Marshal(body)
		fmt.Fprintln(f.IO.ErrOut, string(b))
		return kind.ExitCode()
	}
	fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", f.Prog, output.Escape(msg))
	if hint != "" {
		fmt.Fprintf(f.IO.ErrOut, "hint: %s\n", hint)
	}
	return kind.ExitCode()
}

// isCobraUsage recognises cobra's own argument and flag errors, which are not typed.
func isCobraUsage(msg string) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "bad flag syntax", "if any flags in the group",
		"required flag(s)"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func parseDuration(s string) (d time.Duration, err error) { return time.ParseDuration(s) }
