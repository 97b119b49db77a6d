package vm

import (
	"context"
	"fmt"
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

// LifecycleOptions are the options of every bulk lifecycle verb.
type LifecycleOptions struct {
	F       *cmdutil.Factory
	Verb    string
	Targets []string
	Bulk    cmdutil.BulkFlags
	PerVM   time.Duration // --timeout: the budget of each VM's operation (for stop: the wait)
	Force   bool
	Mode    string
	On      bool // autostart on|off
	Yes     bool
	Storage bool // delete --remove-storage
	Act     func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error)
	prepare func(ctx context.Context, o *LifecycleOptions, sets []targetSet) error
	// afterWait is the time a verb that waits --timeout for the guest needs after the wait
	// (stop --force destroys then); verbs that do not wait get exactly --timeout.
	afterWait time.Duration
	// storage holds what delete --remove-storage removed and kept, by storageKey (a model.Result).
	storage sync.Map
	Hosts   cmdutil.HostFlags
	Cmd     *cobra.Command // for how a host that does not answer is reported (--json)
}

type verbSpec struct {
	use, short, long, example string
	perVM                     time.Duration
	act                       func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error)
	flags                     func(cmd *cobra.Command, o *LifecycleOptions)
	args                      func(o *LifecycleOptions, args []string) ([]string, error)
	prepare                   func(ctx context.Context, o *LifecycleOptions, sets []targetSet) error
	afterWait                 time.Duration
	destructive               bool   // --all asks first (stop, kill, restart); delete always asks
	verb                      string // the verb in messages, when not the first word of use
}

const bulkHelp = `

Targets are VM names, shell-style globs ('web-*'), or --all; --profile and --owner narrow
them to the VMs hvctl made from that profile or for that owner. Up to --parallel VMs are
handled at once and each gets one result row; --json prints one array of these results
when all are done (--jq '.[]' for one object per line). The action is what was done, empty
for a VM that failed; the exit status is 6 when some failed. --timeout bounds the work on
each VM (default %s).

--host acts on the VMs of several configured hosts at once (names, [groups] names or all):
each target is then host:name, results carry the host, and a host that does not answer
within --host-timeout is reported while the others go on (exit 6; --strict acts on none).
A target host:PATTERN applies on that host only; targets that are all host:PATTERN need no
--host (vmctl stop h2:web01 h3:db01).`

func newLifecycleCmd(f *cmdutil.Factory, spec verbSpec, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	opts := &LifecycleOptions{F: f, Act: spec.act, prepare: spec.prepare, afterWait: spec.afterWait}
	opts.Verb, _, _ = strings.Cut(spec.use, " ")
	if spec.verb != "" {
		opts.Verb = spec.verb
	}
	long := spec.long + fmt.Sprintf(bulkHelp, spec.perVM)
	if spec.destructive {
		long += "\n\nWith --all it acts on every VM, so it asks first. " + cmdutil.ConfirmHelp
	}
	cmd := &cobra.Command{
		Use:               spec.use,
		Short:             spec.short,
		Long:              long,
		Example:           spec.example,
		ValidArgsFunction: completeVMs(f, true),
		// The deadline is computed per run from the number of targets; see runLifecycle.
		Annotations: cmdutil.Journaled("vm", map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: cmdutil.ShortDuration(spec.perVM) + " per VM"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if spec.args != nil {
				if args, err = spec.args(opts, args); err != nil {
					return err
				}
			}
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			opts.Cmd = cmd
			opts.PerVM = spec.perVM
			if fl := f.Global.Flags; fl != nil && fl.Changed("timeout") {
				opts.PerVM = f.Global.Timeout
			}
			if opts.PerVM <= 0 {
				return errs.New(errs.Usage, "--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLifecycle(cmd.Context(), opts)
		},
	}
	opts.Bulk.Destructive = spec.destructive
	cmdutil.AddBulkFlags(cmd, &opts.Bulk)
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	if spec.flags != nil {
		spec.flags(cmd, opts)
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runLifecycle(ctx context.Context, o *LifecycleOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	found, err := o.targetSets(ctx)
	if err != nil {
		return err
	}
	sets, unmatched, hostErr := found.sets, found.unmatched, found.hostErr
	defer func() {
		for _, s := range sets {
			s.conn.Close()
		}
	}()
	multi := o.Hosts.Enabled()
	cols, nameOf := cmdutil.ResultColumns, func(r model.Result) string { return r.Name }
	if multi {
		cols = append([]output.Column[model.Result]{resultHostColumn}, cols...)
		nameOf = func(r model.Result) string {
			if r.Host == "" { // a pattern that matched nothing anywhere
				return r.Name
			}
			return r.Host + ":" + r.Name
		}
	}
	// Every target is known by its label: its name, or host:name over several hosts.
	var labels []string
	where := map[string]targetRef{}
	for _, s := range sets {
		for _, n := range s.names {
			l := s.label(n)
			labels = append(labels, l)
			where[l] = targetRef{set: s, name: n}
		}
	}
	if len(labels) == 0 && len(unmatched) == 0 {
		o.F.Infof("%s: no VMs to %s", o.F.Prog, o.Verb)
		if err := output.List(o.F.IO.Out, format, []model.Result{}, cols, nameOf); err != nil {
			return err
		}
		return hostErr
	}
	if err := o.Bulk.ConfirmAll(o.F.IO, o.Verb, labels); err != nil {
		return err
	}
	if o.prepare != nil {
		if err := o.prepare(ctx, o, sets); err != nil {
			return err
		}
	}
	// Each VM gets its budget; batches of --parallel run one after another.
	batches := (len(labels) + o.Bulk.Parallel - 1) / o.Bulk.Parallel
	perVM := o.PerVM + o.afterWait
	runCtx, cancelRun := virt.WithTimeout(ctx, time.Duration(batches)*perVM)
	defer cancelRun()
	bar := progress.New(o.F.IO, len(labels), o.Verb)
	results, failures := cmdutil.RunBulk(runCtx, labels, o.Bulk.Parallel, func(ctx context.Context, label string) (string, error) {
		defer bar.Done(1)
		ref := where[label]
		vmCtx, cancel := virt.WithTimeout(ctx, perVM)
		defer cancel()
		d, err := ref.set.conn.Domain(vmCtx, ref.name)
		if err != nil {
			return "", err
		}
		defer d.Free()
		act, err := o.Act(vmCtx, d, o)
		if err != nil && vmCtx.Err() != nil {
			// Interrupted or out of time: say where the VM was left, as far as libvirt says.
			err = leftIn(ctx, d, err)
		}
		return act, err
	})
	bar.Finish()
	for i := range results {
		ref, ok := where[results[i].Name]
		if !ok {
			continue
		}
		results[i].Host, results[i].Name = ref.set.host, ref.name
		if r, ok := o.storage.Load(storageKey{ref.set.conn, ref.name}); ok {
			results[i].Removed, results[i].Kept = r.(model.Result).Removed, r.(model.Result).Kept
		}
	}
	results, failures = cmdutil.AddUnmatched(ctx, "VM", unmatched, results, failures)
	if err := output.List(o.F.IO.Out, format, results, cols, nameOf); err != nil {
		return err
	}
	err = cmdutil.BulkResultError(o.Verb, results, failures)
	switch {
	case hostErr == nil:
		return err
	case err == nil:
		return hostErr
	}
	// Some hosts did not answer and some VMs failed: partial, whatever the VMs' reasons.
	return errs.New(errs.Partial, "%s; %s", err, hostErr)
}

// leftIn adds the VM's state, read with a short deadline of its own, to an error that ended
// its operation early.
func leftIn(ctx context.Context, d *virt.Domain, err error) error {
	if !d.Conn().Answering() {
		return err
	}
	sctx, cancel := virt.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if state, _, e := d.State(sctx); e == nil {
		return fmt.Errorf("%w (now %s)", err, state)
	}
	return err
}

func stopOptions(o *LifecycleOptions) virt.StopOptions {
	return virt.StopOptions{Wait: o.PerVM, Force: o.Force, Mode: o.Mode}
}

func addModeFlag(cmd *cobra.Command, o *LifecycleOptions, what string) {
	cmdutil.StringEnumFlag(cmd, &o.Mode, "mode", "", "", []string{"acpi", "agent", "default"}, "how to ask the guest to "+what+": acpi (when not given), agent, or default (the hypervisor's choice)")
}

// NewCmdStart builds `vm start`.
func NewCmdStart(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:   "start NAME|PATTERN...",
		short: "Start VMs (resumes paused ones; running ones are left alone)",
		long: `Start stopped VMs. A paused VM is resumed; a running one is left as it is and reported
with the action "none". The template of linked clones (vmctl clone --linked) is refused
without --force: what it writes to its disks shows through in every clone.`,
		example: `  vmctl start web01
  vmctl start 'web-*' db01 -j 8`,
		perVM: 30 * time.Second,
		act: func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
			if state, _, err := d.State(ctx); err != nil {
				return "", err
			} else if state == virt.StateShutOff {
				if err := d.RefuseIfTemplate(ctx, "starting it", o.Force); err != nil {
					return "", err
				}
			}
			return d.Start(ctx)
		},
		flags: func(cmd *cobra.Command, o *LifecycleOptions) {
			cmd.Flags().BoolVar(&o.Force, "force", false, "start a VM even though linked clones overlay its disks")
		},
	}, runF)
}

// NewCmdStop builds `vm stop`.
func NewCmdStop(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:         "stop NAME|PATTERN...",
		destructive: true,
		short:       "Shut VMs down gracefully (ACPI), waiting for them; --force powers off stragglers",
		long: `Ask each guest to power off (ACPI power button by default) and wait until it has, up to
--timeout. A guest still running then is an error (exit 5), unless --force is given: then it
is powered off at once (destroyed). A stopped VM is left alone (action "none"); a paused
one is resumed first so it can hear the button, and paused again if the stop fails or is
interrupted. A crashed VM kept by on_crash=preserve still has its QEMU process: only
--force (or kill) powers it off. An interrupted stop reports a VM that did power off as
stopped, and where every other VM was left.`,
		example: `  vmctl stop web01
  vmctl stop --all --timeout 2m --force`,
		perVM:     60 * time.Second,
		afterWait: 10 * time.Second,
		act: func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
			return d.Stop(ctx, stopOptions(o))
		},
		flags: func(cmd *cobra.Command, o *LifecycleOptions) {
			cmd.Flags().BoolVar(&o.Force, "force", false, "power off (destroy) guests that have not stopped when the wait ends")
			addModeFlag(cmd, o, "power off")
		},
	}, runF)
}

// NewCmdKill builds `vm kill`.
func NewCmdKill(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:         "kill NAME|PATTERN...",
		destructive: true,
		short:       "Power VMs off at once (destroy), like pulling the plug",
		long:        "Power VMs off immediately, without asking the guest (libvirt's destroy). The definition and\ndisks stay. A stopped VM is left alone.",
		example:     "  vmctl kill web01",
		perVM:       30 * time.Second,
		act:         func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) { return d.Kill(ctx) },
	}, runF)
}

// NewCmdRestart builds `vm restart`.
func NewCmdRestart(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:         "restart NAME|PATTERN...",
		destructive: true,
		short:       "Power-cycle VMs: graceful stop, then start (a changed definition takes effect)",
		long: `Stop each VM as 'stop' does (ACPI, wait up to --timeout, --force to power off stragglers),
then start it again with a fresh QEMU process, so changes to the persistent definition
take effect. A stopped VM is simply started. Use 'reboot' for a reboot inside the guest.`,
		example:   "  vmctl restart web01 --force",
		perVM:     60 * time.Second,
		afterWait: 10 * time.Second,
		act: func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
			return d.Restart(ctx, stopOptions(o))
		},
		flags: func(cmd *cobra.Command, o *LifecycleOptions) {
			cmd.Flags().BoolVar(&o.Force, "force", false, "power off (destroy) guests that have not stopped when the wait ends")
			addModeFlag(cmd, o, "power off")
		},
	}, runF)
}

// NewCmdReboot builds `vm reboot`.
func NewCmdReboot(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:     "reboot NAME|PATTERN...",
		short:   "Ask running VMs to reboot themselves",
		long:    "Ask the guest to reboot (the hypervisor's choice of ACPI or agent unless --mode says). The QEMU\nprocess stays; use 'restart' for a full power cycle. The VM must be running.",
		example: "  vmctl reboot web01 --mode agent",
		perVM:   30 * time.Second,
		act: func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
			return d.Reboot(ctx, o.Mode)
		},
		flags: func(cmd *cobra.Command, o *LifecycleOptions) { addModeFlag(cmd, o, "reboot") },
	}, runF)
}

// NewCmdPause builds `vm pause`.
func NewCmdPause(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:     "pause NAME|PATTERN...",
		short:   "Pause (suspend) running VMs; their memory stays allocated",
		long:    "Stop scheduling the VMs' vCPUs. They keep their memory and resume where they were.",
		example: "  vmctl pause web01",
		perVM:   30 * time.Second,
		act:     func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) { return d.Pause(ctx) },
	}, runF)
}

// NewCmdResume builds `vm resume`.
func NewCmdResume(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	return newLifecycleCmd(f, verbSpec{
		use:     "resume NAME|PATTERN...",
		short:   "Resume paused VMs",
		long:    "Resume paused VMs. A running VM is left alone; a stopped one is an error (use start).",
		example: "  vmctl resume web01",
		perVM:   30 * time.Second,
		act:     func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) { return d.Resume(ctx) },
	}, runF)
}

// NewCmdAutostart builds `vm autostart`: the on and off switches (runF receives them) and run.
func NewCmdAutostart(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autostart on|off|run",
		Short: "Turn libvirt's autostart on or off, or start hvctl's autostart VMs in order",
		Long: `'autostart on|off' sets whether libvirt starts the VMs when its daemon starts (in no
particular order). 'autostart run' starts the VMs whose profile says autostart = true, in
hvctl's order (see vmctl autostart run --help).`,
		Example: "  vmctl autostart on web01 db01\n  vmctl autostart off --all\n  vmctl autostart run --dry-run",
		// No Run: the root makes an unknown word a usage error, as for every group.
	}
	cmd.AddCommand(newAutostartSwitch(f, true, runF), newAutostartSwitch(f, false, runF), NewCmdAutostartRun(f, nil))
	return cmd
}

// newAutostartSwitch builds `vm autostart on|off`, a bulk verb.
func newAutostartSwitch(f *cmdutil.Factory, on bool, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	word := map[bool]string{true: "on", false: "off"}[on]
	return newLifecycleCmd(f, verbSpec{
		use:     word + " NAME|PATTERN...",
		verb:    "autostart " + word,
		short:   "Turn libvirt's autostart " + word + " for VMs",
		long:    "Set whether libvirt starts the VMs when its daemon starts (in no particular order).",
		example: "  vmctl autostart " + word + " web01 db01",
		perVM:   30 * time.Second,
		act: func(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
			return d.SetAutostart(ctx, o.On)
		},
		args: func(o *LifecycleOptions, args []string) ([]string, error) {
			o.On = on
			return args, nil
		},
	}, runF)
}
