package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdVolume builds `vm volume` and its subcommands, one file each.
func NewCmdVolume(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "volume",
		Aliases: []string{"vol"},
		Short:   "List, create, delete, resize, upload and download storage volumes",
		Long: `Storage volumes are the files (or logical volumes) in a pool that VMs use as disks. A volume
is named POOL/NAME. USED-BY names the VMs whose disks use a volume, directly or as the
backing file of an overlay: delete refuses those, and resize refuses one a running VM uses.`,
	}
	cmd.AddCommand(NewCmdVolumeList(f, nil), NewCmdVolumeShow(f, nil), NewCmdVolumeCreate(f, nil), NewCmdVolumeDelete(f, nil),
		NewCmdVolumeResize(f, nil), NewCmdVolumeUpload(f, nil), NewCmdVolumeDownload(f, nil))
	return cmd
}

// volumeRef is a POOL/NAME argument.
type volumeRef struct{ Pool, Name string }

func (r volumeRef) String() string { return r.Pool + "/" + r.Name }

// parseVolumeRef splits POOL/NAME; anything else is a usage error saying the form.
func parseVolumeRef(arg string) (volumeRef, error) {
	pool, name, ok := strings.Cut(arg, "/")
	if !ok || pool == "" || name == "" || strings.Contains(name, "/") {
		return volumeRef{}, errs.New(errs.Usage, "volume %q: want POOL/NAME", output.Escape(arg)).
			WithHint("e.g. default/web01.qcow2; see the volumes with: vmctl volume list POOL")
	}
	return volumeRef{pool, name}, nil
}

// completeVolumes completes POOL/ and then POOL/NAME from the connected host.
func completeVolumes(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
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
		pool, _, ok := strings.Cut(toComplete, "/")
		if !ok {
			names, err := conn.PoolNames(ctx)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
			}
			for i := range names {
				names[i] += "/"
			}
			return names, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		vols, err := conn.Volumes(ctx, pool)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		var out []string
		for _, v := range vols {
			out = append(out, v.Pool+"/"+v.Name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// VolumeColumns is the table view of model.Volume.
var VolumeColumns = []output.Column[model.Volume]{
	{Header: "name", Value: func(v model.Volume) string { return v.Name }},
	{Header: "format", Value: func(v model.Volume) string { return output.Dash(v.Format) }},
	{Header: "capacity", Value: func(v model.Volume) string { return units.Human(v.CapacityBytes) }},
	{Header: "allocation", Value: func(v model.Volume) string { return units.Human(v.AllocationBytes) }},
	{Header: "used-by", Value: func(v model.Volume) string { return output.Dash(strings.Join(v.UsedBy, ",")) }},
	{Header: "pool", Wide: true, Value: func(v model.Volume) string { return v.Pool }},
	{Header: "type", Wide: true, Value: func(v model.Volume) string { return v.Type }},
	{Header: "backing", Wide: true, Value: func(v model.Volume) string { return output.Dash(v.Backing) }},
	{Header: "path", Wide: true, Value: func(v model.Volume) string { return v.Path }},
}

// volumePairs is the key/value view of one volume.
func volumePairs(v model.Volume) [][2]string {
	return [][2]string{
		{"pool", v.Pool}, {"name", v.Name}, {"type", v.Type}, {"format", output.Dash(v.Format)}, {"path", v.Path},
		{"capacity", units.Human(v.CapacityBytes)}, {"allocation", units.Human(v.AllocationBytes)},
		{"backing", output.Dash(v.Backing)}, {"used by", output.Dash(strings.Join(v.UsedBy, ", "))},
	}
}

// fillUsedBy sets each volume's UsedBy from one scan of every domain (failing closed).
func fillUsedBy(ctx context.Context, c *virt.Conn, vols []model.Volume) error {
	users, err := c.DiskUsers(ctx, "")
	if err != nil {
		return err
	}
	for i := range vols {
		vols[i].UsedBy = append([]string{}, c.UsersOf(users, vols[i].Path)...)
	}
	return nil
}
