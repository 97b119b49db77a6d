// Package versioncmd implements `hvctl version`.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package versioncmd

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// Set at build time with -ldflags "-X github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd.Version=…".
var (
	Version = "dev"
	Commit  = ""
)

// Options of `version`.
type Options struct {
	F      *cmdutil.Factory
	Client bool
}

// NewCmdVersion builds `version`.
func NewCmdVersion(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hvctl's version, the libvirt library's, and the daemon's and hypervisor's",
		Long: `Print hvctl's version and commit, the version of the libvirt library it runs with and, when
the connection works, the driver and the versions of the daemon and the hypervisor.
A connection that fails is reported in the output, not as an error; --client skips it.`,
		Example:     "  hvctl version\n  hvctl version --client --jq .version",
		Args:        cmdutil.NoArgs,
		Annotations: map[string]string{cmdutil.AnnTimeout: "10s"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Client, "client", false, "only the client side: do not connect to libvirt")
	f.AddOutputFlags(cmd)
	return cmd
}

func run(ctx context.Context, o *Options) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	v := model.Version{Version: Version, Commit: Commit, GoVersion: runtime.Version(), LibvirtLibrary: virt.LibraryVersion()}
	if v.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					v.Commit = s.Value
				}
			}
		}
	}
	if !o.Client {
		if v.URI, err = o.F.URI(); err != nil {
			return err
		}
		if conn, err := virt.Open(ctx, v.URI, true); err != nil {
			v.ConnectError = err.Error()
		} else {
			defer conn.Close()
			if h, err := conn.Host(ctx); err != nil {
				v.ConnectError = err.Error()
			} else {
				v.Driver, v.DaemonVersion, v.HypervisorVersion = h.Driver, h.Daemon, h.Hypervisor
			}
		}
	}
	pairs := [][2]string{{"version", v.Version}, {"commit", orDash(v.Commit)}, {"go", v.GoVersion}, {"libvirt library", v.LibvirtLibrary}}
	if !o.Client {
		pairs = append(pairs, [2]string{"uri", v.URI})
		if v.ConnectError != "" {
			pairs = append(pairs, [2]string{"connection", v.ConnectError})
		} else {
			pairs = append(pairs, [2]string{"driver", v.Driver}, [2]string{"daemon", orDash(v.DaemonVersion)}, [2]string{"hypervisor", orDash(v.HypervisorVersion)})
		}
	}
	return output.Object(o.F.IO.Out, format, v, pairs)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// String is the one-line version for --version: the version and, when known, the commit.
func String() string {
	c := Commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		return Version
	}
	return Version + " (" + c + ")"
}
