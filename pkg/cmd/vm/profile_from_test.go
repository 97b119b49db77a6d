package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdProfileFrom(t *testing.T) {
	runFlagCases(t, "profile from", func(f *cmdutil.Factory, r func(context.Context, *ProfileFromOptions) error) *cobra.Command {
		return NewCmdProfileFrom(f, r)
	}, func(o *ProfileFromOptions) string { return fmt.Sprintf("%s out=%s force=%v", o.VM, o.Output, o.Force) }, []flagCase{
		{argv: []string{"web01"}, want: "web01 out= force=false"},
		{argv: []string{"web01", "-o", "/tmp/w.toml", "--force"}, want: "web01 out=/tmp/w.toml force=true"},
		{argv: []string{"web01", "--force"}, err: errs.Usage},
		{argv: []string{"web01", "--output", "w.json"}, err: errs.Usage},
		{argv: []string{}, err: errs.Usage},
	})
}

// A VM hvctl created, written out as a profile into another directory: diff against that
// profile finds nothing (the warning would name what it found), and a second write needs --force.
func TestProfileFromThenDiffInSync(t *testing.T) {
	virttest.Open(t)
	ctx := context.Background()
	o, _ := createFactory(t, profiles(t))
	o.Profile = "small"
	if err := runCreate(ctx, o); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{
		"HVCTL_PATHS_PROFILES": dir, "HVCTL_VM_DEFAULTS_POOL": "default-pool", "HVCTL_VM_DEFAULTS_MEMORY": "3GiB", "HVCTL_VM_DEFAULTS_VCPUS": "3",
	}))
	file := filepath.Join(dir, "small.toml")
	if err := runProfileFrom(ctx, &ProfileFromOptions{F: f, VM: "small", Output: file}); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(file)
	if strings.Contains(errOut.String(), "difference") || !strings.Contains(string(body), "size = '1GiB'") || !strings.Contains(string(body), "[[extra_disks]]\nbus = 'virtio'\nsize = '2GiB'") {
		t.Errorf("stderr: %s\nprofile:\n%s", errOut, body)
	}
	out.Reset()
	if err := runDiff(ctx, &DiffOptions{F: f, Profiles: []string{"small"}, ExitCode: true}); err != nil {
		t.Errorf("diff after profile from: %v\n%s", err, out)
	}
	if err := runProfileFrom(ctx, &ProfileFromOptions{F: f, VM: "small", Output: file}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("over an existing file: %v", err)
	}
	out.Reset()
	if err := runProfileFrom(ctx, &ProfileFromOptions{F: f, VM: "small"}); err != nil || !strings.HasPrefix(out.String(), "# Made from the VM small") {
		t.Errorf("to stdout: %v\n%s", err, out)
	}
}
