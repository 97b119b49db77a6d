package vm

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"
)

// ProfileFromOptions of `vm profile from`.
type ProfileFromOptions struct {
	F      *cmdutil.Factory
	VM     string
	Output string // the TOML file to write; "" for stdout
	Force  bool   // replace an existing Output
}

// NewCmdProfileFrom builds `vm profile from`.
func NewCmdProfileFrom(f *cmdutil.Factory, runF func(context.Context, *ProfileFromOptions) error) *cobra.Command {
	opts := &ProfileFromOptions{F: f}
	cmd := &cobra.Command{
		Use:   "from VM",
		Short: "Write the TOML profile of an existing VM, to bring it under profiles",
		Long: `Read a VM's persistent definition (and its volumes' sizes and base images) and write the
profile that renders it, every value spelled out so that the configuration's defaults cannot
change what it means: 'vmctl diff' then finds the VM in sync. What a profile cannot say (a
disk outside the pool's NAME.qcow2 / NAME-dataN.qcow2 volumes, a second CD-ROM, a NIC that is
neither on a network nor a bridge …) heads the file as comments and shows in diff; with
--output, the VM's cloud-init seed is saved beside the profile (NAME.user-data, 0600) and
referenced from it. The profile goes to stdout, or to --output FILE (atomically); with
--output it is then planned as diff would, and any difference is warned about.`,
		Example:           "  vmctl profile from web01 --output /etc/hvctl/profiles/web01.toml && vmctl diff web01\n  vmctl profile from legacy-vm > legacy-vm.toml",
		Args:              cmdutil.ExactArgs(1, "one VM"),
		ValidArgsFunction: completeVMs(f, false),
		// Journaled when it writes a profile file; to stdout it only reads.
		Annotations: cmdutil.Journaled("profile:0", map[string]string{cmdutil.AnnJournalIf: "output"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if opts.Force && opts.Output == "" {
				return errs.New(errs.Usage, "--force goes with --output")
			}
			if opts.Output != "" && !strings.HasSuffix(opts.Output, ".toml") {
				return errs.New(errs.Usage, "--output %s: a profile's file name ends in .toml", output.Escape(opts.Output))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileFrom(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the profile to `FILE` instead of stdout")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing --output file")
	_ = cmd.MarkFlagFilename("output", "toml")
	return cmd
}

func runProfileFrom(ctx context.Context, o *ProfileFromOptions) error {
	if o.Output != "" && !o.Force {
		if _, err := os.Stat(o.Output); err == nil {
			return errs.New(errs.Conflict, "profile from: %s exists", o.Output).WithHint("add --force to replace it")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	var body []byte
	// The seed is read through a libvirt stream, which needs a read-write connection.
	err := withDomain(ctx, o.F, o.VM, o.Output == "", func(d *virt.Domain) error {
		def, err := d.Definition(ctx, true)
		if err != nil {
			return err
		}
		fo := domainxml.FromOptions{Volumes: map[string]domainxml.VolumeFacts{}}
		c := d.Conn()
		for _, disk := range def.Devices.Disks {
			s := disk.Source
			if s == nil || s.Volume == nil {
				continue
			}
			v, err := c.VolumeInfo(ctx, s.Volume.Pool, s.Volume.Volume)
			if err != nil {
				return errs.Wrap(err, "disk %s", s.Volume.Volume)
			}
			fo.Volumes[s.Volume.Volume] = domainxml.VolumeFacts{Capacity: v.CapacityBytes, Backing: v.Backing}
			if s.Volume.Volume == domainxml.SeedVolume(def.Name) && o.Output != "" {
				if fo.CloudInit, err = saveSeed(ctx, c, v.Path, o.Output, def.Name); err != nil {
					return errs.Wrap(err, "cloud-init seed %s", s.Volume.Volume)
				}
			}
		}
		table, notes := domainxml.ProfileFrom(def, fo)
		t, err := toml.Marshal(table)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		b.WriteString("# Made from the VM " + oneLineComment(def.Name) + " by `vmctl profile from`.\n")
		for _, n := range notes {
			b.WriteString("# - " + oneLineComment(n) + "\n")
			o.F.Warnf("%s: %s", o.VM, n)
		}
		b.WriteString("\n")
		b.Write(t)
		body = b.Bytes()
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "profile from %s", o.VM)
	}
	if o.Output == "" {
		_, err := o.F.IO.Out.Write(body)
		return err
	}
	if err := fsutil.WriteAtomic(o.Output, body, 0o644); err != nil {
		return errs.New(errs.Failure, "profile from %s: %v", o.VM, err)
	}
	o.F.Infof("%s: wrote %s", o.F.Prog, o.Output)
	abs, err := filepath.Abs(o.Output)
	if err != nil {
		return err
	}
	pl, err := newPlanner(ctx, o.F, true)
	if err != nil {
		return err
	}
	defer pl.conn.Close()
	plan, err := pl.plan(ctx, abs)
	if err != nil {
		return errs.Wrap(err, "profile from %s: the profile was written but does not plan", o.VM)
	}
	if len(plan.rows) > 0 {
		keys := make([]string, 0, len(plan.rows))
		for _, r := range plan.rows {
			keys = append(keys, r.Key)
		}
		o.F.Warnf("%s: vmctl diff reports %d difference(s): %s", o.VM, len(keys), strings.Join(keys, ", "))
	}
	return nil
}

// saveSeed writes the seed's files beside the profile (0600: user-data may hold a password
// hash) and returns the [cloud_init] table that names them, by absolute path.
func saveSeed(ctx context.Context, c *virt.Conn, path, profilePath, vm string) (map[string]any, error) {
	iso, err := c.Download(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := seed.Parse(iso)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(profilePath))
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range []struct {
		key, suffix string
		data        []byte
	}{{"user_data", "user-data", s.UserData}, {"meta_data", "meta-data", s.MetaData}, {"network_config", "network-config", s.NetworkConfig}} {
		if len(f.data) == 0 {
			continue
		}
		p := filepath.Join(dir, vm+"."+f.suffix)
		if err := fsutil.WriteAtomic(p, f.data, 0o600); err != nil {
			return nil, err
		}
		out[f.key] = p
	}
	return out, nil
}

// oneLineComment keeps a note on its comment line: a newline or control character would end
// the comment and let a VM's name write TOML of its own.
func oneLineComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
