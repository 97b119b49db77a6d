package vm

import (
	"context"
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdPool builds `vm pool` and its subcommands, one file each.
func NewCmdPool(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "List, create, start, stop and delete storage pools",
		Long: `Storage pools hold the volumes VMs use as disks: a directory (dir), an LVM volume group
(logical) or a mounted NFS/CIFS export (netfs). 'vmctl pool create' prepares a fresh host
without virsh; 'vmctl volume' manages what is inside a pool.

Deleting a pool removes its definition only: the directory, volume group or export and the
volumes in it stay unless --delete-data asks for them too.`,
	}
	cmd.AddCommand(NewCmdPoolList(f, nil), NewCmdPoolShow(f, nil), NewCmdPoolCreate(f, nil), NewCmdPoolStart(f, nil),
		NewCmdPoolStop(f, nil), NewCmdPoolAutostart(f, nil), NewCmdPoolDelete(f, nil), NewCmdPoolRefresh(f, nil))
	return cmd
}

// completePools completes pool names from the connected host, bounded like VM names; with
// suffix "/" it completes POOL/ for volume arguments.
func completePools(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		conn, err := f.Connect(ctx, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		defer conn.Close()
		names, err := conn.PoolNames(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// withConn connects and runs fn; the connection is closed afterwards.
func withConn(ctx context.Context, f *cmdutil.Factory, readOnly bool, fn func(*virt.Conn) error) error {
	conn, err := f.Connect(ctx, readOnly)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

const poolBulkHelp = `

Targets are pool names, shell-style globs ('lab-*'), or --all. Each pool gets one result line
(one JSON object); the exit status is 6 when some failed.`

// poolBulk registers the target flags of the pool verbs that take many pools.
func poolBulk(f *cmdutil.Factory, cmd *cobra.Command, b *cmdutil.BulkFlags) {
	b.Noun = "pool"
	cmdutil.AddBulkFlags(cmd, b)
	f.AddOutputFlags(cmd)
}

// runPoolBulk resolves the targets against the host's pools, lets prepare see them (and
// refuse or ask), runs act on each and prints one result per target and per glob that
// matched nothing.
func runPoolBulk(ctx context.Context, f *cmdutil.Factory, verb string, args []string, b cmdutil.BulkFlags,
	prepare func(ctx context.Context, c *virt.Conn, targets []string) error,
	act func(ctx context.Context, c *virt.Conn, name string) (string, error)) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	return withConn(ctx, f, false, func(c *virt.Conn) error {
		existing, err := c.PoolNames(ctx)
		if err != nil {
			return errs.Wrap(err, "pool %s", verb)
		}
		targets, unmatched := b.Resolve(args, existing)
		if prepare != nil && len(targets) > 0 {
			if err := prepare(ctx, c, targets); err != nil {
				return err
			}
		}
		results, failures := cmdutil.RunBulk(ctx, targets, b.Parallel, func(ctx context.Context, name string) (string, error) {
			return act(ctx, c, name)
		})
		for _, p := range unmatched {
			results = append(results, model.Result{Name: p, Error: "no pool matches " + p, Code: errs.NotFound.String()})
			failures = append(failures, errs.New(errs.NotFound, "no pool matches %s", p))
		}
		if err := output.List(f.IO.Out, format, results, cmdutil.ResultColumns, func(r model.Result) string { return r.Name }); err != nil {
			return err
		}
		return cmdutil.BulkResultError("pool "+verb, results, failures)
	})
}

// runningPoolUsers maps each pool of targets to the running VMs with disks in it.
func runningPoolUsers(ctx context.Context, c *virt.Conn, targets []string) (map[string][]string, error) {
	running, err := c.ActiveDomainNames(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, t := range targets {
		users, err := c.PoolUsers(ctx, t)
		if err != nil {
			return nil, errs.Wrap(err, "cannot tell which VMs use pool %s", t)
		}
		for vm := range users {
			if slices.Contains(running, vm) {
				out[t] = append(out[t], vm)
			}
		}
		slices.Sort(out[t])
	}
	return out, nil
}
