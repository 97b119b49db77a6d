package vm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// MigrateOptions of `vm migrate`.
type MigrateOptions struct {
	F            *cmdutil.Factory
	Name         string
	To           string
	Live         bool
	Offline      bool
	CopyStorage  string
	KeepSource   bool
	Transient    bool
	Tunnelled    bool
	Postcopy     bool
	AutoConverge bool
	Compressed   bool
	Unsafe       bool
	BandwidthMiB uint64
	// PostcopyAfter is --postcopy-after: the passes over memory pre-copy may make before a
	// --postcopy move switches.
	PostcopyAfter uint64
}

// CopyStorageModes are --copy-storage's values.
var CopyStorageModes = []string{"all", "inc"}

// NewCmdMigrate builds `vm migrate`.
func NewCmdMigrate(f *cmdutil.Factory, runF func(context.Context, *MigrateOptions) error) *cobra.Command {
	opts := &MigrateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "migrate [HOST:]NAME --to HOST",
		Short: "Move a VM to another host, live when it runs",
		Long: `Move a VM to another libvirt host (a name of the configuration's [hosts] table, or a URI).
The VM is on the libvirt of -c, or on the configured host its name is qualified with
(h2:web01), as with the bulk verbs.
A running VM moves live; a shut-off one moves its definition (--offline). The source's libvirtd
drives the move peer to peer: it reaches the target at the host's peer_uri (else its uri) and
QEMU streams to the host's migration_uri when one is configured.

Before anything moves, the target is checked: the name and UUID are free there, its hypervisor
can provide the VM's CPU, the networks and storage pools the VM names exist there, the disks
are there (shared storage) unless --copy-storage copies them, and no writable disk uses a
cache mode that makes a live move unsafe. Each problem is one line; nothing moves until none
is left. --copy-storage all has libvirt create each copy in the target's pool of the same name
(a volume) or over the same directory (a file), and a failed move removes them again;
--copy-storage inc copies only what the target's disk lacks, so that disk (with its backing
image) must be there already, and a file: libvirt looks for it by path, which a pool volume
does not have before the VM starts, so it refuses inc for pool volumes.

--postcopy switches to post-copy when pre-copy does not converge: once the guest dirties
memory as fast as the stream moves it (after the first pass over memory), or after
--postcopy-after passes. The guest then runs on the target and fetches the rest of its memory
from the source; from then on the move cannot be aborted. The target's QEMU needs
userfaultfd: with vm.unprivileged_userfaultfd = 0 (the kernel's default) and libvirt dropping
QEMU's capabilities, libvirt refuses post-copy there.

On a terminal a progress bar shows the data moved; at the end the summary says how long it
took, how much moved and the guest's downtime. Ctrl-C or --timeout aborts the job (before a
switch to post-copy): the VM keeps running on the source and the target is left without it. By default the VM is defined
on the target and undefined on the source (--keep-source, --transient change that); libvirt's
autostart flag follows it, and hvctl's metadata (profile, autostart group) travels in the
definition.`,
		Example: `  vmctl migrate web01 --to h2
  vmctl migrate h2:web01 --to h1
  vmctl migrate db01 --to h2 --copy-storage all --bandwidth 200 --timeout 30m
  vmctl migrate busy01 --to h2 --postcopy --bandwidth 100
  vmctl migrate web01 --to h2 --json | jq .downtime_ms`,
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: "none: bound the whole move; when it passes the job is aborted and the VM stays on the source"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.To == "" {
				return errs.New(errs.Usage, "--to HOST is required: the host to move %s to", output.Escape(opts.Name))
			}
			if opts.Live && opts.Offline {
				return errs.New(errs.Usage, "--live and --offline exclude each other")
			}
			if opts.Offline && opts.CopyStorage != "" {
				return errs.New(errs.Usage, "--offline moves the definition only; --copy-storage needs a running VM")
			}
			if opts.Transient && opts.Offline {
				return errs.New(errs.Usage, "--offline moves the definition: it cannot be --transient")
			}
			if opts.Postcopy && opts.Offline {
				return errs.New(errs.Usage, "--postcopy is a way to move a running VM's memory; --offline moves no memory")
			}
			if cmd.Flags().Changed("postcopy-after") {
				if !opts.Postcopy {
					return errs.New(errs.Usage, "--postcopy-after says when --postcopy switches: it needs --postcopy")
				}
				if opts.PostcopyAfter == 0 {
					return errs.New(errs.Usage, "--postcopy-after 0: pre-copy needs at least one pass over memory before post-copy")
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMigrate(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "the `HOST` to move to: a name of the configuration's [hosts], or a libvirt URI")
	fl.BoolVar(&opts.Live, "live", false, "move the running VM without stopping it (the default for a running VM)")
	fl.BoolVar(&opts.Offline, "offline", false, "move the definition only (the default for a shut-off VM)")
	cmdutil.StringEnumFlag(cmd, &opts.CopyStorage, "copy-storage", "", "", CopyStorageModes, "copy the disks too, for hosts that do not share storage: all, or inc (only what the target's backing images lack)")
	fl.BoolVar(&opts.KeepSource, "keep-source", false, "keep the definition on the source as well (not undefined there)")
	fl.BoolVar(&opts.Transient, "transient", false, "do not define the VM on the target: it disappears there when it stops")
	fl.BoolVar(&opts.Tunnelled, "tunnelled", false, "carry the migration stream over the libvirt connection instead of a direct QEMU connection")
	fl.BoolVar(&opts.Postcopy, "postcopy", false, "switch to post-copy when pre-copy does not converge: the guest then runs on the target at once and fetches the rest of its memory from the source (cannot be aborted after the switch)")
	fl.Uint64Var(&opts.PostcopyAfter, "postcopy-after", virt.DefaultPostcopyAfterPasses, "with --postcopy: switch after this many `PASSES` over memory that did not finish the move (sooner when the guest dirties memory as fast as it moves)")
	fl.BoolVar(&opts.AutoConverge, "auto-converge", false, "slow the guest down when it dirties memory faster than it moves")
	fl.BoolVar(&opts.Compressed, "compressed", false, "compress the migration stream")
	fl.BoolVar(&opts.Unsafe, "unsafe", false, "move disks whose cache mode or storage libvirt deems unsafe (you know the storage is shared and coherent)")
	fl.Uint64Var(&opts.BandwidthMiB, "bandwidth", 0, "cap the stream at `MiB/s` (0: no cap)")
	_ = cmd.RegisterFlagCompletionFunc("to", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if l, err := f.Config(); err == nil {
			return slices.Sorted(maps.Keys(l.Config.Hosts)), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	})
	f.AddOutputFlags(cmd)
	return cmd
}

// migrationTarget is where a migration goes, as the user, the source daemon and QEMU each see it.
type migrationTarget struct {
	name, uri, peerURI, dataURI string
}

func (f *MigrateOptions) target() (migrationTarget, error) {
	l, err := f.F.Config()
	if err != nil {
		return migrationTarget{}, err
	}
	if h, ok := l.Config.Hosts[f.To]; ok {
		t := migrationTarget{name: f.To, uri: h.URI, peerURI: h.PeerURI, dataURI: h.MigrationURI}
		if t.peerURI == "" {
			t.peerURI = h.URI
		}
		return t, nil
	}
	if u, err := url.Parse(f.To); err == nil && u.Scheme != "" {
		return migrationTarget{name: f.To, uri: f.To, peerURI: f.To}, nil
	}
	if _, ok := l.Config.Groups[f.To]; ok {
		return migrationTarget{}, errs.New(errs.Usage, "--to %s is a [groups] name: migrate moves a VM to one host", output.Escape(f.To)).
			WithHint("name one host of the group, or spread VMs over it with vmctl evacuate")
	}
	e := errs.New(errs.Usage, "--to %q is neither a host in the configuration's [hosts] table nor a libvirt URI", output.Escape(f.To))
	if len(l.Config.Hosts) > 0 {
		return migrationTarget{}, e.WithHint("hosts: %s", strings.Join(slices.Sorted(maps.Keys(l.Config.Hosts)), ", "))
	}
	return migrationTarget{}, e
}

// source resolves where the VM is: a name qualified with a configured host (h2:web01) is on
// that host, as the bulk verbs read it; otherwise on the libvirt of -c. A prefix that names no
// configured host stays part of the name. It returns the Factory that talks to that libvirt,
// the VM's name there, and the host's name ("" for -c's).
func (o *MigrateOptions) source() (*cmdutil.Factory, string, string, error) {
	l, err := o.F.Config()
	if err != nil {
		return nil, "", "", err
	}
	h, name, found := strings.Cut(o.Name, ":")
	host, configured := l.Config.Hosts[h]
	if !found || !configured {
		return o.F, o.Name, "", nil
	}
	if fl := o.F.Global.Flags; fl != nil && fl.Changed("connect") && l.Config.URI != host.URI {
		return nil, "", "", errs.New(errs.Usage, "%s names host %s, while -c names %s", output.Escape(o.Name), h, output.Escape(o.F.Global.Connect)).
			WithHint("give one of them: -c %s %s, or %s alone", h, output.Escape(name), output.Escape(o.Name))
	}
	return o.F.ForHost(host.URI), name, h, nil
}

// sourceName is how the summary names the source: the -c host name, else its URI.
func sourceName(f *cmdutil.Factory, uri string) string {
	if c := f.Global.Connect; c != "" {
		if l, err := f.Config(); err == nil {
			if _, ok := l.Config.Hosts[c]; ok {
				return c
			}
		}
	}
	return uri
}

func runMigrate(ctx context.Context, o *MigrateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	srcF, name, srcHost, err := o.source()
	if err != nil {
		return err
	}
	o.Name = name
	if err := cmdutil.ValidateLookupName("VM", o.Name); err != nil {
		return err
	}
	tgt, err := o.target()
	if err != nil {
		return err
	}
	// --timeout bounds the whole move (the job is aborted when it passes); the connections and
	// the preflight are bounded by the usual default besides, so a hung host cannot hold them.
	if fl := o.F.Global.Flags; fl != nil && fl.Changed("timeout") {
		var cancel context.CancelFunc
		ctx, cancel = virt.WithTimeout(ctx, o.F.Global.Timeout)
		defer cancel()
	}
	moveCtx := ctx
	ctx, cancelSetup := virt.WithTimeout(ctx, cmdutil.DefaultTimeout)
	defer cancelSetup()
	src, err := srcF.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.URI == tgt.uri {
		return errs.New(errs.Usage, "--to %s is the host the VM is on (%s)", output.Escape(tgt.name), src.URI)
	}
	d, err := src.Domain(ctx, o.Name)
	if errs.KindOf(err) == errs.NotFound && srcHost != "" {
		// Not "vmctl list": that lists -c's libvirt, not the host the name was qualified with.
		return errs.New(errs.NotFound, "migrate %s:%s: no VM %s on host %s", srcHost, output.Escape(o.Name), output.Escape(o.Name), srcHost).
			WithHint("see its VMs with: vmctl list --host %s", srcHost)
	}
	if err != nil {
		return errs.Wrap(err, "migrate %s", o.Name)
	}
	defer d.Free()
	state, _, err := d.State(ctx)
	if err != nil {
		return errs.Wrap(err, "migrate %s", o.Name)
	}
	running := state == virt.StateRunning || state == virt.StatePaused
	switch {
	case o.Live && !running:
		return errs.New(errs.Conflict, "migrate %s: it is %s; a live move needs it running (or use --offline)", o.Name, state)
	case o.Offline && running:
		return errs.New(errs.Conflict, "migrate %s: it is %s; --offline moves a shut-off VM's definition (stop it first, or move it live)", o.Name, state)
	case !running && state != virt.StateShutOff:
		return errs.New(errs.Conflict, "migrate %s: it is %s; only a running, paused or shut-off VM can move", o.Name, state)
	}
	live := running
	def, err := d.Definition(ctx, !live)
	if err != nil {
		return errs.Wrap(err, "migrate %s", o.Name)
	}
	// hvctl's own metadata (profile, autostart group) is in the definition and travels with it;
	// libvirt's autostart flag does not, so it is carried by hand.
	autostart, _ := d.Autostart(ctx)
	persistentSrc, err := d.Persistent(ctx)
	if err != nil {
		return errs.Wrap(err, "migrate %s", o.Name)
	}
	if !live && o.Transient {
		return errs.New(errs.Usage, "a shut-off VM moves as a definition: it cannot be --transient")
	}

	dst, err := virt.Open(ctx, tgt.uri, false)
	if err != nil {
		return errs.Wrap(err, "migrate %s: target %s", o.Name, tgt.name)
	}
	defer dst.Close()

	vo := virt.MigrateOptions{
		PeerURI: tgt.peerURI, DataURI: tgt.dataURI, Offline: !live, CopyStorage: o.CopyStorage,
		Persistent: !o.Transient, UndefineSource: !o.KeepSource && persistentSrc,
		Tunnelled: o.Tunnelled, Postcopy: o.Postcopy, AutoConverge: o.AutoConverge,
		Compressed: o.Compressed, Unsafe: o.Unsafe, BandwidthMiB: o.BandwidthMiB,
		PostcopyAfterPasses: o.PostcopyAfter,
	}
	problems, notes, err := virt.MigrationPreflight(ctx, dst, def, live, vo)
	if err != nil {
		return errs.Wrap(err, "migrate %s: checking %s", o.Name, tgt.name)
	}
	if len(problems) > 0 {
		return errs.New(problems[0].Kind, "cannot migrate %s to %s: %s", o.Name, tgt.name, virt.JoinProblems(problems))
	}
	// Lines for people name the VM escaped, as its errors do: a tab or control character in
	// a name must not reach the terminal raw.
	shown := output.Escape(o.Name)
	for _, n := range notes {
		o.F.Warnf("%s: %s", shown, n)
	}

	// What --copy-storage all will create there; a failed move's partial copies are removed.
	var copies []virt.DiskCopy
	if live && o.CopyStorage == "all" {
		if copies, err = virt.MissingDiskCopies(ctx, dst, def); err != nil {
			return errs.Wrap(err, "migrate %s: checking %s", o.Name, tgt.name)
		}
	}

	mode := "live"
	if !live {
		mode = "offline"
	}
	o.F.Infof("migrating %s (%s) to %s", shown, mode, tgt.name)
	bar := progress.NewBytes(o.F.IO, fmt.Sprintf("migrate %s → %s", shown, tgt.name))
	start := time.Now()
	switched := false
	last, err := d.Migrate(moveCtx, vo, func(p virt.MigrationProgress) {
		if p.Postcopy && !switched {
			switched = true
			o.F.Infof("%s: switched to post-copy (%s): it runs on %s now; the move can no longer be aborted", shown, p.PostcopyReason, tgt.name)
		}
		if p.DataTotal > 0 {
			bar.Set(int64(p.DataProcessed), int64(p.DataTotal))
		}
	})
	bar.Finish()
	if err != nil {
		if cleanupTarget(o.F, dst, def.UUID, o.Name, tgt.name) {
			removeCopies(o.F, dst, copies, o.Name, tgt.name)
		}
		if errors.Is(err, virt.ErrMigrationAborted) {
			if errs.KindOf(err) == errs.Interrupted {
				// The root reports an interrupt as one line, "interrupted"; what it left is said here.
				o.F.Infof("%s: %s", o.F.Prog, err)
			}
			return err
		}
		werr := errs.Wrap(err, "migrate %s to %s", o.Name, tgt.name)
		if e := (*errs.Error)(nil); o.Postcopy && strings.Contains(err.Error(), "Postcopy is not supported") && errors.As(werr, &e) {
			// The target's QEMU, at migrate-set-capabilities postcopy-ram, found no userfaultfd.
			return e.WithHint("the target's QEMU cannot use userfaultfd: allow it there (sysctl vm.unprivileged_userfaultfd=1), or move without --postcopy")
		}
		return werr
	}
	res := model.Migration{
		Name: o.Name, UUID: def.UUID, From: cmp.Or(srcHost, sourceName(o.F, src.URI)), To: tgt.name, Mode: mode,
		Persistent: vo.Persistent, SourceKept: !vo.UndefineSource, CopyStorage: o.CopyStorage,
		DurationSeconds: time.Since(start).Seconds(), DataBytes: last.DataProcessed,
		Iterations: last.Iteration, DowntimeMillis: uint64(last.Downtime.Milliseconds()), Notes: notes,
		Postcopy: last.Postcopy, PostcopyReason: last.PostcopyReason, PostcopyRequests: last.PostcopyRequests,
	}
	if autostart && vo.Persistent {
		actx, cancel := virt.WithTimeout(context.WithoutCancel(moveCtx), cmdutil.DefaultTimeout)
		defer cancel()
		if err := setAutostartOn(actx, dst, o.Name); err != nil {
			o.F.Warnf("%s: moved, but autostart could not be set on %s: %v", shown, tgt.name, err)
		} else {
			res.Autostart = true
		}
	}
	return output.Object(o.F.IO.Out, format, res, [][2]string{
		{"name", res.Name}, {"from", res.From}, {"to", res.To}, {"mode", res.Mode},
		{"duration", (time.Duration(res.DurationSeconds*1000) * time.Millisecond).String()},
		{"data", units.Human(res.DataBytes)}, {"iterations", strconv.FormatUint(res.Iterations, 10)},
		{"downtime", strconv.FormatUint(res.DowntimeMillis, 10) + "ms"},
		{"persistent", output.YesNo(res.Persistent)}, {"source-kept", output.YesNo(res.SourceKept)},
		{"autostart", output.YesNo(res.Autostart)}, {"postcopy", postcopySummary(res)},
	})
}

func postcopySummary(m model.Migration) string {
	if !m.Postcopy {
		return "no"
	}
	return fmt.Sprintf("yes: %s (%d page requests)", m.PostcopyReason, m.PostcopyRequests)
}

// cleanupTarget removes what a failed or aborted move left on the target: libvirt normally
// does, but a definition written before the failure would otherwise stay. The preflight made
// sure nothing with this UUID was there before, and a copy that runs there is never touched.
// It reports whether the target is left without the domain.
func cleanupTarget(f *cmdutil.Factory, dst *virt.Conn, uuid, name, host string) bool {
	name = output.Escape(name) // only named in warnings
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := dst.DomainByUUID(ctx, uuid)
	if errs.KindOf(err) == errs.NotFound {
		return true
	}
	if err != nil {
		f.Warnf("%s: could not check what the failed move left on %s: %v", name, host, err)
		return false
	}
	defer left.Free()
	state, _, err := left.State(ctx)
	if err != nil || state == virt.StateRunning {
		f.Warnf("%s: the failed move left a copy on %s (%s); check it before removing it", name, host, state)
		return false
	}
	if err := left.RemoveMigrationLeftover(ctx); err != nil {
		f.Warnf("%s: the failed move left a definition on %s that could not be removed: %v", name, host, err)
		return false
	}
	return true
}

// removeCopies deletes the disk copies a failed --copy-storage all move created on the target
// (libvirt creates them and leaves them when the move fails): they were not there before it.
func removeCopies(f *cmdutil.Factory, dst *virt.Conn, copies []virt.DiskCopy, name, host string) {
	name = output.Escape(name) // only named in messages
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dc := range copies {
		removed, err := dst.RemoveDiskCopy(ctx, dc)
		switch {
		case err != nil:
			f.Warnf("%s: the failed move left its partial copy of disk %s on %s (%s) and it could not be removed: %v", name, dc.Dev, host, dc, err)
		case removed:
			f.Infof("%s: removed the partial copy of disk %s on %s (%s)", name, dc.Dev, host, dc)
		}
	}
}

func setAutostartOn(ctx context.Context, c *virt.Conn, name string) error {
	d, err := c.Domain(ctx, name)
	if err != nil {
		return err
	}
	defer d.Free()
	_, err = d.SetAutostart(ctx, true)
	return err
}
