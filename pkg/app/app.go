// Package app is hvctl's entry point: argv[0] dispatch, the root command, the signal context,
// and the one place where errors become messages and exit codes.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// Links are the names the binary answers to besides hvctl, and the subtree each one runs.
var Links = []struct{ Name, Tree string }{
	{"vmctl", "vm"}, {"isoctl", "iso"}, {"netctl", "net"}, {"auditctl", "audit"},
}

// treeOf returns the subtree a link name runs, or "" for hvctl itself.
func treeOf(prog string) string {
	i := slices.IndexFunc(Links, func(l struct{ Name, Tree string }) bool { return l.Name == prog })
	if i < 0 {
		return ""
	}
	return Links[i].Tree
}

// Main runs hvctl with the process's arguments and returns the exit code.
func Main() int {
	return run(os.Args, cmdutil.New(progName(os.Args[0])), true)
}

func progName(argv0 string) string {
	base := filepath.Base(argv0)
	if treeOf(base) != "" {
		return base
	}
	return "hvctl"
}

// Run executes one invocation with the given factory (tests pass their own streams).
func Run(args []string, f *cmdutil.Factory) int { return run(args, f, false) }

// run is Run for a process that exits right after when exiting is set.
func run(args []string, f *cmdutil.Factory, exiting bool) int {
	rec := &recorder{f: f, argv: args, exiting: exiting}
	f.Argv = args
	root := newRoot(f, f.Prog, rec)
	root.SetArgs(args[1:])
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)

	// A hang-up (the terminal or the ssh session closed) ends a command as SIGTERM does, with
	// its rollback and the terminal restored, instead of killing it midway; unless the command
	// was started to ignore it (nohup): notifying would undo that.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	// A process that exits right after keeps catching them to the end: with the default action
	// back, a Ctrl-C in the moment between a finished command and the exit killed the process,
	// so a create that had made everything was reported as killed by the signal.
	defer func() {
		if !exiting {
			stop()
		}
	}()
	cmd, err := root.ExecuteContextC(ctx)
	code := 0
	if err != nil {
		if ctx.Err() != nil { // a signal ended the run, whatever the command made of it
			err = &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: err}
		}
		code = report(f, cmd, args[1:], err)
	}
	rec.finish(code, err)
	return code
}

// report prints err once, in the one format, and returns its exit code. cmd is the command that
// failed (for its help hint and its output flags), args the raw arguments.
func report(f *cmdutil.Factory, cmd *cobra.Command, args []string, err error) int {
	var status *errs.Status
	if errors.As(err, &status) { // the command said all it had to (vmctl exec: the guest's status)
		return status.Code
	}
	if refusal := cmdutil.NotConfirmed(err); refusal != nil {
		err = refusal // worded alike in every tree, whatever context the command added
	}
	kind := errs.KindOf(err)
	msg := err.Error()
	var e *errs.Error
	if !errors.As(err, &e) && isCobraUsage(msg) {
		kind = errs.Usage
	}
	hint := errs.HintOf(err)
	if kind == errs.Usage && hint == "" {
		path := f.Prog
		if cmd != nil {
			path = cmd.CommandPath()
		}
		hint = fmt.Sprintf("see '%s --help'", path)
	}
	if cmdutil.WantsJSON(cmd, args) {
		body := model.ErrorBody{Error: model.ErrorDetail{Code: kind.String(), Message: msg, ExitCode: kind.ExitCode(), Hint: hint}}
		_ = output.WriteJSON(f.IO.ErrOut, output.Format{Kind: output.JSON}, body)
		return kind.ExitCode()
	}
	fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", f.Prog, output.Escape(msg))
	if hint != "" {
		fmt.Fprintf(f.IO.ErrOut, "hint: %s\n", output.Escape(hint))
	}
	return kind.ExitCode()
}

// isCobraUsage recognises the errors cobra and pflag still return untyped: flag parsing goes
// through the root's FlagErrorFunc, argument counts through cmdutil's typed validators, so
// what is left is a handful of exact prefixes. An OS error (EINVAL: "invalid argument") is
// never a usage error.
func isCobraUsage(msg string) bool {
	for _, p := range []string{"unknown command ", "required flag(s) ", "if any flags in the group ", "at least one of the flags in the group "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
