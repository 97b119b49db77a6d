package auditcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// testNow is the clock of every test: waivers expire relative to it.
var testNow = time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)

type testEnv struct {
	f           *cmdutil.Factory
	out, errOut *bytes.Buffer
	env         map[string]string
	dir         string
}

// newTestEnv is a factory on libvirt's test driver (test:///default: one VM "test" with an
// unpinned disk outside any pool), no config files and a fixed clock.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, env: cmdutiltest.TestDriver(map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "config")})}
	e.f, e.out, e.errOut = cmdutiltest.NewFactory(t, e.env)
	e.f.Now = func() time.Time { return testNow }
	e.f.Prog = "auditctl"
	return e
}

// write puts a file under the test's directory and returns its path.
func (e *testEnv) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// execute runs cmd under a root with the global output flags, as app does.
func (e *testEnv) execute(cmd *cobra.Command, args ...string) error {
	e.out.Reset()
	e.errOut.Reset()
	root := &cobra.Command{Use: "auditctl", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		var own *errs.Error // an enum flag's own message, as app's root keeps it
		if errors.As(err, &own) {
			return own
		}
		return &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
	})
	e.f.Global.OutputFlags = cmdutil.OutputFlags{} // one invocation's flags, not the last one's
	root.PersistentFlags().AddFlagSet(e.f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	root.SetOut(e.out)
	root.SetErr(e.errOut)
	return root.ExecuteContext(context.Background())
}

func wantKind(t *testing.T, err error, k errs.Kind) {
	t.Helper()
	if errs.KindOf(err) != k || (k != errs.Failure && err == nil) {
		t.Fatalf("error %v (kind %v), want kind %v (exit %d)", err, errs.KindOf(err), k, k.ExitCode())
	}
}
