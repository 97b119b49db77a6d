package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// NewCmdProfile builds `vm profile` and its subcommands.
func NewCmdProfile(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Check, render and inspect TOML VM profiles",
		Long: `VM profiles are TOML files that describe a VM: CPUs, memory, disks, install media,
cloud-init, networks, firmware, passthrough devices and more. They live in the profiles
directory of the configuration (paths.profiles) and can also be given as paths; "extends"
inherits from another profile, and the configuration's [vm.defaults] fill the rest.
'vmctl profile schema' prints the format as a JSON Schema.`,
	}
	cmd.AddCommand(NewCmdProfileValidate(f, nil), NewCmdProfileRender(f, nil), NewCmdProfileList(f, nil),
		NewCmdProfileShow(f, nil), NewCmdProfileSchema(f), NewCmdProfileImport(f))
	return cmd
}

// profileOptions derives the loader's options from the configuration.
func profileOptions(f *cmdutil.Factory) (profile.Options, map[string]string, error) {
	l, err := f.Config()
	if err != nil {
		return profile.Options{}, nil, err
	}
	c := l.Config
	d := c.VM.Defaults
	o := profile.Options{
		Dir:      c.Paths.Profiles,
		ISODir:   c.Paths.ISOs,
		ImageDir: c.Paths.Images,
		Defaults: profile.Defaults{VCPUs: d.VCPUs, Memory: d.Memory, DiskSize: d.DiskSize, Network: d.Network, DomainType: d.DomainType},
		Zones:    map[string]profile.Zone{},
	}
	bridges := map[string]string{}
	for name, z := range c.Zones {
		o.Zones[name] = profile.Zone{AllowHostdev: z.AllowHostdev}
		bridges[name] = z.Bridge
	}
	return o, bridges, nil
}

func loadProfile(f *cmdutil.Factory, arg string) (*profile.Profile, profile.Options, map[string]string, error) {
	o, bridges, err := profileOptions(f)
	if err != nil {
		return nil, o, nil, err
	}
	path, err := profile.Resolve(arg, o.Dir)
	if err != nil {
		return nil, o, nil, err
	}
	p, err := profile.Load(path, o)
	return p, o, bridges, err
}

// ProfileValidateOptions of `vm profile validate`.
type ProfileValidateOptions struct {
	F        *cmdutil.Factory
	Profiles []string
}

// NewCmdProfileValidate builds `vm profile validate`.
func NewCmdProfileValidate(f *cmdutil.Factory, runF func(*ProfileValidateOptions) error) *cobra.Command {
	opts := &ProfileValidateOptions{F: f}
	cmd := &cobra.Command{
		Use:   "validate PROFILE...",
		Short: "Check profiles and report every problem with file:line:col",
		Long: `Check each profile (a path, or a name in the profiles directory) without touching libvirt:
unknown keys, wrong types, values out of range, malformed sizes, MAC and PCI addresses, bad
names, rules across fields, zones from the configuration. Every problem is reported, one per
line on stderr as FILE:LINE:COL: KEY: MESSAGE; the exit status is 2 when any profile has one.`,
		Example: "  vmctl profile validate web01 /srv/profiles/*.toml",
		Args:    cmdutil.MinimumArgs(1, "one or more profiles"),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(opts)
			}
			return runProfileValidate(opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileValidate(o *ProfileValidateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	lo, _, err := profileOptions(o.F)
	if err != nil {
		return err
	}
	var checks []model.ProfileCheck
	bad, missing := 0, 0
	for _, arg := range o.Profiles {
		c := model.ProfileCheck{Profile: arg, Issues: []model.ProfileIssue{}}
		var p *profile.Profile
		path, err := profile.Resolve(arg, lo.Dir)
		if err == nil {
			c.Profile = path
			p, err = profile.Load(path, lo)
		}
		var inv *profile.Invalid
		switch {
		case err == nil:
			c.OK = true
			for _, w := range p.Warnings {
				c.Warnings = append(c.Warnings, model.ProfileIssue{File: w.File, Line: w.Line, Column: w.Col, Key: w.Key, Message: w.Msg})
				if !format.IsJSON() {
					fmt.Fprintln(o.F.IO.ErrOut, "warning: "+output.Escape(w.String()))
				}
			}
		case errors.As(err, &inv):
			for _, i := range inv.Issues {
				c.Issues = append(c.Issues, model.ProfileIssue{File: i.File, Line: i.Line, Column: i.Col, Key: i.Key, Message: i.Msg})
				if !format.IsJSON() {
					fmt.Fprintln(o.F.IO.ErrOut, output.Escape(i.String()))
				}
			}
		default:
			if errs.KindOf(err) == errs.NotFound {
				missing++
			}
			c.Issues = append(c.Issues, model.ProfileIssue{File: c.Profile, Message: err.Error()})
			if !format.IsJSON() {
				fmt.Fprintf(o.F.IO.ErrOut, "%s\n", output.Escape(err.Error()))
			}
		}
		if !c.OK {
			bad++
		}
		checks = append(checks, c)
	}
	cols := []output.Column[model.ProfileCheck]{
		{Header: "profile", Value: func(c model.ProfileCheck) string { return c.Profile }},
		{Header: "result", Value: func(c model.ProfileCheck) string {
			if c.OK {
				return "ok"
			}
			return fmt.Sprintf("%d problem(s)", len(c.Issues))
		}},
	}
	if err := output.List(o.F.IO.Out, format, checks, cols, func(c model.ProfileCheck) string { return c.Profile }); err != nil {
		return err
	}
	if bad > 0 && bad == missing {
		return errs.New(errs.NotFound, "%d of %d profile(s) not found", bad, len(checks))
	}
	if bad > 0 {
		return errs.New(errs.Usage, "%d of %d profile(s) invalid", bad, len(checks)).WithHint("each problem is listed above as FILE:LINE:COL: KEY: MESSAGE")
	}
	return nil
}

// ProfileRenderOptions of `vm profile render`.
type ProfileRenderOptions struct {
	F          *cmdutil.Factory
	Profile    string
	DomainType string
	Machine    string
	Pool       string
}

// NewCmdProfileRender builds `vm profile render`.
func NewCmdProfileRender(f *cmdutil.Factory, runF func(*ProfileRenderOptions) error) *cobra.Command {
	opts := &ProfileRenderOptions{F: f}
	cmd := &cobra.Command{
		Use:   "render PROFILE",
		Short: "Print the libvirt domain XML a profile makes, without libvirt",
		Long: `Print the domain XML for the profile. Nothing is defined and libvirt is not needed: what
would come from the host (domain type for "auto", machine type) comes from the flags.`,
		Example: "  vmctl profile render web01 | xmllint --format -",
		Args:    cmdutil.ExactArgs(1, "one profile"),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Profile = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runProfileRender(opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.DomainType, "domain-type", "", "kvm", []string{"kvm", "qemu"}, "what domain_type \"auto\" becomes")
	cmd.Flags().StringVar(&opts.Machine, "machine", "", "machine type (default: q35 on x86_64, virt elsewhere)")
	cmd.Flags().StringVar(&opts.Pool, "pool", "default", "storage pool of the VM's volumes")
	return cmd
}

func runProfileRender(o *ProfileRenderOptions) error {
	p, _, bridges, err := loadProfile(o.F, o.Profile)
	if err != nil {
		return err
	}
	bo := domainxml.Options{DomainType: o.DomainType, Machine: o.Machine, Pool: o.Pool, Zones: bridges}
	if p.InstallISO != "" {
		bo.ISOPath = p.InstallISO
		if l, err := o.F.Config(); err == nil {
			bo.ISOPath = storePath(l.Config.Paths.ISOs, p.InstallISO)
		}
	}
	if p.CloudInit != nil {
		bo.SeedVolume = domainxml.SeedVolume(p.Name)
	}
	d, err := domainxml.Build(p, bo)
	if err != nil {
		return errs.New(errs.Usage, "render %s: %v", o.Profile, err)
	}
	x, err := d.Marshal()
	if err != nil {
		return err
	}
	_, err = io.WriteString(o.F.IO.Out, x+"\n")
	return err
}

// ProfileListOptions of `vm profile list`.
type ProfileListOptions struct{ F *cmdutil.Factory }

// NewCmdProfileList builds `vm profile list`.
func NewCmdProfileList(f *cmdutil.Factory, runF func(*ProfileListOptions) error) *cobra.Command {
	opts := &ProfileListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the profiles in the profiles directory",
		Args:    cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runProfileList(opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileList(o *ProfileListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	lo, _, err := profileOptions(o.F)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(lo.Dir, "*.toml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	rows := []model.ProfileSummary{}
	for _, file := range files {
		s := model.ProfileSummary{Name: strings.TrimSuffix(filepath.Base(file), ".toml"), File: file}
		p, err := profile.Load(file, lo)
		if err != nil {
			s.Error = err.Error()
		} else {
			s.Valid, s.Extends, s.VCPUs = true, p.Extends, p.VCPUs
			s.MemoryBytes, _ = units.ParseSize(p.Memory)
			s.DiskBytes, _ = units.ParseSize(p.Disk.Size)
		}
		rows = append(rows, s)
	}
	cols := []output.Column[model.ProfileSummary]{
		{Header: "name", Value: func(s model.ProfileSummary) string { return s.Name }},
		{Header: "vcpus", Value: func(s model.ProfileSummary) string { return dashInt(s.VCPUs) }},
		{Header: "memory", Value: func(s model.ProfileSummary) string { return dashSize(s.MemoryBytes) }},
		{Header: "disk", Value: func(s model.ProfileSummary) string { return dashSize(s.DiskBytes) }},
		{Header: "extends", Value: func(s model.ProfileSummary) string { return dash(s.Extends) }},
		{Header: "valid", Value: func(s model.ProfileSummary) string {
			if s.Valid {
				return "yes"
			}
			return "no: " + s.Error
		}},
		{Header: "file", Wide: true, Value: func(s model.ProfileSummary) string { return s.File }},
	}
	return output.List(o.F.IO.Out, format, rows, cols, func(s model.ProfileSummary) string { return s.Name })
}

func dashInt(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func dashSize(n uint64) string {
	if n == 0 {
		return "-"
	}
	return units.Human(n)
}

// ProfileShowOptions of `vm profile show`.
type ProfileShowOptions struct {
	F       *cmdutil.Factory
	Profile string
}

// NewCmdProfileShow builds `vm profile show`.
func NewCmdProfileShow(f *cmdutil.Factory, runF func(*ProfileShowOptions) error) *cobra.Command {
	opts := &ProfileShowOptions{F: f}
	cmd := &cobra.Command{
		Use:   "show PROFILE",
		Short: "Print a profile as it applies: after extends and the configured defaults",
		Args:  cmdutil.ExactArgs(1, "one profile"),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Profile = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runProfileShow(opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileShow(o *ProfileShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	p, _, _, err := loadProfile(o.F, o.Profile)
	if err != nil {
		return err
	}
	// The table view is the JSON flattened to dotted keys: one model, two renderings.
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	var pairs [][2]string
	flatten("", generic, &pairs)
	return output.Object(o.F.IO.Out, format, p, pairs)
}

func flatten(prefix string, v any, out *[][2]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x[k], out)
		}
	case []any:
		for i, el := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), el, out)
		}
	default:
		*out = append(*out, [2]string{prefix, fmt.Sprint(x)})
	}
}

// NewCmdProfileSchema builds `vm profile schema`.
func NewCmdProfileSchema(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the profile format as a JSON Schema, for editors and linters",
		Long: `Print a JSON Schema (draft 2020-12) of the profile format. TOML language servers such as
taplo and Even Better TOML validate as you type with it:  #:schema ./profile.schema.json`,
		Args: cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			format.Pretty = true // a schema is read by people as often as by programs
			return output.WriteJSON(f.IO.Out, format, profile.Schema())
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// NewCmdProfileImport builds `vm profile import`.
func NewCmdProfileImport(f *cmdutil.Factory) *cobra.Command {
	var to string
	var force bool
	cmd := &cobra.Command{
		Use:   "import OLD.json",
		Short: "Convert a Hyper-NixOS JSON profile to a TOML profile",
		Long: `Convert a JSON VM profile of the old Hyper-NixOS scripts (the schema'd form, the
"intelligent"/"usecase" templates with AUTO_DETECT values, or the rust-lib resources form) to
TOML. What changed on the way, and what needs a person's eye, heads the result as comments.
The result goes to stdout, or to --to FILE; it is then checked like 'profile validate'.`,
		Example: "  vmctl profile import vm-profiles/example_vm_ubuntu.json --to /etc/hvctl/profiles/ubuntu-vm.toml",
		Args:    cmdutil.ExactArgs(1, "one JSON profile"),
		RunE: func(_ *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return errs.New(errs.NotFound, "import: %v", err)
			}
			out, _, err := profile.Import(data)
			if err != nil {
				return errs.New(errs.Usage, "import %s: %v", args[0], err)
			}
			target := to
			if target == "" {
				if _, err := f.IO.Out.Write(out); err != nil {
					return err
				}
				tmp, err := os.CreateTemp("", "hvctl-import-*.toml")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				if _, err := tmp.Write(out); err != nil {
					return err
				}
				tmp.Close()
				target = tmp.Name()
			} else {
				if _, err := os.Stat(target); err == nil && !force {
					return errs.New(errs.Conflict, "import: %s exists", target).WithHint("add --force to replace it")
				}
				if err := fsutil.WriteAtomic(target, out, 0o644); err != nil {
					return err
				}
				f.Infof("%s: wrote %s", f.Prog, target)
			}
			lo, _, err := profileOptions(f)
			if err != nil {
				return err
			}
			if _, err := profile.Load(target, lo); err != nil {
				return errs.New(errs.Usage, "imported, but the profile needs edits: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "write the TOML profile to `FILE` instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing --to file")
	return cmd
}
