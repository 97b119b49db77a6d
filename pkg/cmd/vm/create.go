package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// CreateOptions of `vm create`.
type CreateOptions struct {
	F       *cmdutil.Factory
	Profile string
	Name    string
	Set     []string
	Start   bool
	WaitFor string // "", running, ip or agent
	DryRun  bool
}

// NewCmdCreate builds `vm create`.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "create PROFILE",
		Short: "Create a VM from a profile: volumes, cloud-init seed, definition; all or nothing",
		Long: `Create the VM a profile describes. Its disks become volumes in the configured pool
(vm.defaults.pool): a new qcow2 of the profile's size, or a qcow2 overlay on the base image,
whose format is read from libvirt (never guessed) and which is grown to the profile's size.
A cloud_init table becomes a NoCloud seed volume (mode 0600, kept across reboots). The
definition always has a serial console, a guest-agent channel and a virtio RNG; graphics
listen on 127.0.0.1 unless the profile says otherwise.

An existing VM or volume of the same name is a conflict (exit 4) and nothing is touched.
Any later failure, an interruption included, removes every volume and definition the
command made. --dry-run prints the domain XML and the plan and touches nothing.`,
		Example: `  vmctl create web01
  vmctl create profiles/base.toml --name test01 --set memory=4GiB --start --wait ip`,
		Args:        cmdutil.ExactArgs(1, "one profile"),
		Annotations: cmdutil.Journaled("vm:0", map[string]string{cmdutil.AnnTimeout: "10m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profile = args[0]
			if opts.Name != "" {
				if err := cmdutil.ValidateName("VM", opts.Name); err != nil {
					return err
				}
			}
			if opts.WaitFor != "" {
				opts.Start = true
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "VM name instead of the profile's")
	cmd.Flags().StringArrayVar(&opts.Set, "set", nil, "override a profile key: `KEY=VALUE` (repeatable), e.g. memory=4GiB")
	cmd.Flags().BoolVar(&opts.Start, "start", false, "start the VM once created")
	cmdutil.StringEnumFlag(cmd, &opts.WaitFor, "wait", "", "", []string{"running", "ip", "agent"}, "after starting, wait until the VM is running, has an ip, or its agent answers")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the domain XML and the plan; change nothing")
	f.AddOutputFlags(cmd)
	return cmd
}

// rollbackTimeout bounds a rollback: long enough for libvirtd to finish a call the command
// gave up on (it is waited for, then undone), short enough that an interrupted command ends.
const rollbackTimeout = 60 * time.Second

// undoJournal removes what the journal saw made, under a context of its own: the command's
// context may be the reason for the rollback. What it cannot remove is said on stderr even
// with -q: the user must know what is left.
func undoJournal(ctx context.Context, f *cmdutil.Factory, conn *virt.Conn, j *virt.Journal, what string) {
	ctx, cancel := virt.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := conn.Rollback(ctx, j); err != nil {
		fmt.Fprintf(f.IO.ErrOut, "%s: %s: %s\n", f.Prog, what, output.Escape(err.Error()))
		if h := errs.HintOf(err); h != "" {
			fmt.Fprintf(f.IO.ErrOut, "hint: %s\n", h)
		}
	}
}

// defineAndStart defines the domain under a UUID of its own (so that a rollback finds it even
// when the define's answer never came) and starts it if asked.
func defineAndStart(ctx context.Context, conn *virt.Conn, def *libvirtxml.Domain, start bool) (*virt.Domain, error) {
	def.UUID = virt.NewUUID()
	x, err := def.Marshal()
	if err != nil {
		return nil, err
	}
	d, err := conn.DefineDomain(ctx, def.Name, x)
	if err != nil {
		return nil, err
	}
	if start {
		if _, err := d.Start(ctx); err != nil {
			d.Free()
			return nil, err
		}
	}
	return d, nil
}

func runCreate(ctx context.Context, o *CreateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	lo, bridges, err := profileOptions(o.F)
	if err != nil {
		return err
	}
	if o.Name != "" {
		lo.Set = append([]string{"name=" + o.Name}, o.Set...)
	} else {
		lo.Set = o.Set
	}
	path, err := profile.Resolve(o.Profile, lo.Dir)
	if err != nil {
		return err
	}
	p, err := profile.Load(path, lo)
	if err != nil {
		return err
	}
	cmdutil.ReportTargets(ctx, p.Name) // the operations journal's target
	l, err := o.F.Config()
	if err != nil {
		return err
	}
	cfg := l.Config
	pool := cfg.VM.Defaults.Pool
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	wrap := func(err error) error { return errs.Wrap(err, "create %s", p.Name) }

	// Everything that can be refused is checked before anything is made.
	if exists, err := conn.Exists(ctx, p.Name); err != nil {
		return wrap(err)
	} else if exists {
		return errs.New(errs.Conflict, "create %s: a VM of that name exists", p.Name).WithHint("choose another with --name, or delete it first")
	}
	bo, err := buildOptions(ctx, conn, cfg, p, bridges)
	if err != nil {
		return wrap(err)
	}
	domainType := bo.DomainType
	var base *virt.Volume
	if b := p.Disk.BaseImage; b != "" {
		if base, err = findBaseImage(ctx, conn, b, cfg.Paths.Images); err != nil {
			return wrap(err)
		}
	}
	var seedISO []byte
	if p.CloudInit != nil {
		s, err := seed.FromProfile(p, "iid-"+p.Name+"-"+randomHex(4))
		if err != nil {
			return errs.New(errs.Usage, "create %s: %v", p.Name, err)
		}
		if seedISO, err = s.ISO(); err != nil {
			return errs.New(errs.Failure, "create %s: %v", p.Name, err)
		}
	}
	def, err := domainxml.Build(p, bo)
	if err != nil {
		return errs.New(errs.Usage, "create %s: %v", p.Name, err)
	}
	type planned struct {
		virt.NewVolume
		data []byte
	}
	size := func(s string) uint64 { n, _ := units.ParseSize(s); return n }
	plan := []planned{{NewVolume: virt.NewVolume{Pool: pool, Name: domainxml.SystemVolume(p.Name), Format: "qcow2", Capacity: size(p.Disk.Size), Backing: base}}}
	for i, x := range p.ExtraDisks {
		nv := virt.NewVolume{Pool: pool, Name: domainxml.ExtraVolume(p.Name, i), Format: "qcow2", Capacity: size(x.Size)}
		if x.BaseImage != "" {
			if nv.Backing, err = findBaseImage(ctx, conn, x.BaseImage, cfg.Paths.Images); err != nil {
				return wrap(err)
			}
		}
		plan = append(plan, planned{NewVolume: nv})
	}
	if seedISO != nil {
		plan = append(plan, planned{NewVolume: virt.NewVolume{Pool: pool, Name: bo.SeedVolume, Format: "raw", Capacity: uint64(len(seedISO)), Mode: "0600"}, data: seedISO})
	}
	for _, v := range plan {
		if exists, err := conn.VolumeExists(ctx, v.Pool, v.Name); err != nil {
			return wrap(err)
		} else if exists {
			return errs.New(errs.Conflict, "create %s: volume %s exists in pool %s", p.Name, v.Name, v.Pool).
				WithHint("a killed create or clone may have left it: vmctl gc lists such volumes and removes them")
		}
	}
	result := model.Created{Name: p.Name, Profile: path, DomainType: domainType, Volumes: []string{}, Addresses: []model.Address{}}
	if o.DryRun {
		for _, v := range plan {
			what := fmt.Sprintf("new %s volume %s/%s, %s", v.Format, v.Pool, v.Name, units.Human(v.Capacity))
			if v.Backing != nil {
				what += fmt.Sprintf(", overlay on %s (%s)", v.Backing.Path, v.Backing.Format)
			}
			o.F.Infof("%s: would create %s", o.F.Prog, what)
			result.Volumes = append(result.Volumes, v.Pool+"/"+v.Name)
		}
		result.DryRun = true
		if format.IsJSON() {
			return output.WriteJSON(o.F.IO.Out, format, result)
		}
		x, err := def.Marshal()
		if err != nil {
			return err
		}
		return output.WriteText(o.F.IO.Out, o.F.IO.IsStdoutTTY(), x+"\n")
	}

	// Honest progress on a terminal (a create that waits for an address takes a while),
	// nothing in a pipe.
	steps := progress.NewSteps(o.F.IO, "create "+p.Name)
	defer steps.Finish()
	r := revert.New()
	defer r.Fail()
	journal := conn.Journal()
	r.Add(func() {
		steps.Finish()
		undoJournal(ctx, o.F, conn, journal, "create "+p.Name)
	})
	for _, v := range plan {
		steps.Step("creating volume %s", v.Name)
		vol, err := conn.CreateVolume(ctx, v.NewVolume)
		if err != nil {
			return wrap(err)
		}
		result.Volumes = append(result.Volumes, vol.Path)
		if v.data != nil {
			steps.Step("writing the cloud-init seed")
			if err := conn.Upload(ctx, vol.Path, v.data); err != nil {
				return wrap(err)
			}
		}
	}
	steps.Step("defining the VM")
	if o.Start {
		steps.Step("defining and starting the VM")
	}
	d, err := defineAndStart(ctx, conn, def, o.Start)
	if err != nil {
		return wrap(err)
	}
	defer d.Free()
	result.UUID, result.Started = def.UUID, o.Start
	// The VM is made (and started): waiting is a question, not part of creating.
	r.Success()
	if o.Start {
		if w := map[string]string{"running": "for it to run", "agent": "for its guest agent", "ip": "for an IP address"}[o.WaitFor]; w != "" {
			steps.Step("waiting %s", w)
		}
		switch o.WaitFor {
		case "running":
			err = d.WaitState(ctx, func(s string) bool { return s == virt.StateRunning })
		case "agent":
			err = d.WaitAgent(ctx)
		case "ip":
			result.Addresses, err = d.WaitAddresses(ctx, AddressSources)
		}
		if err != nil {
			return errs.Wrap(err, "create %s: created and started, but wait --for %s", p.Name, o.WaitFor)
		}
	}
	steps.Finish()
	pairs := [][2]string{{"name", result.Name}, {"uuid", result.UUID}, {"profile", result.Profile}, {"domain type", result.DomainType}}
	for _, v := range result.Volumes {
		pairs = append(pairs, [2]string{"volume", v})
	}
	pairs = append(pairs, [2]string{"started", output.YesNo(result.Started)})
	for _, a := range result.Addresses {
		pairs = append(pairs, [2]string{"address", fmt.Sprintf("%s/%d (%s)", a.Address, a.Prefix, a.Source)})
	}
	return output.Object(o.F.IO.Out, format, result, pairs)
}

// buildOptions settles what the profile leaves to the host: the domain type for "auto", the
// install ISO's path (which must exist), the pool and the seed volume's name.
func buildOptions(ctx context.Context, conn *virt.Conn, cfg config.Config, p *profile.Profile, bridges map[string]string) (domainxml.Options, error) {
	bo := domainxml.Options{DomainType: p.DomainType, Pool: cfg.VM.Defaults.Pool, Zones: bridges}
	if bo.DomainType == "auto" {
		var err error
		if bo.DomainType, err = conn.HostDomainType(ctx, p.Arch); err != nil {
			return bo, err
		}
	}
	if p.InstallISO != "" {
		bo.ISOPath = storePath(cfg.Paths.ISOs, p.InstallISO)
		if _, err := os.Stat(bo.ISOPath); err != nil {
			return bo, errs.New(errs.NotFound, "install ISO %s not found", bo.ISOPath).
				WithHint("pull it first: isoctl pull %s", p.InstallISO)
		}
	}
	if p.CloudInit != nil {
		bo.SeedVolume = domainxml.SeedVolume(p.Name)
	}
	return bo, nil
}

// storePath resolves a profile's image reference: a path, a file name in the store, or the
// name of a catalogue entry pulled into the store (its newest image, as isoctl records it).
func storePath(dir, ref string) string {
	p, err := profile.InStore(dir, ref)
	if err != nil {
		return "" // profile.Load refuses such a reference: never climb out of the store
	}
	if filepath.IsAbs(ref) {
		return p
	}
	if _, err := os.Stat(p); err != nil {
		if r, err := iso.Locate(dir, ref); err == nil {
			return filepath.Join(dir, r.Name)
		}
	}
	return p
}

// findBaseImage resolves a base image name or path to a libvirt volume.
func findBaseImage(ctx context.Context, conn *virt.Conn, image, store string) (*virt.Volume, error) {
	if _, err := profile.InStore(store, image); err != nil {
		return nil, errs.New(errs.Usage, "base_image %v", err)
	}
	candidates := []string{image}
	if !filepath.IsAbs(image) {
		candidates = nil
		for _, ext := range []string{"", ".qcow2", ".img", ".raw"} {
			candidates = append(candidates, filepath.Join(store, image+ext))
		}
	}
	if !filepath.IsAbs(image) {
		if r, err := iso.Locate(store, image); err == nil && r.Name != image {
			candidates = append(candidates, filepath.Join(store, r.Name)) // a catalogue entry
		}
	}
	for _, c := range candidates {
		v, err := conn.LookupVolumeByPath(ctx, c)
		if err == nil {
			return v, nil
		}
		if errs.KindOf(err) != errs.NotFound {
			return nil, err
		}
	}
	return nil, errs.New(errs.NotFound, "base image %s not found as a libvirt volume (looked for %s)", image, candidates[0]).
		WithHint("the image store must be a libvirt storage pool; isoctl will manage it")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
