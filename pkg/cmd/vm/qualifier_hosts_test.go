package vm

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// A host:pattern whose host is configured but not selected by --host can match nothing: every
// fan-out read command refuses it as the bulk verbs do (exit 2, naming the host), instead of an
// empty table with exit 0 (list, stats) or "not found" (show, ip).
func TestHostsQualifierOfUnselectedHostIsUsage(t *testing.T) {
	cfg := hostsConfig(t)
	for name, tc := range map[string]struct {
		build func(*cmdutil.Factory) *cobra.Command
		args  []string
	}{
		"list":  {func(f *cmdutil.Factory) *cobra.Command { return NewCmdList(f, nil) }, []string{"--host", "h1", "h2:web*"}},
		"show":  {showCmd, []string{"--host", "h1", "h2:web01"}},
		"ip":    {ipCmd, []string{"--host", "h1", "h2:web01"}},
		"stats": {func(f *cmdutil.Factory) *cobra.Command { return NewCmdStats(f, nil) }, []string{"--host", "h1", "--count", "1", "h2:web*"}},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, _, err := runHostsCmd(t, cfg, tc.build, tc.args...)
			if errs.KindOf(err) != errs.Usage || err == nil || !strings.Contains(err.Error(), "names host h2, which --host does not select (h1)") {
				t.Fatalf("want a usage error naming h2, got %v (kind %v)", err, errs.KindOf(err))
			}
			if stdout != "" {
				t.Errorf("printed %q before refusing", stdout)
			}
		})
	}
	// Selected, it applies there only; a prefix that is no configured host stays part of the name.
	stdout, stderr, err := runListCmd(t, cfg, "--host", "pair", "-o", "name", "h2:web*")
	if err != nil || stdout != "h2:web01\n" {
		t.Fatalf("h2:web* over pair: %q, %v (stderr %q)", stdout, err, stderr)
	}
	if _, _, err := runListCmd(t, cfg, "--host", "h1", "nohost:web01"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("nohost:web01 is a name, not found: got %v", err)
	}
}
