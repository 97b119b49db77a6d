package vm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ListOptions of `vm list`.
type ListOptions struct {
	F        *cmdutil.Factory
	States   []string
	Patterns []string
	Hosts    cmdutil.HostFlags
	Cmd      *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdList builds `vm list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list [PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List VMs with state, size, autostart and addresses",
		Long: `List every VM (running or not) with its state, vCPUs, memory, autostart and persistence,
the IPv4 addresses of running VMs from the DHCP leases of libvirt networks, and CPU time.
Patterns are shell-style globs on the name. The whole list takes a few bulk calls, however
many VMs there are.`,
		Example: `  vmctl list
  vmctl list --state running 'web-*'
  vmctl list -o name --state shut_off | xargs vmctl start
  vmctl list --jq '.[] | select(.autostart) | .name'
  vmctl list --host all --state running
  vmctl list --host web 'h2:db-*'`,
		ValidArgsFunction: completeVMs(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Patterns = args
			opts.Cmd = cmd
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	// "saved" selects the shut-off VMs with a managed save image (shut_off selects them too).
	cmdutil.StringSliceEnumFlag(cmd, &opts.States, "state", "", nil, append(slices.Clone(virt.States), stateSaved), "only VMs in these states")
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

// ListColumns is the table view of model.VM.
var ListColumns = []output.Column[model.VM]{
	{Header: "name", Value: func(v model.VM) string { return v.Name }},
	{Header: "state", Value: func(v model.VM) string {
		if v.Saved {
			return stateSaved
		}
		return v.State
	}},
	{Header: "vcpus", Value: func(v model.VM) string { return strconv.Itoa(v.VCPUs) }},
	{Header: "memory", Value: func(v model.VM) string { return units.Human(v.MemoryBytes) }},
	{Header: "autostart", Value: func(v model.VM) string { return output.YesNo(v.Autostart) }},
	{Header: "ipv4", Value: func(v model.VM) string { return output.Dash(strings.Join(v.IPv4, ",")) }},
	{Header: "persistent", Wide: true, Value: func(v model.VM) string { return output.YesNo(v.Persistent) }},
	{Header: "restart", Wide: true, Value: func(v model.VM) string { return output.YesNo(v.PendingRestart) }},
	{Header: "max-memory", Wide: true, Value: func(v model.VM) string { return units.Human(v.MaxMemoryBytes) }},
	{Header: "cpu-time", Wide: true, Value: func(v model.VM) string {
		if v.CPUTimeSeconds == nil {
			return "-"
		}
		return fmt.Sprintf("%.1fs", *v.CPUTimeSeconds)
	}},
	{Header: "uptime", Wide: true, Value: func(v model.VM) string { return uptime(v.UptimeSeconds) }},
	{Header: "uuid", Wide: true, Value: func(v model.VM) string { return v.UUID }},
}

// stateSaved is how list shows a shut-off VM with a managed save image, and selects it.
const stateSaved = "saved"

// yesNo and dash are output's cells under the names the plan, show and snapshot files still use.
func yesNo(b bool) string { return output.YesNo(b) }

func dash(s string) string { return output.Dash(s) }

func runList(ctx context.Context, o *ListOptions) error {
	if o.Hosts.Enabled() {
		return runListHosts(ctx, o)
	}
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	vms, names, err := listMatching(ctx, conn, o.States, o.Patterns)
	if err != nil {
		return err
	}
	if err := output.List(o.F.IO.Out, format, vms, ListColumns, func(v model.VM) string { return v.Name }); err != nil {
		return err
	}
	return cmdutil.MissingNames("VM", o.Patterns, names)
}

// listMatching lists the VMs of one libvirt in the given states matching the patterns, and the
// names of all its VMs (to tell a missing literal name).
func listMatching(ctx context.Context, conn *virt.Conn, states, patterns []string) ([]model.VM, []string, error) {
	all, err := conn.ListVMs(ctx)
	if err != nil {
		return nil, nil, errs.Wrap(err, "list")
	}
	vms := make([]model.VM, 0, len(all))
	names := make([]string, 0, len(all))
	for _, v := range all {
		names = append(names, v.Name)
		if len(states) > 0 && !slices.Contains(states, v.State) && !(v.Saved && slices.Contains(states, stateSaved)) {
			continue
		}
		if !cmdutil.MatchAny(patterns, v.Name) {
			continue
		}
		vms = append(vms, v)
	}
	return vms, names, nil
}

// runListHosts lists the VMs of several hosts at once, ordered by host then name. A pattern
// host:glob applies on that host only; a literal name is missing only if no host answering has it.
func runListHosts(ctx context.Context, o *ListOptions) error {
	return cmdutil.ListHosts(ctx, o.F, o.Cmd, &o.Hosts, "VM", o.Patterns, cmdutil.HostRows[model.VM]{
		Columns: ListColumns,
		Host:    func(v *model.VM) *string { return &v.Host },
		Name:    func(v model.VM) string { return v.Name },
	}, func(ctx context.Context, conn *virt.Conn, patterns []string) ([]model.VM, []string, error) {
		return listMatching(ctx, conn, o.States, patterns)
	})
}
