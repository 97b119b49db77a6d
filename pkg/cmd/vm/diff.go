package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// DiffOptions of `vm diff`.
type DiffOptions struct {
	F        *cmdutil.Factory
	Profiles []string
	ExitCode bool // exit with drift's code when there is any difference
}

// NewCmdDiff builds `vm diff`.
func NewCmdDiff(f *cmdutil.Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{F: f}
	cmd := &cobra.Command{
		Use:   "diff PROFILE...",
		Short: "Show where VMs' definitions differ from their profiles",
		Long: `Render each profile as 'create' would and compare the whole of it with its VM's persistent
definition, after setting aside what libvirt adds or rewrites itself (addresses, aliases,
generated controllers and inputs, expanded machine names, generated MACs, default security
labels, units). Every other difference is one row, keyed by its path in the definition
(devices.watchdog[0], devices.disk[vda].driver.cache, on_crash, metadata.autostart): "added"
when the VM has something its profile does not (apply drops it), "removed" when it lacks
something (apply restores it), "changed" otherwise. A cloud-init seed that differs from the
profile's is reported too: it takes effect only on a new instance. With --exit-code the
status is 10 (drift) when there is any difference, as git diff --exit-code does with 1: for
timers that watch for hand edits (1 stays "the comparison failed").`,
		Example: "  vmctl diff web01 db01 --exit-code || vmctl apply web01 db01",
		Args:    cmdutil.MinimumArgs(1, "one or more profiles"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiff(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.ExitCode, "exit-code", false, "exit 10 when there is drift")
	f.AddOutputFlags(cmd)
	return cmd
}

// errDrift is diff --exit-code's "there are differences": its own exit code (10).
var errDrift = &errs.Error{Kind: errs.Drift, Msg: "profiles and VMs differ"}

func runDiff(ctx context.Context, o *DiffOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	pl, err := newPlanner(ctx, o.F, true)
	if err != nil {
		return err
	}
	defer pl.conn.Close()
	plans, err := pl.planAll(ctx, o.Profiles)
	if err != nil {
		return err
	}
	rows := rowsOf(plans, func(*vmPlan, planRow) string { return "" })
	if err := printDrift(o.F, format, rows); err != nil {
		return err
	}
	if o.ExitCode && len(rows) > 0 {
		return errDrift
	}
	return nil
}
