package isocmd

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/spf13/cobra"
)

// SeedOptions of `isoctl seed`.
type SeedOptions struct {
	F             *cmdutil.Factory
	Out           string
	Hostname      string
	User          string
	SSHKey        string // a public key file
	UserData      string // a user-data file instead of the generated cloud-config
	NetworkConfig string
	Yes           bool // overwrite an existing OUT without asking
}

// NewCmdSeed builds `isoctl seed`.
func NewCmdSeed(f *cmdutil.Factory, runF func(context.Context, *SeedOptions) error) *cobra.Command {
	opts := &SeedOptions{F: f}
	cmd := &cobra.Command{
		Use:   "seed OUT.iso",
		Short: "Write a cloud-init NoCloud seed ISO (mode 0600)",
		Long: `Write a NoCloud seed (label cidata) with the same builder vmctl create uses. An existing
OUT is replaced only after confirmation. ` + cmdutil.ConfirmHelp,
		Example: "  isoctl seed web01-seed.iso --hostname web01 --user ops --ssh-key ~/.ssh/id_ed25519.pub",
		Args:    cmdutil.ExactArgs(1, "the output file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Out = args[0]
			if opts.Hostname == "" {
				return errs.New(errs.Usage, "--hostname is required")
			}
			if !profile.ValidHostname(opts.Hostname) {
				return errs.New(errs.Usage, "--hostname %q: not a valid hostname (letters, digits and '-' in dot-separated labels)", output.Escape(opts.Hostname))
			}
			// A user-data file replaces the generated cloud-config whole: the user and key
			// would be dropped without a word, as a profile giving both is refused.
			if opts.UserData != "" && (opts.User != "" || opts.SSHKey != "") {
				return errs.New(errs.Usage, "give --user-data or --user and --ssh-key, not both: the user-data file replaces the cloud-config they would go into")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSeed(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Hostname, "hostname", "", "guest hostname")
	fl.StringVar(&opts.User, "user", "", "user to create")
	fl.StringVar(&opts.SSHKey, "ssh-key", "", "public key `FILE` for the user")
	fl.StringVar(&opts.UserData, "user-data", "", "user-data `FILE` instead of the generated cloud-config")
	fl.StringVar(&opts.NetworkConfig, "network-config", "", "network-config `FILE`")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	return cmd
}

// maxKeyFile bounds what is read as a public key file: keys are a few kilobytes.
const maxKeyFile = 1 << 20

func runSeed(_ context.Context, o *SeedOptions) error {
	// Said before anything is asked or written: the atomic write would otherwise fail on its
	// hidden temporary file (naming a file the user never gave) or ask to "overwrite" a directory.
	if fi, err := os.Stat(o.Out); err == nil && fi.IsDir() {
		return errs.New(errs.Usage, "seed %s: is a directory; give the file to write", o.Out)
	}
	if fi, err := os.Stat(filepath.Dir(o.Out)); err != nil || !fi.IsDir() {
		return errs.New(errs.Usage, "seed %s: no directory %s", o.Out, filepath.Dir(o.Out))
	}
	c := &profile.Cloud{Hostname: o.Hostname, User: o.User, UserData: o.UserData, NetworkConfig: o.NetworkConfig}
	if o.SSHKey != "" {
		key, err := readKey(o.SSHKey)
		if err != nil {
			return err
		}
		c.SSHKeys = []string{key}
	}
	s, err := seed.FromProfile(&profile.Profile{Name: o.Hostname, CloudInit: c}, "iid-"+o.Hostname+"-"+o.F.Now().UTC().Format("20060102150405"))
	if err != nil {
		return &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
	}
	data, err := s.ISO()
	if err != nil {
		return err
	}
	if _, err := os.Lstat(o.Out); err == nil {
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "overwrite", What: "the existing file", Done: "written", Objects: []string{o.Out}}); err != nil {
			return err
		}
	}
	return fsutil.WriteAtomic(o.Out, data, 0o600)
}

func readKey(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", &errs.Error{Kind: errs.NotFound, Msg: "--ssh-key: " + err.Error(), Err: err}
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxKeyFile+1))
	if err != nil {
		return "", &errs.Error{Kind: errs.Failure, Msg: "--ssh-key: " + err.Error(), Err: err}
	}
	if len(b) > maxKeyFile {
		return "", errs.New(errs.Usage, "--ssh-key: %s is larger than a public key can be", p)
	}
	return strings.TrimSpace(string(b)), nil
}
