// Package cmdutil holds what every command shares: the Factory of lazy dependencies, the global
// flags, output helpers, argument validation and the bulk-operation runner.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package cmdutil

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/names"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Global holds the flags of one invocation. Connection, quiet, timeout and config are the
// root's persistent flags; the output flags are registered only on commands that print data
// (AddOutputFlags), bound here because one process runs one command.
type Global struct {
	OutputFlags
	Connect    string
	Quiet      bool
	Timeout    time.Duration
	ConfigFile string
	Flags      *pflag.FlagSet // the root's persistent flags, to see what was set
}

// Factory builds dependencies lazily, so constructing the command tree has no side effects
// (gen-docs and completion build it without libvirt or config files).
type Factory struct {
	IO     *iostreams.IOStreams
	Getenv func(string) string
	Now    func() time.Time
	UID    int
	Prog   string // the name the user typed: hvctl, vmctl …
	Global *Global
	// Argv is the command line as typed, program name first (app.Run sets it), for messages
	// that suggest the corrected line (vmctl exec web01 ls -l → … web01 -- ls -l).
	Argv []string

	cfg *config.Loaded
	// hostURI, set by ForHost, is the libvirt this Factory talks to instead of -c's.
	hostURI string
}

// ForHost returns a Factory like f that talks to uri (one host of --host): URI and Connect
// answer for that host, so code written for the one libvirt of -c runs per host unchanged.
func (f *Factory) ForHost(uri string) *Factory {
	c := *f
	c.hostURI = uri
	return &c
}

// New returns the production Factory.
func New(prog string) *Factory {
	return &Factory{
		IO: iostreams.System(), Getenv: os.Getenv, Now: time.Now, UID: os.Getuid(), Prog: prog,
		Global: &Global{},
	}
}

// Config loads the configuration once.
func (f *Factory) Config() (*config.Loaded, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	l, err := config.Load(config.Options{File: f.Global.ConfigFile, Flags: f.Global.Flags, Getenv: f.Getenv, UID: f.UID})
	if err != nil {
		return nil, err
	}
	f.cfg = l
	return l, nil
}

// URI resolves the libvirt URI: flag > HVCTL_URI > LIBVIRT_DEFAULT_URI > config > default. A
// value that is neither a URI nor a [hosts] name is a usage error here, before libvirt sees
// it: libvirt's answer to it differs between root and other users (a missing driver, exit 2,
// against a session daemon it fails to reach, exit 7).
func (f *Factory) URI() (string, error) {
	if f.hostURI != "" {
		return f.hostURI, nil
	}
	l, err := f.Config()
	if err != nil {
		return "", err
	}
	uri := l.Config.URI
	if u, err := url.Parse(uri); err != nil || u.Scheme == "" {
		e := errs.New(errs.Usage, "\"%s\" is neither a libvirt URI (such as qemu:///system) nor a host in the configuration's [hosts] table", output.Escape(uri))
		if len(l.Config.Hosts) == 0 {
			return "", e.WithHint("no hosts are configured; add [hosts.NAME] uri = \"…\" to the configuration, or give a URI")
		}
		return "", e.WithHint("known hosts: %s", strings.Join(slices.Sorted(maps.Keys(l.Config.Hosts)), ", "))
	}
	if err := checkDriver(uri); err != nil {
		return "", err
	}
	return uri, nil
}

// libvirtDrivers and libvirtTransports are the scheme parts libvirt documents
// (https://libvirt.org/uri.html): DRIVER[+TRANSPORT]://…
var (
	libvirtDrivers = []string{"bhyve", "ch", "esx", "gsx", "hyperv", "interface", "libxl", "lxc", "network", "nodedev",
		"nwfilter", "openvz", "qemu", "secret", "storage", "test", "vbox", "vmwarefusion", "vmwareplayer", "vmwarews",
		"vpx", "vz", "xen"}
	libvirtTransports = []string{"ext", "libssh", "libssh2", "ssh", "tcp", "tls", "unix"}
)

// checkDriver refuses a scheme libvirt has no driver or transport for. libvirt itself says so
// only to root ("no connection driver available", exit 2); another user's client hands the URI
// to the session daemon it tries to start and fails otherwise (exit 7).
func checkDriver(uri string) error {
	scheme, _, _ := strings.Cut(uri, ":")
	driver, transport, _ := strings.Cut(scheme, "+") // libvirt matches them case-sensitively
	switch {
	case !slices.Contains(libvirtDrivers, driver):
		return errs.New(errs.Usage, "%s: libvirt has no driver %q", output.Escape(uri), output.Escape(driver)).
			WithHint("drivers: %s (e.g. qemu:///system, qemu+ssh://host/system)", strings.Join(libvirtDrivers, ", "))
	case transport != "" && !slices.Contains(libvirtTransports, transport):
		return errs.New(errs.Usage, "%s: libvirt has no transport %q", output.Escape(uri), output.Escape(transport)).
			WithHint("transports: %s", strings.Join(libvirtTransports, ", "))
	}
	return nil
}

// Connect opens libvirt; readOnly for commands that only look.
func (f *Factory) Connect(ctx context.Context, readOnly bool) (*virt.Conn, error) {
	uri, err := f.URI()
	if err != nil {
		return nil, err
	}
	return virt.Open(ctx, uri, readOnly)
}

// Format validates the output flags of the running command.
func (f *Factory) Format() (output.Format, error) {
	return f.Global.OutputFlags.Format(f.IO)
}

// AddOutputFlags registers the output flags on cmd, a command that prints data.
func (f *Factory) AddOutputFlags(cmd *cobra.Command) { AddOutputFlags(cmd, &f.Global.OutputFlags) }

func usageError(format string, a ...any) error { return errs.New(errs.Usage, format, a...) }

// Warnf writes "PROG: warning: …" on stderr unless -q: something the user should know that
// did not stop the command.
func (f *Factory) Warnf(format string, args ...any) {
	f.Infof("%s: warning: %s", f.Prog, fmt.Sprintf(format, args...))
}

// Infof writes a message for people on stderr unless -q.
func (f *Factory) Infof(format string, args ...any) {
	if f.IO.Quiet || f.Global.Quiet {
		return
	}
	fmt.Fprintf(f.IO.ErrOut, format+"\n", args...)
}

// Annotation keys commands use to tune the root's behaviour.
const (
	// AnnTimeout is a command's default deadline ("none" for interactive commands).
	AnnTimeout = "hvctl/timeout"
	// AnnSlack is added to the deadline of commands whose --timeout bounds a wait inside them,
	// so the work after the wait (destroy, report) still has time.
	AnnSlack = "hvctl/slack"
	// AnnFormats lists the -o formats a command renders itself besides the renderer's
	// (comma-separated, e.g. "sarif,junit"); the root lets them through to the command.
	AnnFormats = "hvctl/formats"
	// AnnTimeoutHelp says what --timeout means by default for a command that bounds its own
	// work ("60s per VM"), for help and man pages.
	AnnTimeoutHelp = "hvctl/timeout-help"
	// AnnEmptyOK, a flag annotation (cmd.Flags().SetAnnotation), marks a string flag whose
	// empty value means what leaving it out means (an empty description); every other flag
	// given an empty value is a usage error.
	AnnEmptyOK = "hvctl/empty-ok"
)

// TimeoutDefault is what --timeout is for cmd when not given, as help and man pages show it.
func TimeoutDefault(cmd *cobra.Command) string {
	if h, ok := cmd.Annotations[AnnTimeoutHelp]; ok {
		return h
	}
	switch v := cmd.Annotations[AnnTimeout]; v {
	case "":
		return DefaultTimeout.String()
	case "none":
		return "none"
	default:
		return v
	}
}

// ShortDuration is d as people write it: 1m rather than 1m0s, 2h rather than 2h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ShowTimeoutDefault makes the root's --timeout flag show cmd's own default in help and man
// pages (it is one persistent flag; its zero value means "the command's default").
func ShowTimeoutDefault(cmd *cobra.Command) {
	if fl := cmd.Root().PersistentFlags().Lookup("timeout"); fl != nil {
		fl.DefValue = TimeoutDefault(cmd)
	}
}

// DefaultTimeout is the deadline of commands that do not set their own.
const DefaultTimeout = 30 * time.Second

// EffectiveTimeout is --timeout if given, else the command's default.
func (f *Factory) EffectiveTimeout(cmd *cobra.Command) (time.Duration, bool) {
	// Commands that bound their own work (bulk verbs, console) get no overall deadline here.
	if cmd.Annotations[AnnTimeout] == "none" {
		return 0, false
	}
	if f.Global.Flags != nil {
		if fl := f.Global.Flags.Lookup("timeout"); fl != nil && fl.Changed {
			return f.Global.Timeout, true
		}
	}
	// With --host each host has its own deadline (--host-timeout) and --host-parallel queues
	// the rest: a default deadline for the whole command, no longer than one host's, would
	// cut off the queued hosts, and pass just before a hung host's own, taking the answers of
	// the others with it.
	if fl := cmd.Flags().Lookup("host"); fl != nil && fl.Changed && cmd.Flags().Lookup("host-timeout") != nil {
		return 0, false
	}
	if v, ok := cmd.Annotations[AnnTimeout]; ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d, true
		}
	}
	return DefaultTimeout, true
}

// ValidateName rejects a name hvctl is about to create (a VM, network, image, snapshot) unless
// it follows hvctl's strict rule, before libvirt sees it.
func ValidateName(kind, name string) error {
	if !names.Valid(name) {
		return errs.New(errs.Usage, "invalid %s name %q", kind, output.Escape(name)).
			WithHint("names are 1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	return nil
}

// ValidateLookupName checks a name that looks up something existing. Whatever libvirt accepted
// is fine ("My Windows VM (old)", "db:primary+replica"); only what libvirt itself refuses in a
// name, nothing at all or a '/', is a usage error here.
func ValidateLookupName(kind, name string) error {
	switch {
	case name == "":
		return errs.New(errs.Usage, "invalid %s name: empty", kind)
	case strings.ContainsRune(name, '/'):
		return errs.New(errs.Usage, "invalid %s name \"%s\": libvirt names cannot contain '/'", kind, output.Escape(name))
	}
	return nil
}
