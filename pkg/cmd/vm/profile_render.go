package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ProfileRenderOptions of `vm profile render`.
type ProfileRenderOptions struct {
	F          *cmdutil.Factory
	Profile    string
	DomainType string
	Machine    string
	Pool       string
}

// NewCmdProfileRender builds `vm profile render`.
func NewCmdProfileRender(f *cmdutil.Factory, runF func(context.Context, *ProfileRenderOptions) error) *cobra.Command {
	opts := &ProfileRenderOptions{F: f}
	cmd := &cobra.Command{
		Use:   "render PROFILE",
		Short: "Print the libvirt domain XML a profile makes, without libvirt",
		Long: `Print the domain XML for the profile. Nothing is defined and libvirt is not needed: what
would come from the host (domain type for "auto", machine type) comes from the flags.`,
		Example: "  vmctl profile render web01 | xmllint --format -",
		Args:    cmdutil.ExactArgs(1, "one profile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profile = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileRender(cmd.Context(), opts)
		},
	}
	cmdutil.StringEnumFlag(cmd, &opts.DomainType, "domain-type", "", "kvm", []string{"kvm", "qemu"}, "what domain_type \"auto\" becomes")
	cmd.Flags().StringVar(&opts.Machine, "machine", "", "machine type (default: q35 on x86_64, virt elsewhere)")
	cmd.Flags().StringVar(&opts.Pool, "pool", "default", "storage pool of the VM's volumes")
	return cmd
}

func runProfileRender(_ context.Context, o *ProfileRenderOptions) error {
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
	return output.WriteText(o.F.IO.Out, o.F.IO.IsStdoutTTY(), x+"\n")
}
