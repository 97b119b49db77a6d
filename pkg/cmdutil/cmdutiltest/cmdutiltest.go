// Package cmdutiltest builds the Factory that command tests run with: buffers for streams, an
// environment of the test's choosing, no system configuration and a private HOME.
package cmdutiltest

import (
	"bytes"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/spf13/pflag"
)

// NewFactory returns a Factory whose stdout and stderr are the returned buffers and whose
// environment is env on top of HVCTL_SYSTEM_CONFIG=/nonexistent and HOME, HVCTL_PATHS_STATE and
// XDG_RUNTIME_DIR in t.TempDir() (so no file of the machine running the tests is read or written). Global.Flags holds the root's persistent
// flags, for tests that put the command under a root of their own (see Root).
func NewFactory(t testing.TB, env map[string]string) (f *cmdutil.Factory, stdout, stderr *bytes.Buffer) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	// paths.state and the runtime directory are the test's own: the operations journal of
	// commands run in tests never lands in the machine's /var/lib/hvctl.
	vars := map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": t.TempDir(),
		"HVCTL_PATHS_STATE": t.TempDir(), "XDG_RUNTIME_DIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	f = &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return vars[k] }, Now: time.Now, Prog: "hvctl", Global: &cmdutil.Global{}}
	fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	fs.StringVarP(&f.Global.Connect, "connect", "c", "", "")
	fs.BoolVarP(&f.Global.Quiet, "quiet", "q", false, "")
	fs.DurationVar(&f.Global.Timeout, "timeout", 0, "")
	fs.StringVar(&f.Global.ConfigFile, "config", "", "")
	f.Global.Flags = fs
	return f, out, errOut
}

// TestDriver is the environment of a test against libvirt's in-process test driver.
func TestDriver(extra map[string]string) map[string]string {
	env := map[string]string{"HVCTL_URI": "test:///default"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}
