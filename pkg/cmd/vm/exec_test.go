package vm

import (
	"context"
	"fmt"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/guestagent"
	"github.com/spf13/cobra"
)

func TestNewCmdExec(t *testing.T) {
	runFlagCases(t, "exec", func(f *cmdutil.Factory, r func(context.Context, *ExecOptions) error) *cobra.Command {
		return NewCmdExec(f, r)
	},
		func(o *ExecOptions) string {
			return fmt.Sprintf("%s %q env=%q cwd=%s n=%v timeout=%s", o.Name, o.Command, o.Env, o.Cwd, o.NoStdin, o.Timeout)
		}, []flagCase{
			{argv: []string{"web01", "--", "uname", "-a"}, want: `web01 ["uname" "-a"] env=[] cwd= n=false timeout=5m0s`},
			// Flags after -- are the guest command's.
			{argv: []string{"web01", "--timeout", "10s", "-n", "--", "ls", "--timeout", "-l"}, want: `web01 ["ls" "--timeout" "-l"] env=[] cwd= n=true timeout=10s`},
			{argv: []string{"--env", "A=1", "-e", "B=x=y", "--cwd", "/srv", "web01", "--", "env"},
				want: `web01 ["env"] env=["` + defaultGuestPath + `" "A=1" "B=x=y"] cwd=/srv n=false timeout=5m0s`},
			{argv: []string{"-e", "PATH=/opt/bin", "web01", "--", "env"}, want: `web01 ["env"] env=["PATH=/opt/bin"] cwd= n=false timeout=5m0s`},
			{argv: []string{"web01", "uname"}, err: errs.Usage},                 // no --
			{argv: []string{"web01", "--"}, err: errs.Usage},                    // no command
			{argv: []string{"--", "uname"}, err: errs.Usage},                    // no VM
			{argv: []string{"a", "b", "--", "uname"}, err: errs.Usage},          // two VMs
			{argv: []string{"-e", "=1", "web01", "--", "env"}, err: errs.Usage}, // no key
			{argv: []string{"-e", "NOVALUE", "web01", "--", "env"}, err: errs.Usage},
		})
}

// The JSON result and the exit status: the guest's code passes through, a signal is 128+N, a
// timeout is 5 with the killing signal not reported as the process's own exit code, and a code
// no exit status can carry (a Windows NTSTATUS) is 1.
func TestExecResultStatus(t *testing.T) {
	o := &ExecOptions{Name: "vm", Command: []string{"x"}}
	three, nine, big := 3, 9, -1073741510
	cases := []struct {
		st       guestagent.ExecStatus
		timedOut bool
		want     int
		code     bool
	}{
		{guestagent.ExecStatus{Exited: true, ExitCode: &three}, false, 3, true},
		{guestagent.ExecStatus{Exited: true, Signal: &nine}, false, 137, false},
		{guestagent.ExecStatus{Exited: true, Signal: &nine}, true, 5, false},
		{guestagent.ExecStatus{Exited: true, ExitCode: &big}, false, 1, true},
	}
	for i, c := range cases {
		r := execResult(o, 1, c.st, c.timedOut, 0)
		if r.ExitStatus != c.want || (r.ExitCode != nil) != c.code || r.TimedOut != c.timedOut {
			t.Errorf("%d: exit_status %d exit_code %v timed_out %v, want %d", i, r.ExitStatus, r.ExitCode, r.TimedOut, c.want)
		}
	}
	r := execResult(o, 1, guestagent.ExecStatus{Exited: true, ExitCode: &three, Stdout: []byte("ok\n"), Stderr: []byte{0xff, 0}}, false, 0)
	if r.Stdout != "ok\n" || r.StdoutBase64 != "" || r.Stderr != "" || r.StderrBase64 != "/wA=" {
		t.Errorf("text and binary output: %+v", r)
	}
}
