package netcmd

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// The bulk verbs — start, stop, autostart, delete — share vmctl's grammar: names, globs or
// --all; one result per network; exit 6 when some failed; and one confirmation model for what
// destroys (delete; stop with --all or under running VMs).

const bulkHelp = `

Targets are network names, shell-style globs ('lab-*'), or --all. Each network gets one
result line (one JSON object); the exit status is 6 when some failed.`

// networkBulk is what NewCmdStart … NewCmdDelete share: the target flags and their checks.
func networkBulk(f *cmdutil.Factory, cmd *cobra.Command, b *cmdutil.BulkFlags) {
	b.Noun = "network"
	cmdutil.AddBulkFlags(cmd, b)
	f.AddOutputFlags(cmd)
}

// checkTargets validates names and patterns given as arguments (required: at least one).
func checkTargets(args []string, required bool) error {
	if required && len(args) == 0 {
		return errs.New(errs.Usage, "no network given").WithHint("name one or more networks, a glob such as 'lab-*', or --all")
	}
	for _, a := range args {
		if cmdutil.IsGlob(a) {
			if _, err := path.Match(a, ""); err != nil {
				return errs.New(errs.Usage, "invalid pattern %q", output.Escape(a))
			}
		}
	}
	return nil
}

// bulkRun resolves the targets, lets prepare look at them (and ask for confirmation), runs act
// on each and prints one result per target (and one per glob that matched nothing).
type bulkRun struct {
	f       *cmdutil.Factory
	verb    string
	targets []string
	bulk    cmdutil.BulkFlags
	prepare func(ctx context.Context, conn *virt.Conn, targets []string) error
	act     func(ctx context.Context, conn *virt.Conn, name string) (string, error)
}

func (r bulkRun) run(ctx context.Context) error {
	format, err := r.f.Format()
	if err != nil {
		return err
	}
	conn, err := r.f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	existing, err := conn.NetworkNames(ctx)
	if err != nil {
		return errs.Wrap(err, "%s", r.verb)
	}
	targets, unmatched := r.bulk.Resolve(r.targets, existing)
	if len(targets) == 0 && len(unmatched) == 0 {
		r.f.Infof("%s: no networks to %s", r.f.Prog, r.verb)
		return output.List(r.f.IO.Out, format, []model.Result{}, cmdutil.ResultColumns, resultName)
	}
	if r.prepare != nil && len(targets) > 0 {
		if err := r.prepare(ctx, conn, targets); err != nil {
			return err
		}
	}
	results, failures := cmdutil.RunBulk(ctx, targets, r.bulk.Parallel, func(ctx context.Context, name string) (string, error) {
		return r.act(ctx, conn, name)
	})
	results, failures = cmdutil.AddUnmatched(ctx, "network", unmatched, results, failures)
	if err := output.List(r.f.IO.Out, format, results, cmdutil.ResultColumns, resultName); err != nil {
		return err
	}
	return cmdutil.BulkResultError(r.verb, results, failures)
}

func resultName(r model.Result) string { return r.Name }

// usersBlock says what running VMs a stop or delete of name would cut off: a conflict without
// --force, a warning with it.
func usersBlock(f *cmdutil.Factory, users virt.NetworkUsers, name, verb string, force bool) error {
	vms := users.Running[name]
	if len(vms) == 0 {
		return nil
	}
	if !force {
		// A VM restarted while the network is down does not start at all, so the way back for
		// a cut-off NIC is the network first, then the VM.
		after := "until " + name + " is started again and they are restarted"
		if verb == "deleting" {
			after = "and they cannot start again until a network named " + name + " exists and runs"
		}
		return errs.New(errs.Conflict, "running VMs use %s: %s", name, strings.Join(vms, ", ")).
			WithHint("stop them first, or --force (their NICs stay cut off %s)", after)
	}
	f.Infof("%s: warning: %s %s under running VMs: %s", f.Prog, verb, name, strings.Join(vms, ", "))
	return nil
}

// shutOffNote says which shut-off VMs name the network in their definitions and will not start
// until it is back ("until it exists again" after a delete, "until it is started again" after
// a stop); subject is how the sentence names the network. Empty when there are none.
func shutOffNote(users virt.NetworkUsers, name, subject, until string) string {
	vms := users.ShutOff[name]
	if len(vms) == 0 {
		return ""
	}
	verb := "name"
	if len(vms) == 1 {
		verb = "names"
	}
	return strings.Join(vms, ", ") + " (shut off) " + verb + " " + subject + " and will not start until " + until
}

// warnShutOff tells, once name was stopped or deleted, which shut-off VMs now cannot start:
// the action goes ahead (they use nothing now), but the user should not find out at their next
// start.
func warnShutOff(f *cmdutil.Factory, users virt.NetworkUsers, name, until string) {
	if note := shutOffNote(users, name, name, until); note != "" {
		f.Warnf("%s", note)
	}
}

// question is the confirmation of a stop or delete: the networks, each (with --force) with the
// running VMs it cuts off and the shut-off VMs that will not start. cuts says whether any
// running VMs are cut off.
func question(verb, done, until string, users virt.NetworkUsers, targets []string, force bool) (q cmdutil.Question, cuts bool) {
	q = cmdutil.Question{Verb: verb, What: "networks", Done: done}
	for _, t := range targets {
		var notes []string
		if vms := users.Running[t]; force && len(vms) > 0 {
			cuts = true
			notes = append(notes, "cutting off running VMs "+strings.Join(vms, ", "))
		}
		if note := shutOffNote(users, t, "it", until); note != "" {
			notes = append(notes, note)
		}
		if len(notes) > 0 {
			t += " (" + strings.Join(notes, "; ") + ")"
		}
		q.Objects = append(q.Objects, t)
	}
	return q, cuts
}

// The ends of the shut-off VMs' sentence after a stop and after a delete.
const (
	untilStarted = "it is started again"
	untilExists  = "it exists again"
)

// StartOptions of `net start`.
type StartOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
}

// NewCmdStart builds `net start`.
func NewCmdStart(f *cmdutil.Factory, runF func(context.Context, *StartOptions) error) *cobra.Command {
	opts := &StartOptions{F: f}
	cmd := &cobra.Command{
		Use:               "start NAME|PATTERN...",
		Annotations:       cmdutil.Journaled("network", nil),
		Short:             "Start networks",
		Long:              "Start the networks; one already running is left as it is (action none)." + bulkHelp,
		Example:           "  netctl start lab\n  netctl start 'lab-*'\n  netctl start --all",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStart(cmd.Context(), opts)
		},
	}
	networkBulk(f, cmd, &opts.Bulk)
	return cmd
}

func runStart(ctx context.Context, o *StartOptions) error {
	return bulkRun{f: o.F, verb: "start", targets: o.Targets, bulk: o.Bulk,
		act: func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
			return conn.StartNetwork(ctx, name)
		}}.run(ctx)
}

// StopOptions of `net stop`.
type StopOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
	Force   bool
	Yes     bool
}

// NewCmdStop builds `net stop`.
func NewCmdStop(f *cmdutil.Factory, runF func(context.Context, *StopOptions) error) *cobra.Command {
	opts := &StopOptions{F: f}
	cmd := &cobra.Command{
		Use:         "stop NAME|PATTERN...",
		Annotations: cmdutil.Journaled("network", nil),
		Short:       "Stop networks (refused while running VMs use them, unless --force)",
		Long: `Stop the named networks. A network running VMs are attached to is not stopped unless
--force: their NICs would lose the bridge and stay cut off until the network is started again
and the VMs are restarted (a VM does not start while its network is down). A
transient network (never defined) is gone once stopped. Shut-off VMs whose definitions name a
stopped network will not start until it is started again: the question, when there is one,
and a warning name them.

Stopping with --all, or with --force under running VMs, is destructive: on a terminal the
command lists the networks and asks; elsewhere it needs --yes.` + bulkHelp,
		Example:           "  netctl stop lab\n  netctl stop 'lab-*' --force --yes",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStop(cmd.Context(), opts)
		},
	}
	networkBulk(f, cmd, &opts.Bulk)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "stop even while running VMs use it")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	return cmd
}

func runStop(ctx context.Context, o *StopOptions) error {
	var users virt.NetworkUsers
	return bulkRun{f: o.F, verb: "stop", targets: o.Targets, bulk: o.Bulk,
		prepare: func(ctx context.Context, conn *virt.Conn, targets []string) error {
			var err error
			if users, err = conn.NetworkUsersByState(ctx); err != nil {
				return errs.Wrap(err, "stop")
			}
			q, cuts := question("stop", "stopped", untilStarted, users, targets, o.Force)
			if !o.Bulk.All && !cuts {
				return nil // stopping networks no running VM is on destroys nothing
			}
			return cmdutil.Confirm(o.F.IO, o.Yes, q)
		},
		act: func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
			if err := usersBlock(o.F, users, name, "stopping", o.Force); err != nil {
				return "", err
			}
			action, err := conn.StopNetwork(ctx, name)
			if err == nil && action == "stopped" {
				warnShutOff(o.F, users, name, untilStarted)
			}
			return action, err
		}}.run(ctx)
}

// AutostartOptions of `net autostart on|off`.
type AutostartOptions struct {
	F       *cmdutil.Factory
	On      bool
	Targets []string
	Bulk    cmdutil.BulkFlags
}

// NewCmdAutostart builds `net autostart`: the group of `on` and `off`, as vmctl's. The old
// order, `autostart NAME on|off`, still works for one network, with a warning.
func NewCmdAutostart(f *cmdutil.Factory, runF func(context.Context, *AutostartOptions) error) *cobra.Command {
	on, off := newAutostartSwitch(f, true, runF), newAutostartSwitch(f, false, runF)
	cmd := &cobra.Command{
		Use:         "autostart on|off",
		Annotations: cmdutil.Journaled("network:1", nil),
		Short:       "Start networks whenever libvirt starts, or not",
		Long: `'autostart on|off NAME|PATTERN...' sets whether libvirt starts the networks when its daemon
starts, as 'vmctl autostart on|off' does for VMs. The old order, 'autostart NAME on|off', still
works for one network, with a warning.`,
		Example: "  netctl autostart on lab\n  netctl autostart off 'lab-*'",
		// A word that is no subcommand is refused as the root refuses it in every group, unless
		// it is the old order.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || oldAutostartOrder(args) {
				return nil
			}
			return errs.New(errs.Usage, "unknown command \"%s\" for \"%s\"", output.Escape(args[0]), cmd.CommandPath()).
				WithHint("write '%s on|off NAME…'", cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			f.Infof("%s: warning: 'autostart %s %s' is deprecated: write 'autostart %s %s'", f.Prog,
				output.Escape(args[0]), args[1], args[1], output.Escape(args[0]))
			sw := off
			if args[1] == "on" {
				sw = on
			}
			sw.SetContext(cmd.Context())
			return sw.RunE(sw, args[:1])
		},
	}
	cmd.AddCommand(on, off)
	return cmd
}

// oldAutostartOrder says whether args are netctl's old `autostart NAME on|off`.
func oldAutostartOrder(args []string) bool {
	return len(args) == 2 && !isOnOff(args[0]) && isOnOff(args[1])
}

// newAutostartSwitch builds `net autostart on` or `net autostart off`, a bulk verb.
func newAutostartSwitch(f *cmdutil.Factory, on bool, runF func(context.Context, *AutostartOptions) error) *cobra.Command {
	word := "off"
	if on {
		word = "on"
	}
	opts := &AutostartOptions{F: f, On: on}
	cmd := &cobra.Command{
		Use:               word + " NAME|PATTERN...",
		Annotations:       cmdutil.Journaled("network", nil),
		Short:             "Turn libvirt's autostart " + word + " for networks",
		Long:              "Set whether libvirt starts the networks when its daemon starts." + bulkHelp,
		Example:           "  netctl autostart " + word + " lab\n  netctl autostart " + word + " --all",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAutostart(cmd.Context(), opts)
		},
	}
	networkBulk(f, cmd, &opts.Bulk)
	return cmd
}

func isOnOff(s string) bool { return s == "on" || s == "off" }

func runAutostart(ctx context.Context, o *AutostartOptions) error {
	return bulkRun{f: o.F, verb: "autostart", targets: o.Targets, bulk: o.Bulk,
		act: func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
			return conn.SetNetworkAutostart(ctx, name, o.On)
		}}.run(ctx)
}

// DeleteOptions of `net delete`.
type DeleteOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
	Force   bool
	Yes     bool
}

// NewCmdDelete builds `net delete`.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:         "delete NAME|PATTERN...",
		Annotations: cmdutil.Journaled("network", nil),
		Aliases:     []string{"rm"},
		Short:       "Stop and remove networks (refused while running VMs use them, unless --force)",
		Long: `Stop the named networks and remove their definitions. Refused while running VMs use a
network, unless --force. VMs whose definitions name a deleted network keep that NIC and will
not start until it exists again: the question and a warning name the shut-off ones (netctl
show lists them all under "used by").

` + cmdutil.ConfirmHelp + bulkHelp,
		Example:           "  netctl delete lab\n  netctl delete 'lab-*' --yes",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			if !opts.Yes && !f.IO.CanPrompt() && !opts.Bulk.All && !slices.ContainsFunc(args, cmdutil.IsGlob) {
				// Say so before connecting: no terminal and no --yes can never go ahead. --all
				// and globs are refused once matched, so that the hint names the networks (an
				// empty --all here was no question, and the command exited 0 having done nothing).
				return cmdutil.Confirm(f.IO, false, cmdutil.Question{Verb: "delete", What: "networks", Done: "deleted", Objects: args})
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDelete(cmd.Context(), opts)
		},
	}
	networkBulk(f, cmd, &opts.Bulk)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "delete even while running VMs use it")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	return cmd
}

func runDelete(ctx context.Context, o *DeleteOptions) error {
	var users virt.NetworkUsers
	return bulkRun{f: o.F, verb: "delete", targets: o.Targets, bulk: o.Bulk,
		prepare: func(ctx context.Context, conn *virt.Conn, targets []string) error {
			var err error
			if users, err = conn.NetworkUsersByState(ctx); err != nil {
				return errs.Wrap(err, "delete")
			}
			q, _ := question("delete", "deleted", untilExists, users, targets, o.Force)
			return cmdutil.Confirm(o.F.IO, o.Yes, q)
		},
		act: func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
			if err := usersBlock(o.F, users, name, "deleting", o.Force); err != nil {
				return "", err
			}
			if err := conn.DeleteNetwork(ctx, name); err != nil {
				return "", err
			}
			warnShutOff(o.F, users, name, untilExists)
			return "deleted", nil
		}}.run(ctx)
}
