package vm

import (
	"context"
	"fmt"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

func TestNewCmdVolumeVerbs(t *testing.T) {
	runFlagCases(t, "volume list", func(f *cmdutil.Factory, r func(context.Context, *VolumeListOptions) error) *cobra.Command {
		return NewCmdVolumeList(f, r)
	}, func(o *VolumeListOptions) string { return fmt.Sprintf("%s %v", o.Pool, o.Patterns) }, []flagCase{
		{argv: []string{"default"}, want: "default []"},
		{argv: []string{"default", "*.qcow2"}, want: "default [*.qcow2]"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"a/b"}, err: errs.Usage},
	})
	runFlagCases(t, "volume show", func(f *cmdutil.Factory, r func(context.Context, *VolumeShowOptions) error) *cobra.Command {
		return NewCmdVolumeShow(f, r)
	}, func(o *VolumeShowOptions) string { return o.Ref.String() }, []flagCase{
		{argv: []string{"default/a.qcow2"}, want: "default/a.qcow2"},
		{argv: []string{"a.qcow2"}, err: errs.Usage},
		{argv: []string{"default/"}, err: errs.Usage},
		{argv: []string{"/a"}, err: errs.Usage},
		{argv: []string{"p/a/b"}, err: errs.Usage},
	})
	runFlagCases(t, "volume create", func(f *cmdutil.Factory, r func(context.Context, *VolumeCreateOptions) error) *cobra.Command {
		return NewCmdVolumeCreate(f, r)
	}, func(o *VolumeCreateOptions) string { return fmt.Sprintf("%s %d %s", o.Ref, o.Size, o.Format) }, []flagCase{
		{argv: []string{"default/d.qcow2", "--size", "1GiB"}, want: "default/d.qcow2 1073741824 qcow2"},
		{argv: []string{"default/d.raw", "--size", "1MiB", "--format", "raw"}, want: "default/d.raw 1048576 raw"},
		{argv: []string{"default/d.qcow2"}, err: errs.Usage},
		{argv: []string{"default/d.qcow2", "--size", "0"}, err: errs.Usage},
		{argv: []string{"default/d.qcow2", "--size", "lots"}, err: errs.Usage},
		{argv: []string{"default/d.qcow2", "--size", "1GiB", "--format", "vmdk"}, err: errs.Usage},
		{argv: []string{"default/bad name", "--size", "1GiB"}, err: errs.Usage},
	})
	runFlagCases(t, "volume delete", func(f *cmdutil.Factory, r func(context.Context, *VolumeDeleteOptions) error) *cobra.Command {
		return NewCmdVolumeDelete(f, r)
	}, func(o *VolumeDeleteOptions) string { return fmt.Sprintf("%v yes=%v", o.Refs, o.Yes) }, []flagCase{
		{argv: []string{"p/a", "p/b", "-y"}, want: "[p/a p/b] yes=true"},
		{argv: []string{"p/a"}, want: "[p/a] yes=false"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"p/a", "b"}, err: errs.Usage},
	})
	runFlagCases(t, "volume resize", func(f *cmdutil.Factory, r func(context.Context, *VolumeResizeOptions) error) *cobra.Command {
		return NewCmdVolumeResize(f, r)
	}, func(o *VolumeResizeOptions) string { return fmt.Sprintf("%s %d", o.Ref, o.Size) }, []flagCase{
		{argv: []string{"p/a", "2GiB"}, want: "p/a 2147483648"},
		{argv: []string{"p/a"}, err: errs.Usage},
		{argv: []string{"p/a", "big"}, err: errs.Usage},
	})
	runFlagCases(t, "volume upload", func(f *cmdutil.Factory, r func(context.Context, *VolumeUploadOptions) error) *cobra.Command {
		return NewCmdVolumeUpload(f, r)
	}, func(o *VolumeUploadOptions) string { return fmt.Sprintf("%s %s", o.Ref, o.File) }, []flagCase{
		{argv: []string{"p/a.qcow2", "./a.qcow2"}, want: "p/a.qcow2 ./a.qcow2"},
		{argv: []string{"p/a.qcow2"}, err: errs.Usage},
		{argv: []string{"a.qcow2", "f"}, err: errs.Usage},
	})
	runFlagCases(t, "volume download", func(f *cmdutil.Factory, r func(context.Context, *VolumeDownloadOptions) error) *cobra.Command {
		return NewCmdVolumeDownload(f, r)
	}, func(o *VolumeDownloadOptions) string { return fmt.Sprintf("%s %s yes=%v", o.Ref, o.File, o.Yes) }, []flagCase{
		{argv: []string{"p/a.qcow2", "/tmp/a", "--yes"}, want: "p/a.qcow2 /tmp/a yes=true"},
		{argv: []string{"p/a.qcow2"}, err: errs.Usage},
	})
}
