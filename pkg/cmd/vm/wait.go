package vm

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// WaitConditions are what `wait --for` accepts.
var WaitConditions = []string{"running", "stopped", "ip", "agent"}

// WaitOptions of `vm wait`.
type WaitOptions struct {
	F       *cmdutil.Factory
	Targets []string
	For     string
	Sources []string
}

// NewCmdWait builds `vm wait`.
func NewCmdWait(f *cmdutil.Factory, runF func(context.Context, *WaitOptions) error) *cobra.Command {
	opts := &WaitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "wait NAME|PATTERN... --for running|stopped|ip|agent",
		Short: "Wait until VMs run, stop, have an IP address, or answer through the guest agent",
		Long: `Block until every named VM reaches the condition, or --timeout (default 5m) passes (exit 5).

  running   the VM is running
  stopped   the VM is shut off (or crashed)
  ip        the VM has an IP address: from a DHCP lease, else the guest agent, else the
            host's ARP table (--source changes the order); the addresses are printed
  agent     the qemu guest agent has connected

State changes are taken from libvirt's events as they happen, with polling as a fallback;
addresses are polled.`,
		Example: `  vmctl start web01 && vmctl wait web01 --for ip --timeout 2m
  IP=$(vmctl wait web01 --for ip --jq '.[0].addresses[0].address')
  vmctl wait 'web-*' --for stopped`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "5m"},
		ValidArgsFunction: completeVMs(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(WaitConditions, opts.For) {
				return errs.New(errs.Usage, "--for must be one of %s", strings.Join(WaitConditions, ", "))
			}
			if err := (cmdutil.BulkFlags{Parallel: 1}).Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWait(cmd.Context(), opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.For, "for", "", "", WaitConditions, "condition")
	cmdutil.StringSliceEnumFlag(cmd, &opts.Sources, "source", "", AddressSources, AddressSources, "with --for ip: where to look, in order")
	f.AddOutputFlags(cmd)
	return cmd
}

// WaitColumns is the table view of model.WaitResult.
var WaitColumns = []output.Column[model.WaitResult]{
	{Header: "name", Value: func(r model.WaitResult) string { return r.Name }},
	{Header: "state", Value: func(r model.WaitResult) string { return output.Dash(r.State) }},
	{Header: "addresses", Value: func(r model.WaitResult) string {
		var a []string
		for _, x := range r.Addresses {
			a = append(a, x.Address+" ("+x.Source+")")
		}
		return output.Dash(strings.Join(a, ", "))
	}},
	{Header: "result", Value: func(r model.WaitResult) string { return output.ResultCell(r.OK, r.Error) }},
}

func runWait(ctx context.Context, o *WaitOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	// Interface addresses need a read-write connection, even from leases.
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	existing, err := conn.DomainNames(ctx)
	if err != nil {
		return err
	}
	targets, unmatched := cmdutil.BulkFlags{}.Resolve(o.Targets, existing)
	var mu sync.Mutex
	found := map[string][]model.Address{}
	states := map[string]string{}
	// Waiting costs nothing, so every VM is waited for at once.
	bar := progress.New(o.F.IO, len(targets), "wait --for "+o.For)
	results, failures := cmdutil.RunBulk(ctx, targets, max(len(targets), 1), func(ctx context.Context, name string) (string, error) {
		defer bar.Done(1)
		d, err := conn.Domain(ctx, name)
		if err != nil {
			return "", err
		}
		defer d.Free()
		addrs, err := waitOne(ctx, d, o)
		// The state for the report, with a short deadline of its own: ctx may be over, and the
		// daemon may be why.
		var state string
		if conn.Answering() {
			stateCtx, cancel := virt.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			state, _, _ = d.State(stateCtx)
			cancel()
		}
		mu.Lock()
		found[name], states[name] = addrs, state
		mu.Unlock()
		return o.For, err
	})
	bar.Finish()
	out := make([]model.WaitResult, 0, len(results)+len(unmatched))
	for _, r := range results {
		addrs := found[r.Name]
		if addrs == nil {
			addrs = []model.Address{}
		}
		out = append(out, model.WaitResult{Name: r.Name, For: o.For, OK: r.OK, State: states[r.Name], Addresses: addrs, Error: r.Error, Code: r.Code})
	}
	for _, p := range unmatched {
		out = append(out, model.WaitResult{Name: p, For: o.For, Addresses: []model.Address{}, Error: "no VM matches " + p, Code: errs.NotFound.String()})
		results = append(results, model.Result{Name: p})
		failures = append(failures, errs.New(errs.NotFound, "no VM matches %s", p))
	}
	if err := output.List(o.F.IO.Out, format, out, WaitColumns, func(r model.WaitResult) string { return r.Name }); err != nil {
		return err
	}
	return cmdutil.BulkResultError("wait", results, failures)
}

func waitOne(ctx context.Context, d *virt.Domain, o *WaitOptions) ([]model.Address, error) {
	switch o.For {
	case "running":
		return nil, d.WaitState(ctx, func(s string) bool { return s == virt.StateRunning })
	case "stopped":
		return nil, d.WaitState(ctx, func(s string) bool { return s == virt.StateShutOff || s == virt.StateCrashed })
	case "agent":
		return nil, d.WaitAgent(ctx)
	}
	return d.WaitAddresses(ctx, o.Sources)
}
