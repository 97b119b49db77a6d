package cmdutil_test

import (
	"context"
	"slices"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/spf13/cobra"
)

// The VM names a completion offers come from the connected host; a host that cannot be reached
// offers nothing and says so with the error directive (never file names).
func TestVMNameCompletions(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	names, directive := cmdutil.VMNameCompletions(context.Background(), f)
	if !slices.Contains(names, "test") || directive != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("test driver: got %q, directive %d; want the VM test and NoFileComp", names, directive)
	}
	f, _, _ = cmdutiltest.NewFactory(t, map[string]string{"HVCTL_URI": "test:///nonexistent-file.xml"})
	names, directive = cmdutil.VMNameCompletions(context.Background(), f)
	if names != nil || directive != cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveError {
		t.Errorf("unreachable host: got %q, directive %d; want nothing and NoFileComp|Error", names, directive)
	}
}
