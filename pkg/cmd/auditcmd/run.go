package auditcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/auditreport"
	"github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// Report formats besides the renderer's: `-o sarif`, `-o junit`.
const (
	FormatSARIF = "sarif"
	FormatJUnit = "junit"
)

// ReportFormats are what --report FORMAT=FILE writes.
var ReportFormats = []string{"json", FormatSARIF, FormatJUnit}

// RunOptions of `audit run`.
type RunOptions struct {
	F *cmdutil.Factory

	Only            []string // control IDs or groups (--only, and --group for groups)
	Skip            []string // control IDs or groups
	VMs             []string // globs over VM names
	FailOn          string
	All             bool
	Root            string
	Waivers         string // waivers file; "" takes the config's audit.waivers
	RequireComplete bool
	Reports         map[string]string // format → file, from --report, symbolic links resolved
	Hosts           cmdutil.HostFlags
	Cmd             *cobra.Command // for how a failing host is reported (--json)

	// Set by the flag checks.
	Controls []audit.Control // the controls selected, catalogue order
	Output   string          // sarif or junit; "" for the renderer's formats
	Format   output.Format
}

// NewCmdRun builds `audit run`.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{F: f, FailOn: "low", Root: "/"}
	var groups, reports []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the audit; exit 9 when an unwaived control fails at or above --fail-on",
		Long: `Run the controls (all, or those --only and --skip select) and print what failed, what a
waiver accepts and what could not be evaluated, worst first; --all prints the passes and
skips too. Failing rows say where (a config file and line, a VM's device, a process) and
-o wide adds how to fix it; 'audit explain ID' says more.

Waivers (--waivers FILE, or the config's audit.waivers) accept a control's failures on
matching targets until a date: the result stays visible as waived and does not fail the
run; an expired waiver lets its finding count again; waivers that accept nothing are
reported. --vm limits the VMs looked at (globs); host-wide controls still run.

Formats: the table, --json (an envelope: host, time, versions, totals, skipped summary,
unused and expired waivers, findings), -o sarif (SARIF 2.1.0 for code-scanning and
vulnerability tools), -o junit (one testcase per control and target). --report
FORMAT=FILE also writes json, sarif or junit to a file (atomically), for timers.

Exit status: 9 when an unwaived control failed at or above --fail-on (default low: every
real finding; info findings only with --fail-on info); else 6 when the audit is incomplete: a
result could not be evaluated, or, with --require-complete, controls were skipped on a
host that is not this machine; else 0. Bad flags and waiver files are 2.

Run it as root on the host itself: the QEMU processes, /etc/libvirt and the image files
are root's, and graphics passwords are only in the definitions a read-write connection
reads. Against a remote host (or libvirt's test driver, which is not this machine's libvirt
either) only the libvirt-side controls run; the ones that read the host's files or processes
are reported as not applicable there (skipped, never a pass) and summarised on stderr.

With --host several configured hosts are audited at once, each through its own libvirt (a
host whose URI is this machine's own also gets its files read): the table gains a leading
HOST column, --json is a list of reports (one per host, "host" being its name), -o sarif
has one run per host and -o junit one suite per host and group. The exit status is the
worst over the hosts; a host that does not answer is reported and the rest are still
audited (exit 6 when nothing worse; --strict fails).`,
		Example: `  auditctl run
  auditctl run --only vm,network --skip VM-030 --fail-on high
  auditctl run --vm 'web-*' --waivers /etc/hvctl/audit-waivers.toml
  auditctl run -o sarif > audit.sarif
  auditctl run --json --jq '.findings[] | select(.status == "fail") | .id'
  auditctl run -q --fail-on high --report sarif=/var/lib/hvctl/audit.sarif --report json=/var/lib/hvctl/audit.json
  auditctl run --host all --only vm,network`,
		Args:        cmdutil.NoArgs,
		Annotations: map[string]string{cmdutil.AnnFormats: FormatSARIF + "," + FormatJUnit},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Cmd = cmd
			if opts.Hosts.Enabled() && opts.Root != "/" {
				return errs.New(errs.Usage, "--root is one host's file system: it cannot go with --host")
			}
			var err error
			if opts.Controls, err = auditreport.Select(audit.All(), append(slices.Clone(opts.Only), groups...), opts.Skip); err != nil {
				return err
			}
			if err := auditreport.ValidPatterns("--vm", opts.VMs); err != nil {
				return err
			}
			if opts.Reports, err = parseReports(reports); err != nil {
				return err
			}
			if opts.Output, opts.Format, err = runFormat(f); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	ids := controlIDs(audit.All())
	choices := append(slices.Clone(audit.Groups), ids...)
	fl.StringSliceVar(&opts.Only, "only", nil, "run only these control `IDS|GROUPS` (comma-separated or repeated)")
	fl.StringSliceVar(&opts.Skip, "skip", nil, "do not run these control `IDS|GROUPS`")
	cmdutil.StringSliceEnumFlag(cmd, &groups, "group", "", nil, audit.Groups, "only these groups (as --only)")
	fl.StringSliceVar(&opts.VMs, "vm", nil, "audit only the VMs whose names match these `GLOBS`")
	cmdutil.StringEnumFlag(cmd, &opts.FailOn, "fail-on", "", opts.FailOn, audit.Severities, "exit 9 for unwaived failures of this severity or worse")
	fl.BoolVar(&opts.All, "all", false, "print passed and skipped controls too")
	fl.StringVar(&opts.Waivers, "waivers", "", "waivers `FILE` (TOML [[waiver]] tables; default: the config's audit.waivers)")
	fl.BoolVar(&opts.RequireComplete, "require-complete", false, "exit 6 when controls were skipped without being evaluated (remote host)")
	fl.StringArrayVar(&reports, "report", nil, "also write the report as `FORMAT=FILE` (json, sarif, junit); repeatable")
	fl.StringVar(&opts.Root, "root", opts.Root, "host file system root (for auditing a mounted copy, and tests)")
	_ = fl.MarkHidden("root")
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	_ = cmd.RegisterFlagCompletionFunc("only", cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("skip", cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
	f.AddOutputFlags(cmd) // with sarif and junit, from AnnFormats
	return cmd
}

// runFormat reads the output flags: -o sarif and -o junit are this command's own, the rest
// is the renderer's.
func runFormat(f *cmdutil.Factory) (string, output.Format, error) {
	g := f.Global
	switch g.Output {
	case FormatSARIF, FormatJUnit:
		if g.JSON || g.JQ != "" {
			return "", output.Format{}, errs.New(errs.Usage, "-o %s and --json/--jq contradict each other", g.Output)
		}
		return g.Output, output.Format{}, nil
	}
	format, err := f.Format()
	if err != nil && g.Output != "" && !slices.Contains(output.Kinds, g.Output) {
		return "", format, errs.New(errs.Usage, "-o/--output %q: want one of %s", g.Output,
			strings.Join(append(slices.Clone(output.Kinds), FormatSARIF, FormatJUnit), ", "))
	}
	return "", format, err
}

func parseReports(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		format, file, ok := strings.Cut(s, "=")
		switch {
		case !ok || file == "":
			return nil, errs.New(errs.Usage, "--report %q: want FORMAT=FILE, e.g. sarif=/var/lib/hvctl/audit.sarif", s)
		case !slices.Contains(ReportFormats, format):
			return nil, errs.New(errs.Usage, "--report %q: format %q is not one of %s", s, format, strings.Join(ReportFormats, ", "))
		}
		if _, dup := out[format]; dup {
			return nil, errs.New(errs.Usage, "--report %s= given twice", format)
		}
		target, err := reportTarget(file)
		if err != nil {
			return nil, errs.New(errs.Usage, "--report %s: %v", s, err)
		}
		for other, f := range out {
			if f == target {
				return nil, errs.New(errs.Usage, "--report %s: %s= writes to that file already", s, other)
			}
		}
		out[format] = target
	}
	return out, nil
}

// reportTarget says where a report for file goes, before anything runs: a report replaces a
// regular file atomically, so it follows a symbolic link to its target (rather than replace
// the link) and writes straight into a device or pipe such as /dev/stdout (rather than
// rename a file over it); a directory, or a file in a directory that does not exist, is
// refused.
func reportTarget(file string) (string, error) {
	target, err := filepath.EvalSymlinks(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if st, err := os.Stat(file); err == nil {
			// Only the kernel can follow it: /dev/stdout is /proc/self/fd/1, a link to "pipe:[…]".
			if st.IsDir() {
				return "", fmt.Errorf("%s is a directory", file)
			}
			return file, nil
		}
		if _, lerr := os.Lstat(file); lerr == nil {
			return "", fmt.Errorf("%s is a symbolic link to nothing", file)
		}
		dir := filepath.Dir(file)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("no directory %s", dir)
		}
		return file, nil
	case err != nil:
		return "", unwrapPath(err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return "", unwrapPath(err)
	}
	if st.IsDir() {
		return "", fmt.Errorf("%s is a directory", target)
	}
	return target, nil
}

// writeReportFile writes a finished report: atomically over a regular file (or none), in
// place (as tee does) into a device, a pipe or what a /proc/self/fd link leads to.
func writeReportFile(file string, data []byte) error {
	if st, err := os.Lstat(file); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return fsutil.WriteAtomic(file, data, 0o640)
}

func controlIDs(cs []audit.Control) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func runRun(ctx context.Context, o *RunOptions) error {
	f := o.F
	waivers, err := loadWaivers(o)
	if err != nil {
		return err
	}
	if o.Hosts.Enabled() {
		return runRunHosts(ctx, o, waivers)
	}
	a, err := auditOne(ctx, f, o, waivers)
	if err != nil {
		return err
	}
	if len(o.VMs) > 0 && a.vms == 0 {
		return errs.New(errs.NotFound, "no VM matches --vm %s", strings.Join(o.VMs, ","))
	}
	if err := writeReports(o, func(w io.Writer, kind string, format output.Format) error { return writeReport(w, kind, format, a.run) }); err != nil {
		return err
	}
	tellWaivers(f, a.run.Report)
	if !a.local || o.RequireComplete {
		tellSkipped(f, "", a.run.Report.Skipped)
	}
	return exitStatus(a.run, o)
}

// audited is one host's audit.
type audited struct {
	run   *auditreport.Run
	local bool // the host's own files were read
	vms   int  // VMs that --vm selected (all when it was not given)
}

// auditOne audits the libvirt f talks to: its inventory through libvirt, its files when it is
// this machine, the selected controls, the waivers.
func auditOne(ctx context.Context, f *cmdutil.Factory, o *RunOptions, waivers []auditreport.Waiver) (audited, error) {
	uri, err := f.URI()
	if err != nil {
		return audited{}, err
	}
	// Read-write for the secure XML (graphics passwords); read-only when that is all we get.
	secure := true
	conn, err := f.Connect(ctx, false)
	if err != nil {
		if k := errs.KindOf(err); k == errs.Unreachable || k == errs.Timeout {
			return audited{}, err
		}
		secure = false
		if conn, err = f.Connect(ctx, true); err != nil {
			return audited{}, err
		}
	}
	defer conn.Close()
	data, err := conn.Inventory(ctx, secure)
	if err != nil {
		return audited{}, errs.Wrap(err, "audit")
	}
	inv := &audit.Inventory{Root: o.Root, Networks: data.Networks, Pools: data.Pools, Caps: data.Caps, Filters: data.Filters,
		Secrets: data.Secrets, Versions: data.Versions, NetworkActive: data.NetworkActive,
		NetworksErr: data.NetworksErr, PoolsErr: data.PoolsErr, FiltersErr: data.FiltersErr, SecretsErr: data.SecretsErr,
		Local: o.Root != "/" || !virt.IsRemote(uri) && !strings.HasPrefix(uri, "test:")}
	if !inv.Local && !virt.IsRemote(uri) {
		// test:/// runs in this process: not remote, and not this machine's libvirt either.
		inv.Elsewhere = uri + ", libvirt's test driver, not this machine"
	}
	for _, d := range data.Domains {
		if auditreport.MatchAny(o.VMs, d.Name) {
			inv.Domains = append(inv.Domains, audit.Domain{Name: d.Name, UUID: d.UUID, Def: d.Def, Live: d.Live, Autostart: d.Autostart, Secure: d.Secure, Err: d.Err})
		}
	}
	if len(o.VMs) > 0 && len(inv.Domains) == 0 {
		return audited{local: inv.Local}, nil // nothing asked for is here: the caller says so
	}
	if inv.Local {
		inv.LoadHost(ctx)
	}

	ran := controlIDs(o.Controls)
	var results []model.Finding
	for _, x := range audit.Run(inv, o.Controls, nil) {
		// Run adds VM-032 from the other VM results whenever VM controls run; keep it only when chosen.
		if slices.Contains(ran, x.ID) {
			results = append(results, x)
		}
	}
	outcome := auditreport.ApplyWaivers(results, waivers, auditreport.Scope{Controls: ran, SomeVMs: len(o.VMs) > 0}, f.Now())

	meta := auditreport.Meta{Host: hostOf(uri), URI: uri, Time: f.Now(), HvctlVersion: versioncmd.Version,
		LibvirtLibrary: virt.LibraryVersion(), FailOn: o.FailOn, Local: inv.Local, All: o.All}
	if h, err := conn.Host(ctx); err == nil {
		meta.LibvirtDaemon = h.Daemon
		meta.Hypervisor = strings.TrimSpace(h.Driver + " " + h.Hypervisor)
	}
	return audited{run: auditreport.Build(meta, o.Controls, outcome), local: inv.Local, vms: len(inv.Domains)}, nil
}

// writeReports writes the --report files (atomically), then the output itself; write renders
// the audit in one format.
func writeReports(o *RunOptions, write func(w io.Writer, kind string, format output.Format) error) error {
	for format, file := range o.Reports {
		var buf bytes.Buffer
		if err := write(&buf, format, output.Format{Kind: output.JSON}); err != nil {
			return err
		}
		if err := writeReportFile(file, buf.Bytes()); err != nil {
			return errs.New(errs.Failure, "--report %s=%s: %v", format, file, unwrapPath(err))
		}
	}
	return write(o.F.IO.Out, o.Output, o.Format)
}

// exitStatus: unwaived failures at or above --fail-on (9), else an incomplete audit (6).
func exitStatus(run *auditreport.Run, o *RunOptions) error {
	t := run.Report.Totals
	switch {
	case t.Failing > 0:
		e := errs.New(errs.Findings, "%d finding(s) at or above %s", t.Failing, o.FailOn)
		if t.ByStatus.Waived > 0 {
			e.WithHint("%d more accepted by waivers", t.ByStatus.Waived)
		}
		return e
	case t.ByStatus.Error > 0:
		return errs.New(errs.Partial, "audit incomplete: %d control result(s) could not be evaluated", t.ByStatus.Error).
			WithHint("run it as root on the host itself")
	case run.Incomplete(o.RequireComplete):
		return errs.New(errs.Partial, "audit incomplete: %d control result(s) skipped on a host that is not this machine (--require-complete)", t.ByStatus.Skipped).
			WithHint("run the audit on the host itself for the host's files and processes")
	}
	return nil
}

// writeReport renders the run in one format: the renderer's (table, wide, name, json with
// --jq) or SARIF or JUnit.
func writeReport(w io.Writer, kind string, format output.Format, run *auditreport.Run) error {
	switch kind {
	case FormatSARIF:
		data, err := json.MarshalIndent(auditreport.SARIF(run), "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(data, '\n'))
		return err
	case FormatJUnit:
		return auditreport.WriteJUnit(w, auditreport.JUnit(run))
	case "json":
		return output.WriteJSON(w, format, run.Report)
	}
	if format.IsJSON() {
		return output.WriteJSON(w, format, run.Report)
	}
	return output.List(w, format, run.Report.Findings, FindingColumns, func(x model.Finding) string { return x.ID + " " + x.Target })
}

// tellWaivers warns about waivers that expired (their findings count again) and waivers that
// accepted nothing (the condition is gone, or the target glob is wrong).
func tellWaivers(f *cmdutil.Factory, r model.AuditReport) {
	for _, w := range r.ExpiredWaivers {
		f.Infof("%s:%d: waiver for %s %s expired on %s: its findings count again", w.File, w.Line, w.Control, w.Target, w.Expires)
	}
	for _, w := range r.UnusedWaivers {
		f.Infof("%s:%d: waiver for %s %s accepted no failing result: remove it, or fix its target", w.File, w.Line, w.Control, w.Target)
	}
}

// tellSkipped summarises the skipped controls on stderr, one line per reason (of host, when
// several were audited).
func tellSkipped(f *cmdutil.Factory, host string, skipped []model.AuditSkip) {
	if len(skipped) == 0 {
		return
	}
	var reasons []string
	ids := map[string][]string{}
	for _, s := range skipped {
		if _, seen := ids[s.Reason]; !seen {
			reasons = append(reasons, s.Reason)
		}
		ids[s.Reason] = append(ids[s.Reason], s.ID)
	}
	if host != "" {
		f.Infof("host %s: %d control result(s) skipped:", host, len(skipped))
	} else {
		f.Infof("%d control result(s) skipped:", len(skipped))
	}
	for _, r := range reasons {
		slices.Sort(ids[r])
		f.Infof("  %s: %s", r, strings.Join(slices.Compact(ids[r]), ", "))
	}
}

// loadWaivers reads --waivers, or the config's audit.waivers; none is no waivers. A relative
// audit.waivers in a config file is relative to that file's directory (a timer runs in /),
// and a file that cannot be read names the setting it came from.
func loadWaivers(o *RunOptions) ([]auditreport.Waiver, error) {
	file, from := o.Waivers, ""
	if file == "" {
		l, err := o.F.Config()
		if err != nil {
			return nil, err
		}
		file = l.Config.Audit.Waivers
		for _, s := range l.Settings {
			if s.Key == "audit.waivers" && file != "" {
				from = fmt.Sprintf(" (audit.waivers in %s)", s.Source)
				if !filepath.IsAbs(file) && slices.Contains(l.Files, s.Source) {
					file = filepath.Join(filepath.Dir(s.Source), file)
				}
			}
		}
	}
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errs.New(errs.Usage, "waivers %s%s: no such file", file, from)
		}
		return nil, errs.New(errs.Usage, "waivers %s%s: %v", file, from, unwrapPath(err))
	}
	return auditreport.ParseWaivers(file, data, controlIDs(audit.All()))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// hostOf names the audited host: the URI's host for a remote libvirt, else this machine.
func hostOf(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	h, _ := os.Hostname()
	return h
}
