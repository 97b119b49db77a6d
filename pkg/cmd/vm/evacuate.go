package vm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// EvacuateOptions of `vm evacuate`.
type EvacuateOptions struct {
	F            *cmdutil.Factory
	Cmd          *cobra.Command
	Source       string
	Patterns     []string
	To           string
	Parallel     int
	DryRun       bool
	Yes          bool
	Unsafe       bool
	BandwidthMiB uint64
}

// Actions of evacuate's results.
const (
	actMigrated = "migrated"
	actPlanned  = "planned"
)

// NewCmdEvacuate builds `vm evacuate`.
func NewCmdEvacuate(f *cmdutil.Factory, runF func(context.Context, *EvacuateOptions) error) *cobra.Command {
	opts := &EvacuateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "evacuate HOST [PATTERN...] --to HOST|GROUP[,...]",
		Short: "Move every running VM off a host, live, before maintenance",
		Long: `Move every running (or paused) VM of HOST live to the host --to names, or spread them over
the hosts of a [groups] name or of a comma-separated list of hosts and groups, as 'vmctl
migrate' moves one: peer to peer, defined on the
target and undefined on the source, libvirt's autostart flag and hvctl's metadata with it.
Patterns (shell-style globs) narrow it to the running VMs they match. Shut-off VMs stay.

Before anything moves, each VM is checked against every host of --to with migrate's
preflight (name and UUID free there, CPU, networks, storage pools, disks, cache modes).
Over a group each VM goes to the host that passes preflight with the most unallocated
memory: the host's memory less what its running guests and the VMs placed there before it
hold; the largest VMs are placed first. The results say which host and why, and which
hosts refused it and for what. A VM that no host takes is reported and the others still
move; the exit status is then 6.

--dry-run shows the plan and moves nothing. Otherwise the plan is listed and confirmed on a
terminal (elsewhere --yes is needed). Up to -j VMs move at once (default 2: each move takes
the link's bandwidth). --timeout bounds each VM's move. Ctrl-C aborts the moves in flight:
their VMs keep running on HOST and nothing is left of them on the target (exit 130).`,
		Example: `  vmctl evacuate h1 --to h2 --dry-run
  vmctl evacuate h1 --to web --yes -j 4
  vmctl evacuate h1 --to h2,h3 --dry-run
  vmctl evacuate h1 'db-*' --to h2 --timeout 10m --json`,
		Args:              cmdutil.MinimumArgs(1, "the host to evacuate"),
		ValidArgsFunction: completeHosts(f),
		Annotations: cmdutil.Journaled("vm:0", map[string]string{cmdutil.AnnTimeout: "none",
			cmdutil.AnnTimeoutHelp: "none: when given, bounds each VM's move; the job is aborted and the VM stays on the source"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Source, opts.Patterns, opts.Cmd = args[0], args[1:], cmd
			if opts.To == "" {
				return errs.New(errs.Usage, "--to HOST|GROUP[,...] is required: where the VMs of %s go", output.Escape(opts.Source))
			}
			if opts.Parallel < 1 {
				return errs.New(errs.Usage, "--parallel must be at least 1")
			}
			if fl := f.Global.Flags; fl != nil && fl.Changed("connect") {
				return errs.New(errs.Usage, "evacuate names the host it empties (HOST); -c/--connect does not apply")
			}
			if err := cmdutil.ValidatePatterns(opts.Patterns); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runEvacuate(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "the `HOST` (of the configuration's [hosts], or a libvirt URI) or [groups] name to move the VMs to; several, comma-separated")
	fl.IntVarP(&opts.Parallel, "parallel", "j", 2, "move at most `N` VMs at once")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "check and plan only: say where each VM would go and why, move nothing")
	fl.BoolVar(&opts.Unsafe, "unsafe", false, "move disks whose cache mode libvirt deems unsafe (you know the storage is shared and coherent)")
	fl.Uint64Var(&opts.BandwidthMiB, "bandwidth", 0, "cap each move's stream at `MiB/s` (0: no cap)")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	_ = cmd.RegisterFlagCompletionFunc("to", completeHosts(f))
	f.AddOutputFlags(cmd)
	return cmd
}

// completeHosts offers the configuration's hosts and groups.
func completeHosts(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		l, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return append(slices.Sorted(maps.Keys(l.Config.Hosts)), slices.Sorted(maps.Keys(l.Config.Groups))...), cobra.ShellCompDirectiveNoFileComp
	}
}

// EvacuationColumns is the table view of evacuate's results.
var EvacuationColumns = []output.Column[model.Evacuation]{
	{Header: "name", Value: func(e model.Evacuation) string { return e.Name }},
	{Header: "memory", Value: func(e model.Evacuation) string { return units.Human(e.MemoryBytes) }},
	{Header: "to", Value: func(e model.Evacuation) string { return output.Dash(e.To) }},
	{Header: "action", Value: func(e model.Evacuation) string { return output.Dash(e.Action) }},
	{Header: "result", Value: func(e model.Evacuation) string { return output.ResultCell(e.OK, e.Error) }},
	{Header: "why", Value: func(e model.Evacuation) string { return output.Dash(e.Why) }},
	{Header: "downtime", Wide: true, Value: func(e model.Evacuation) string {
		if e.Action != actMigrated {
			return "-"
		}
		return fmt.Sprintf("%dms", e.DowntimeMillis)
	}},
}

// evacHost is a host of the configuration (or a URI) as evacuate uses it.
func evacHost(cfg *config.Config, name string) (migrationTarget, bool) {
	if h, ok := cfg.Hosts[name]; ok {
		return migrationTarget{name: name, uri: h.URI, peerURI: cmp.Or(h.PeerURI, h.URI), dataURI: h.MigrationURI}, true
	}
	if u, err := url.Parse(name); err == nil && u.Scheme != "" && strings.Contains(name, ":/") {
		return migrationTarget{name: name, uri: name, peerURI: name}, true
	}
	return migrationTarget{}, false
}

func unknownHost(cfg *config.Config, what, name string) error {
	e := errs.New(errs.Usage, "%s %q is neither a host in the configuration's [hosts] table nor a libvirt URI", what, output.Escape(name))
	if len(cfg.Hosts) == 0 {
		return e.WithHint("no hosts are configured; add [hosts.NAME] uri = \"…\" to the configuration")
	}
	hint := "hosts: " + strings.Join(slices.Sorted(maps.Keys(cfg.Hosts)), ", ")
	if len(cfg.Groups) > 0 && what == "--to" {
		hint += "; groups: " + strings.Join(slices.Sorted(maps.Keys(cfg.Groups)), ", ")
	}
	return e.WithHint("%s", hint)
}

// hosts resolves HOST and --to: the source, and the targets without it.
func (o *EvacuateOptions) hosts() (migrationTarget, []migrationTarget, error) {
	l, err := o.F.Config()
	if err != nil {
		return migrationTarget{}, nil, err
	}
	cfg := &l.Config
	src, ok := evacHost(cfg, o.Source)
	if !ok {
		return migrationTarget{}, nil, unknownHost(cfg, "HOST", o.Source)
	}
	// A list, as --host takes: hosts, groups and URIs, comma-separated. A whole value that is
	// a URI stays whole, commas and all.
	specs := strings.Split(o.To, ",")
	if _, ok := evacHost(cfg, o.To); ok {
		specs = []string{o.To}
	}
	var names []string
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			return migrationTarget{}, nil, errs.New(errs.Usage, "--to %s: empty host name in the list", output.Escape(o.To))
		}
		if members, ok := cfg.Groups[spec]; ok {
			names = append(names, members...)
		} else {
			names = append(names, spec)
		}
	}
	var targets []migrationTarget
	for _, n := range names {
		t, ok := evacHost(cfg, n)
		if !ok {
			return migrationTarget{}, nil, unknownHost(cfg, "--to", n)
		}
		if t.name == src.name || t.uri == src.uri {
			continue // a group may hold the host being emptied
		}
		if !slices.ContainsFunc(targets, func(x migrationTarget) bool { return x.name == t.name }) {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return migrationTarget{}, nil, errs.New(errs.Usage, "--to %s leaves no host to move to besides %s itself", output.Escape(o.To), output.Escape(o.Source))
	}
	return src, targets, nil
}

// capacity is what evacuate knows of a target host's memory.
type capacity struct {
	total, allocated uint64 // physical memory; what its running guests hold
	planned          uint64 // what the VMs placed there by this evacuation will hold
}

// unallocated is the memory left for more guests, negative when overcommitted.
func (c capacity) unallocated() int64 {
	return int64(c.total) - int64(c.allocated) - int64(c.planned)
}

// target is a host of --to that answered, with its connection.
type evacTarget struct {
	migrationTarget
	conn *virt.Conn
	cap  capacity
}

// placement is one VM's plan and, once it ran, its outcome.
type placement struct {
	res        model.Evacuation
	uuid       string
	autostart  bool
	persistent bool
	to         *evacTarget
	failure    error
	refusal    errs.Kind           // the kind of the first host's first problem, when every host refused
	notes      map[string][]string // what each passing host's preflight could not check
}

func runEvacuate(ctx context.Context, o *EvacuateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	srcHost, targetHosts, err := o.hosts()
	if err != nil {
		return err
	}
	setupCtx, cancelSetup := virt.WithTimeout(ctx, cmdutil.DefaultTimeout)
	defer cancelSetup()
	src, err := virt.Open(setupCtx, srcHost.uri, false)
	if err != nil {
		return errs.Wrap(err, "evacuate %s", srcHost.name)
	}
	defer src.Close()
	all, err := src.ListVMs(setupCtx)
	if err != nil {
		return errs.Wrap(err, "evacuate %s", srcHost.name)
	}
	var running []model.VM
	var names, stay []string
	for _, v := range all {
		names = append(names, v.Name)
		if !cmdutil.MatchAny(o.Patterns, v.Name) {
			continue
		}
		if v.State == virt.StateRunning || v.State == virt.StatePaused {
			running = append(running, v)
		} else {
			stay = append(stay, output.Escape(v.Name)) // a terminal gets no control characters
		}
	}
	if err := cmdutil.MissingNames("VM", o.Patterns, names); err != nil {
		return errs.Wrap(err, "evacuate %s", srcHost.name)
	}
	if len(stay) > 0 {
		o.F.Infof("%s: not running, so staying on %s: %s", o.F.Prog, srcHost.name, strings.Join(stay, ", "))
	}
	if len(running) == 0 {
		o.F.Infof("%s: no running VMs to move off %s", o.F.Prog, srcHost.name)
		return output.List(o.F.IO.Out, format, []model.Evacuation{}, EvacuationColumns, func(e model.Evacuation) string { return e.Name })
	}

	// The targets, concurrently, each under its own deadline; one that does not answer is
	// reported and the others take the VMs.
	hosts := make([]cmdutil.Host, len(targetHosts))
	for i, t := range targetHosts {
		hosts[i] = cmdutil.Host{Name: t.name, URI: t.uri}
	}
	hf := cmdutil.HostFlags{Parallel: len(hosts), Timeout: cmdutil.DefaultTimeout}
	sessions, hostErr := cmdutil.ConnectHosts(ctx, o.F, o.Cmd, &hf, hosts, false,
		func(ctx context.Context, _ cmdutil.Host, conn *virt.Conn) (capacity, error) {
			var c capacity
			var err error
			if c.total, err = conn.HostMemory(ctx); err != nil {
				return c, err
			}
			vms, err := conn.ListVMs(ctx)
			for _, v := range vms {
				if v.State == virt.StateRunning || v.State == virt.StatePaused {
					c.allocated += v.MemoryBytes
				}
			}
			return c, err
		})
	if sessions == nil {
		return errs.Wrap(hostErr, "evacuate %s: no host of --to %s answered", srcHost.name, o.To)
	}
	defer cmdutil.CloseSessions(sessions)
	targets := make([]*evacTarget, len(sessions))
	for i, s := range sessions {
		t := targetHosts[slices.IndexFunc(targetHosts, func(t migrationTarget) bool { return t.name == s.Host.Name })]
		targets[i] = &evacTarget{migrationTarget: t, conn: s.Conn, cap: s.Found}
	}

	plan := o.plan(ctx, src, srcHost.name, running, targets)
	if err := ctx.Err(); err != nil {
		return err // interrupted while checking: nothing has moved
	}
	if !o.DryRun {
		var objects []string
		for _, p := range plan {
			if p.to != nil {
				objects = append(objects, fmt.Sprintf("%s → %s (%s)", p.res.Name, p.to.name, p.res.Why))
			}
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "migrate", What: "running VMs off " + srcHost.name, Done: "moved", Objects: objects}); err != nil {
			return err
		}
		o.move(ctx, src, plan)
	}

	results := make([]model.Evacuation, len(plan))
	bulk := make([]model.Result, len(plan))
	failures := make([]error, len(plan))
	for i, p := range plan {
		results[i], failures[i] = p.res, p.failure
		bulk[i] = model.Result{Name: p.res.Name, OK: p.res.OK, Action: p.res.Action, Error: p.res.Error, Code: p.res.Code}
		if o.DryRun || p.to == nil { // the moves RunBulk ran it reported itself
			cmdutil.ReportResults(ctx, bulk[i])
		}
	}
	if err := output.List(o.F.IO.Out, format, results, EvacuationColumns, func(e model.Evacuation) string { return e.Name }); err != nil {
		return err
	}
	// A host of --to that did not answer was reported; when every VM left anyway, the host is
	// empty as asked. When some stayed, the missing host may be why: partial, whatever their reasons.
	err = cmdutil.BulkResultError("evacuate "+srcHost.name, bulk, failures)
	if err != nil && hostErr != nil {
		return errs.New(errs.Partial, "%s; %s", err, hostErr)
	}
	return err
}

// plan checks every VM against every target and chooses one for each: the host that passes
// preflight with the most unallocated memory once the VMs placed before it are counted,
// largest VMs first (first-fit decreasing keeps big VMs from finding every host too full).
// The plan comes back in name order.
func (o *EvacuateOptions) plan(ctx context.Context, src *virt.Conn, from string, running []model.VM, targets []*evacTarget) []*placement {
	order := slices.Clone(running)
	slices.SortStableFunc(order, func(a, b model.VM) int {
		return cmp.Or(cmp.Compare(b.MemoryBytes, a.MemoryBytes), cmp.Compare(a.Name, b.Name))
	})
	var plan []*placement
	for _, v := range order {
		p := &placement{res: model.Evacuation{Name: v.Name, From: from, MemoryBytes: v.MemoryBytes, Refused: []model.Refusal{}, Notes: []string{}}}
		plan = append(plan, p)
		vmCtx, cancel := virt.WithTimeout(ctx, cmdutil.DefaultTimeout)
		passing, err := o.check(vmCtx, src, p, targets)
		cancel()
		if err == nil && len(passing) == 0 {
			var why []string
			for _, r := range p.res.Refused {
				why = append(why, r.Host+": "+r.Reason)
			}
			err = errs.New(p.refusal, "no host of --to %s takes it: %s", o.To, strings.Join(why, "; "))
		}
		if err != nil {
			p.fail(err)
			continue
		}
		p.choose(passing, len(targets))
		// What the chosen host's preflight could not check is said as migrate says it: the
		// table has no room for it, and a plan read on a terminal must not hide it.
		for _, n := range p.notes[p.to.name] {
			o.F.Warnf("%s on %s: %s", output.Escape(v.Name), p.to.name, n)
		}
		if o.DryRun {
			p.res.OK, p.res.Action = true, actPlanned
		}
	}
	slices.SortFunc(plan, func(a, b *placement) int { return cmp.Compare(a.res.Name, b.res.Name) })
	return plan
}

func (p *placement) refuse(host string, kind errs.Kind, reason string) {
	if len(p.res.Refused) == 0 {
		p.refusal = kind
	}
	p.res.Refused = append(p.res.Refused, model.Refusal{Host: host, Code: kind.String(), Reason: reason})
}

func (p *placement) fail(err error) {
	p.failure = err
	p.res.OK, p.res.Action, p.res.Error, p.res.Code = false, "", err.Error(), errs.KindOf(err).String()
}

// check runs migrate's preflight for the VM against every target and returns those that pass.
func (o *EvacuateOptions) check(ctx context.Context, src *virt.Conn, p *placement, targets []*evacTarget) ([]*evacTarget, error) {
	d, err := src.Domain(ctx, p.res.Name)
	if err != nil {
		return nil, err
	}
	defer d.Free()
	def, err := d.Definition(ctx, false) // the live definition: what the target must run
	if err != nil {
		return nil, err
	}
	p.uuid = def.UUID
	p.autostart, _ = d.Autostart(ctx)
	if p.persistent, err = d.Persistent(ctx); err != nil {
		return nil, err
	}
	var passing []*evacTarget
	for _, t := range targets {
		problems, notes, err := virt.MigrationPreflight(ctx, t.conn, def, true, o.migrateOptions(t, p))
		if err != nil {
			p.refuse(t.name, errs.KindOf(err), "could not check: "+err.Error())
			continue
		}
		if len(problems) > 0 {
			p.refuse(t.name, problems[0].Kind, virt.JoinProblems(problems))
			continue
		}
		for _, n := range notes {
			p.res.Notes = append(p.res.Notes, t.name+": "+n)
		}
		if len(notes) > 0 {
			if p.notes == nil {
				p.notes = map[string][]string{}
			}
			p.notes[t.name] = notes
		}
		passing = append(passing, t)
	}
	return passing, nil
}

func (o *EvacuateOptions) migrateOptions(t *evacTarget, p *placement) virt.MigrateOptions {
	return virt.MigrateOptions{PeerURI: t.peerURI, DataURI: t.dataURI, Persistent: true, UndefineSource: p.persistent,
		Unsafe: o.Unsafe, BandwidthMiB: o.BandwidthMiB}
}

// choose picks the passing target with the most unallocated memory (ties: by name), counts the
// VM there, and says why.
func (p *placement) choose(passing []*evacTarget, of int) {
	slices.SortStableFunc(passing, func(a, b *evacTarget) int {
		return cmp.Or(cmp.Compare(b.cap.unallocated(), a.cap.unallocated()), cmp.Compare(a.name, b.name))
	})
	best := passing[0]
	switch {
	case of == 1:
		p.res.Why = "the host --to names; it passes preflight"
	case len(passing) == 1:
		p.res.Why = fmt.Sprintf("the only one of %d hosts that passes preflight", of)
	default:
		var free []string
		for _, t := range passing {
			free = append(free, t.name+" "+signedHuman(t.cap.unallocated()))
		}
		p.res.Why = fmt.Sprintf("most unallocated memory of the %d hosts that pass preflight (%s)", len(passing), strings.Join(free, ", "))
	}
	if left := best.cap.unallocated() - int64(p.res.MemoryBytes); left < 0 {
		p.res.Why += fmt.Sprintf("; it overcommits %s by %s", best.name, units.Human(uint64(-left)))
	}
	best.cap.planned += p.res.MemoryBytes
	p.to = best
	p.res.To = best.name
}

func signedHuman(n int64) string {
	if n < 0 {
		return "-" + units.Human(uint64(-n))
	}
	return units.Human(uint64(n))
}

// move migrates the planned VMs, -j at a time. An interrupt aborts the moves in flight (their
// VMs stay on the source) and leaves the rest unbegun.
func (o *EvacuateOptions) move(ctx context.Context, src *virt.Conn, plan []*placement) {
	var names []string
	byName := map[string]*placement{}
	for _, p := range plan {
		if p.to != nil {
			names = append(names, p.res.Name)
			byName[p.res.Name] = p
		}
	}
	perVM := time.Duration(0)
	if fl := o.F.Global.Flags; fl != nil && fl.Changed("timeout") {
		perVM = o.F.Global.Timeout
	}
	bar := progress.New(o.F.IO, len(names), "evacuate")
	results, failures := cmdutil.RunBulk(ctx, names, o.Parallel, func(ctx context.Context, name string) (string, error) {
		defer bar.Done(1)
		return o.moveOne(ctx, src, byName[name], perVM, bar)
	})
	bar.Finish()
	for i, r := range results {
		p := byName[r.Name]
		if failures[i] != nil {
			p.fail(failures[i])
			continue
		}
		p.res.OK, p.res.Action = true, r.Action
	}
}

func (o *EvacuateOptions) moveOne(ctx context.Context, src *virt.Conn, p *placement, perVM time.Duration, bar progress.Reporter) (string, error) {
	if perVM > 0 {
		var cancel context.CancelFunc
		ctx, cancel = virt.WithTimeout(ctx, perVM)
		defer cancel()
	}
	lookCtx, cancel := virt.WithTimeout(ctx, cmdutil.DefaultTimeout)
	d, err := src.Domain(lookCtx, p.res.Name)
	cancel()
	if err != nil {
		return "", err
	}
	defer d.Free()
	// On a terminal the bar of the moves is drawn meanwhile: the line goes above it.
	bar.Above(func() { o.F.Infof("%s: migrating %s to %s", o.F.Prog, output.Escape(p.res.Name), p.to.name) })
	start := time.Now()
	last, err := d.Migrate(ctx, o.migrateOptions(p.to, p), nil)
	if err != nil {
		cleanupTarget(o.F, p.to.conn, p.uuid, p.res.Name, p.to.name)
		if errors.Is(err, virt.ErrMigrationAborted) {
			return "", err
		}
		return "", errs.Wrap(err, "migrate %s to %s", p.res.Name, p.to.name)
	}
	p.res.DurationSeconds = time.Since(start).Seconds()
	p.res.DataBytes, p.res.DowntimeMillis = last.DataProcessed, uint64(last.Downtime.Milliseconds())
	if p.autostart {
		actx, cancel := virt.WithTimeout(context.WithoutCancel(ctx), cmdutil.DefaultTimeout)
		defer cancel()
		if err := setAutostartOn(actx, p.to.conn, p.res.Name); err != nil {
			bar.Above(func() {
				o.F.Warnf("%s: moved, but autostart could not be set on %s: %v", output.Escape(p.res.Name), p.to.name, err)
			})
		}
	}
	return actMigrated, nil
}
