package vm

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// ProfileListOptions of `vm profile list`.
type ProfileListOptions struct{ F *cmdutil.Factory }

// NewCmdProfileList builds `vm profile list`.
func NewCmdProfileList(f *cmdutil.Factory, runF func(context.Context, *ProfileListOptions) error) *cobra.Command {
	opts := &ProfileListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the profiles in the profiles directory",
		Example: "  vmctl profile list\n  vmctl profile list -o name | xargs vmctl diff --exit-code",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileList(_ context.Context, o *ProfileListOptions) error {
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
