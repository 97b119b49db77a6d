package vm

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// AutostartRunOptions of `vm autostart run`.
type AutostartRunOptions struct {
	F      *cmdutil.Factory
	DryRun bool
	Sleep  func(time.Duration) // injected: tests do not wait
}

// NewCmdAutostartRun builds `vm autostart run`.
func NewCmdAutostartRun(f *cmdutil.Factory, runF func(context.Context, *AutostartRunOptions) error) *cobra.Command {
	opts := &AutostartRunOptions{F: f, Sleep: time.Sleep}
	cmd := &cobra.Command{
		Use:         "run",
		Annotations: cmdutil.Journaled("vm:0", nil),
		Short:       "Start the VMs whose profile says autostart = true, in order",
		Long: `Start the VMs whose profile says autostart = true, in order: by group as the
configuration's [autostart] groups list them (groups not listed come after, by name), then
by autostart_priority (higher first), then by name, pausing autostart.delay between VMs and
autostart.group_delay between groups. Meant for a systemd unit at boot; libvirt's own flag
stays off for these VMs. --dry-run prints the order only.`,
		Example: "  vmctl autostart run --dry-run",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return errs.New(errs.Usage, "autostart run takes no VM names: the profiles decide")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAutostartRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the order; start nothing")
	f.AddOutputFlags(cmd)
	return cmd
}

type autostartVM struct {
	name     string
	group    string
	priority int
}

// orderAutostart sorts by configured group order, then priority (higher first), then name.
func orderAutostart(vms []autostartVM, groups []string) {
	rank := map[string]int{}
	for i, g := range groups {
		rank[g] = i
	}
	r := func(g string) int {
		if n, ok := rank[g]; ok {
			return n
		}
		return len(groups)
	}
	sort.SliceStable(vms, func(i, j int) bool {
		a, b := vms[i], vms[j]
		if r(a.group) != r(b.group) {
			return r(a.group) < r(b.group)
		}
		if a.group != b.group {
			return a.group < b.group
		}
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		return a.name < b.name
	})
}

func runAutostartRun(ctx context.Context, o *AutostartRunOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	l, err := o.F.Config()
	if err != nil {
		return err
	}
	cfg := l.Config.Autostart
	delay, _ := time.ParseDuration(cfg.Delay)
	groupDelay, _ := time.ParseDuration(cfg.GroupDelay)
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	names, err := conn.DomainNames(ctx)
	if err != nil {
		return err
	}
	var vms []autostartVM
	for _, n := range names {
		d, err := conn.Domain(ctx, n)
		if err != nil {
			continue // gone meanwhile
		}
		x, err := d.Metadata(ctx, domainxml.Namespace)
		d.Free()
		if err != nil {
			return err
		}
		if x == "" {
			continue
		}
		info, err := domainxml.ParseMetadata(x)
		if err != nil || info.Autostart == nil {
			continue
		}
		vms = append(vms, autostartVM{name: n, group: info.Autostart.Group, priority: info.Autostart.Priority})
	}
	orderAutostart(vms, cfg.Groups)
	type row struct {
		model.Result
		Group    string `json:"group"`
		Priority int    `json:"priority"`
		Order    int    `json:"order"`
	}
	rows := []row{}
	var failures []error
	for i, v := range vms {
		if i > 0 && !o.DryRun {
			if v.group != vms[i-1].group {
				o.Sleep(groupDelay)
			} else {
				o.Sleep(delay)
			}
		}
		r := row{Result: model.Result{Name: v.name}, Group: v.group, Priority: v.priority, Order: i + 1}
		if o.DryRun {
			r.OK, r.Action = true, "would_start"
		} else {
			err := func() error {
				d, err := conn.Domain(ctx, v.name)
				if err != nil {
					return err
				}
				defer d.Free()
				r.Action, err = d.Start(ctx)
				return err
			}()
			if err != nil {
				r.Error, r.Code = err.Error(), errs.KindOf(err).String()
				failures = append(failures, err)
			} else {
				r.OK = true
			}
		}
		rows = append(rows, r)
	}
	cols := []output.Column[row]{
		{Header: "order", Value: func(r row) string { return strconv.Itoa(r.Order) }},
		{Header: "name", Value: func(r row) string { return r.Name }},
		{Header: "group", Value: func(r row) string { return r.Group }},
		{Header: "priority", Value: func(r row) string { return strconv.Itoa(r.Priority) }},
		{Header: "action", Value: func(r row) string { return r.Action }},
		{Header: "result", Value: func(r row) string { return output.ResultCell(r.OK, r.Error) }},
	}
	for _, r := range rows {
		cmdutil.ReportResults(ctx, r.Result) // the operations journal's per-VM record
	}
	if err := output.List(o.F.IO.Out, format, rows, cols, func(r row) string { return r.Name }); err != nil {
		return err
	}
	if len(failures) > 0 {
		return errs.New(errs.Partial, "autostart run: %d of %d VMs failed to start", len(failures), len(rows))
	}
	return nil
}
