package vm

import (
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/profile"
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
		NewCmdProfileShow(f, nil), NewCmdProfileSchema(f, nil), NewCmdProfileImport(f, nil),
		NewCmdProfileFrom(f, nil))
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
