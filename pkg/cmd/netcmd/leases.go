package netcmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// leaseColumns is the table view of model.Lease.
var leaseColumns = []output.Column[model.Lease]{
	{Header: "network", Value: func(l model.Lease) string { return l.Network }},
	{Header: "vm", Value: func(l model.Lease) string { return output.Dash(l.VM) }},
	{Header: "mac", Value: func(l model.Lease) string { return l.MAC }},
	{Header: "address", Value: func(l model.Lease) string { return fmt.Sprintf("%s/%d", l.Address, l.Prefix) }},
	{Header: "hostname", Value: func(l model.Lease) string { return output.Dash(l.Hostname) }},
	{Header: "expires", Value: func(l model.Lease) string { return output.Dash(l.ExpiresAt) }},
}

// LeasesOptions of `net leases`.
type LeasesOptions struct {
	F       *cmdutil.Factory
	Targets []string // names and globs; none means every active network
	Hosts   cmdutil.HostFlags
	Cmd     *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdLeases builds `net leases`.
func NewCmdLeases(f *cmdutil.Factory, runF func(context.Context, *LeasesOptions) error) *cobra.Command {
	opts := &LeasesOptions{F: f}
	cmd := &cobra.Command{
		Use:   "leases [NAME|PATTERN...]",
		Short: "List the DHCP leases of networks, with the VM that holds each",
		Long: `List the DHCP leases handed out by the named networks (every active network when none is
named; globs such as 'lab-*' pick among all networks), each matched by MAC to the VM on this
host that holds it. A lease whose MAC belongs to no VM here shows "-" (a guest that was
deleted, or a foreign machine on a bridge). -o name prints the addresses.

With --host the leases of several configured hosts are listed at once, by host, under a
leading HOST column (a "host" field in JSON), each matched to the VMs of its own host;
HOST:NAME names a network of that host only. A host that does not answer is reported and
the rest still answer (exit 6; --strict fails). A network named on a host whose driver
reports no DHCP leases (test:///) is exit 2, saying so; that host answered, and is not counted
among those that did not.`,
		Example: `  netctl leases
  netctl leases default --jq '.[] | select(.vm == "web01") | .address'
  netctl leases --host all`,
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTargets(args, false); err != nil {
				return err
			}
			opts.Targets = args
			opts.Cmd = cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLeases(cmd.Context(), opts)
		},
	}
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

func runLeases(ctx context.Context, o *LeasesOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if o.Hosts.Enabled() {
		return runLeasesHosts(ctx, o, format)
	}
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	var names []string
	if len(o.Targets) > 0 {
		existing, err := conn.NetworkNames(ctx)
		if err != nil {
			return errs.Wrap(err, "leases")
		}
		var unmatched []string
		names, unmatched = (cmdutil.BulkFlags{}).Resolve(o.Targets, existing)
		if len(unmatched) > 0 {
			return errs.New(errs.NotFound, "no network matches %s", output.Escape(unmatched[0])).WithHint("see them with: netctl list")
		}
	}
	leases, err := conn.Leases(ctx, names)
	if err != nil {
		return errs.Wrap(err, "leases")
	}
	return output.List(o.F.IO.Out, format, leases, leaseColumns, func(l model.Lease) string { return l.Address })
}

// runLeasesHosts lists the leases of several hosts at once, by host. A target must match a
// network on some host that answered (a qualified one, on its host).
func runLeasesHosts(ctx context.Context, o *LeasesOptions, format output.Format) error {
	hosts, err := o.F.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	if err := o.F.CheckHostQualifiers(o.Targets, hosts); err != nil {
		return err
	}
	isHost := cmdutil.IsHostIn(hosts)
	type found struct {
		host        cmdutil.Host
		leases      []model.Lease
		matched     []string // the targets that named a network of this host
		unsupported error    // the host answered, but its driver reports no leases
	}
	per, fanErr := cmdutil.FanOut(ctx, o.F, o.Cmd, &o.Hosts, hosts, true,
		func(ctx context.Context, h cmdutil.Host, conn *virt.Conn) ([]found, error) {
			fd := found{host: h}
			var names []string
			if len(o.Targets) > 0 {
				existing, err := conn.NetworkNames(ctx)
				if err != nil {
					return nil, errs.Wrap(err, "leases")
				}
				for _, t := range o.Targets {
					patterns, applies := cmdutil.PatternsForHost([]string{t}, h.Name, isHost)
					here := slices.DeleteFunc(slices.Clone(existing), func(n string) bool { return !applies || !cmdutil.MatchAny(patterns, n) })
					if len(here) > 0 {
						fd.matched = append(fd.matched, t)
						names = append(names, here...)
					}
				}
				if len(names) == 0 {
					return []found{fd}, nil // none asked for is here: not every network
				}
				slices.Sort(names)
				names = slices.Compact(names)
			}
			leases, err := conn.Leases(ctx, names)
			if errors.Is(err, virt.ErrNoLeaseSupport) {
				fd.unsupported = err
				return []found{fd}, nil
			}
			if err != nil {
				return nil, errs.Wrap(err, "leases")
			}
			for i := range leases {
				leases[i].Host = h.Name
			}
			fd.leases = leases
			return []found{fd}, nil
		})
	if per == nil && fanErr != nil {
		return fanErr
	}
	leases := []model.Lease{}
	var matched []string
	var unsupported []found
	for _, p := range per {
		leases = append(leases, p.leases...)
		matched = append(matched, p.matched...)
		if p.unsupported != nil {
			unsupported = append(unsupported, p)
		}
	}
	slices.SortStableFunc(leases, func(a, b model.Lease) int { return cmp.Compare(a.Host, b.Host) })
	cols := append([]output.Column[model.Lease]{{Header: "host", Value: func(l model.Lease) string { return l.Host }}}, leaseColumns...)
	if err := output.List(o.F.IO.Out, format, leases, cols, func(l model.Lease) string { return l.Address }); err != nil {
		return err
	}
	// A host whose driver has no leases answered: it is not among those that did not, but what
	// was asked of it cannot be had there, and the command says so (exit 2) after the rest.
	slices.SortFunc(unsupported, func(a, b found) int { return cmp.Compare(a.host.Name, b.host.Name) })
	if fanErr == nil && len(unsupported) == 1 {
		return &errs.Error{Kind: errs.Usage, Err: unsupported[0].unsupported, Msg: "host " + unsupported[0].host.Name + ": " + unsupported[0].unsupported.Error(), Hint: virt.NoLeaseSupportHint}
	}
	var noLeases []string
	for _, u := range unsupported {
		o.F.ReportHostFailure(o.Cmd, u.host, u.unsupported)
		noLeases = append(noLeases, u.host.Name)
	}
	if fanErr != nil { // a host that did not answer may hold a network asked for: say that first
		return fanErr
	}
	if len(noLeases) > 0 {
		return errs.New(errs.Usage, "%d of %d hosts do not report DHCP leases: %s", len(noLeases), len(hosts), strings.Join(noLeases, ", ")).WithHint(virt.NoLeaseSupportHint)
	}
	for _, t := range o.Targets {
		if !slices.Contains(matched, t) {
			return errs.New(errs.NotFound, "no network matches %s on any host", output.Escape(t)).
				WithHint("see them with: netctl list --host %s", strings.Join(o.Hosts.Hosts, ","))
		}
	}
	return nil
}
