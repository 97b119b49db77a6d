package vm

import (
	"context"
	"os"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/spf13/cobra"
)

// ProfileImportOptions of `vm profile import`.
type ProfileImportOptions struct {
	F     *cmdutil.Factory
	File  string // the old JSON profile
	To    string // the TOML file to write; "" for stdout
	Force bool   // replace an existing To
}

// NewCmdProfileImport builds `vm profile import`.
func NewCmdProfileImport(f *cmdutil.Factory, runF func(context.Context, *ProfileImportOptions) error) *cobra.Command {
	opts := &ProfileImportOptions{F: f}
	cmd := &cobra.Command{
		Use:         "import OLD.json",
		Annotations: cmdutil.Journaled("profile:0", nil),
		Short:       "Convert a Hyper-NixOS JSON profile to a TOML profile",
		Long: `Convert a JSON VM profile of the old Hyper-NixOS scripts (the schema'd form, the
"intelligent"/"usecase" templates with AUTO_DETECT values, or the rust-lib resources form) to
TOML. Values are read as the old jq-based scripts read them ("true", "4" and "4096" as well as
true, 4 and 4096; nested keys where they sit). What changed on the way, what needs a person's
eye and every key not carried over head the result as comments. The result goes to stdout, or
to --to FILE; it is then checked like 'profile validate'.`,
		Example: "  vmctl profile import vm-profiles/example_vm_ubuntu.json --to /etc/hvctl/profiles/ubuntu-vm.toml",
		Args:    cmdutil.ExactArgs(1, "one JSON profile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if opts.Force && opts.To == "" {
				return errs.New(errs.Usage, "--force goes with --to")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileImport(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "write the TOML profile to `FILE` instead of stdout")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "replace an existing --to file")
	return cmd
}

func runProfileImport(_ context.Context, o *ProfileImportOptions) error {
	f := o.F
	data, err := os.ReadFile(o.File)
	if err != nil {
		return errs.New(errs.NotFound, "import: %v", err)
	}
	out, _, err := profile.Import(data)
	if err != nil {
		return errs.New(errs.Usage, "import %s: %v", o.File, err)
	}
	target := o.To
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
		if _, err := os.Stat(target); err == nil && !o.Force {
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
}
