package vm

import (
	"context"
	"errors"
	"fmt"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/spf13/cobra"
)

// ProfileValidateOptions of `vm profile validate`.
type ProfileValidateOptions struct {
	F        *cmdutil.Factory
	Profiles []string
}

// NewCmdProfileValidate builds `vm profile validate`.
func NewCmdProfileValidate(f *cmdutil.Factory, runF func(context.Context, *ProfileValidateOptions) error) *cobra.Command {
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileValidate(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileValidate(_ context.Context, o *ProfileValidateOptions) error {
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
