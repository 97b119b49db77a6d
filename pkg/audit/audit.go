// Package audit is auditctl's engine: the 102 controls of the project's catalogue
// (../shared/reference/audit-catalogue.md, by the same IDs) evaluated against an inventory of
// one host: its files under Root, the configuration files its daemons read (parsed as libvirt's
// virConf parses them), and what libvirt says of its domains, networks, pools, filters and
// secrets. The checks judge the inventory and run nothing; LoadHost and ReadFirewall gather
// the host-side parts of it.
//
// Files: host.go, daemon.go, vm.go, network.go and storage.go hold the controls of each group;
// conf.go the configuration parser, proc.go /proc and the firewall ruleset.
package audit

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// Severity is a control's or a result's level, as the catalogue's rubric defines it.
type Severity string

// Severities of the rubric.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities in rising order.
var Severities = []string{string(Info), string(Low), string(Medium), string(High), string(Critical)}

// Rank orders severities; an unknown one is -1.
func Rank(s string) int { return slices.Index(Severities, s) }

// Status is a result's verdict.
type Status string

// The verdicts: error means the control could not tell (never read as a pass), skipped that
// it does not apply (no VMs, a remote host's files).
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Error   Status = "error"
	Skipped Status = "skipped"
)

// Groups of controls, as the catalogue has them.
var Groups = []string{"host", "daemon", "vm", "network", "storage"}

// Domain is what the audit knows of one VM.
type Domain struct {
	Name      string
	UUID      string
	Def       *libvirtxml.Domain // persistent definition, with secrets when the connection allowed
	Live      *libvirtxml.Domain // running definition; nil when not running
	Autostart bool
	Secure    bool  // Def was read with VIR_DOMAIN_XML_SECURE: graphics passwords are visible
	Err       error // why Def could not be read: every VM control reports an error for this VM
}

// Inventory is everything the controls look at. Check functions read it and the files under
// Root; they call no API and run nothing.
type Inventory struct {
	Root  string // host file system root: "/" on the host itself, a fixture tree in tests
	Local bool   // the libvirt host is this machine: host files can be read
	// Elsewhere names a host that is not Local in skip reasons ("test:///default, not this
	// machine's libvirt"); empty is "a remote host", which only a URI naming another machine is.
	Elsewhere string
	Domains   []Domain
	Networks  []*libvirtxml.Network
	// NetworkActive says which networks run; a network missing from it counts as active.
	NetworkActive map[string]bool
	Pools         []*libvirtxml.StoragePool
	Caps          *libvirtxml.Caps                // host capabilities: the security models libvirt runs
	Filters       map[string]*libvirtxml.NWFilter // network filters; nil without the nwfilter driver
	Secrets       []*libvirtxml.Secret            // nil when libvirt would not list them
	Versions      string                          // libvirt and hypervisor versions, for the record

	// Errors of the libvirt APIs that gathered the inventory: the controls that need the
	// missing part report an error instead of judging less than there is.
	DomainsErr, NetworksErr, PoolsErr, FiltersErr, SecretsErr error

	// The configuration files libvirt reads on this host (LoadHost fills them).
	QEMUConf   *Conf // qemu.conf
	RemoteConf *Conf // the daemon that listens on TCP/TLS: libvirtd.conf or virtproxyd.conf
	DriverConf *Conf // the daemon that runs the QEMU driver: libvirtd.conf or virtqemud.conf

	// Firewall is the host's packet filter state (LoadHost reads it on the live host).
	Firewall *Firewall

	// The sockets in LISTEN state, read once for all the controls that ask.
	listenOnce sync.Once
	listen     []listener
	listenErr  error
}

// Path is p under the inventory's root.
func (inv *Inventory) Path(p string) string { return filepath.Join(inv.Root, p) }

// Read reads a host file under the root.
func (inv *Inventory) Read(p string) (string, error) {
	b, err := os.ReadFile(inv.Path(p))
	return strings.TrimSpace(string(b)), err
}

// Control is one check of the catalogue.
type Control struct {
	ID       string
	Group    string
	Severity Severity // the catalogue's; a result may say otherwise (raised or lowered)
	Title    string
	// Description says what the control looks for and why it matters (audit explain, SARIF help).
	Description string
	// HowChecked says what is read to decide (files, libvirt APIs, /proc).
	HowChecked string
	// Remediation is the generic fix; a Result may carry a more precise one.
	Remediation string
	Check       func(inv *Inventory) []Result
}

// Result is what a control found for one target.
type Result struct {
	Target   string   // host, a VM's name, a network, a path
	Status   Status   // pass, fail, error, skipped
	Severity Severity // when it differs from the control's
	Detail   string   // what was found: never empty, for a pass too
	// Remediation, when set, replaces the control's generic one for this result.
	Remediation string
	Location    *model.FindingLocation
}

func pass(target, detail string, args ...any) Result {
	return Result{Target: target, Status: Pass, Detail: fmt.Sprintf(detail, args...)}
}
func fail(target, detail string, args ...any) Result {
	return Result{Target: target, Status: Fail, Detail: fmt.Sprintf(detail, args...)}
}

// notHere begins the reason of a control skipped on a libvirt host that is not this machine: it
// reads the host's own files or processes, which hvctl cannot reach through libvirt. It is not
// judged there (never a pass), and --require-complete counts it as missing.
func notHere(inv *Inventory) string { return "not applicable on " + inv.elsewhere() }

// elsewhere names the host that is not this machine: Elsewhere, or a remote host.
func (inv *Inventory) elsewhere() string {
	if inv.Elsewhere != "" {
		return inv.Elsewhere
	}
	return "a remote host"
}

func skipped(target, why string) Result {
	return Result{Target: target, Status: Skipped, Detail: why}
}
func errored(target string, err error) Result {
	return Result{Target: target, Status: Error, Detail: err.Error()}
}

// at sets where the result's condition is.
func (r Result) at(l *model.FindingLocation) Result { r.Location = l; return r }

// sev sets the result's severity.
func (r Result) sev(s Severity) Result { r.Severity = s; return r }

// fix sets the result's own remediation.
func (r Result) fix(format string, args ...any) Result {
	r.Remediation = fmt.Sprintf(format, args...)
	return r
}

// All is the catalogue's controls that hvctl implements, in catalogue order.
func All() []Control {
	out := slices.Concat(hostControls, daemonControls, vmControls, []Control{vm032}, networkControls, storageControls)
	slices.SortStableFunc(out, func(a, b Control) int {
		return cmp.Or(cmp.Compare(slices.Index(Groups, a.Group), slices.Index(Groups, b.Group)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// vm032 has no check of its own: Run derives it from the other VM results.
var vm032 = Control{ID: "VM-032", Group: "vm", Severity: High, Title: "Autostart of a risky VM",
	Description: "A VM that starts with the host and fails VM-002, VM-003, VM-006, VM-007 or VM-011 brings its exposure back after every reboot, unattended.",
	HowChecked:  "virDomainGetAutostart() of each VM, and the results of the risky VM controls; the worst of them is raised by one level, capped at critical.",
	Remediation: "Fix the VM's risky findings, or turn autostart off until they are fixed: hvctl vm autostart NAME --off (virsh autostart --disable NAME).",
}

// autostartRisk raises the worst risky failure of each autostarted VM by one level (capped at
// critical): the exposure comes back after every reboot.
func autostartRisk(inv *Inventory, found []model.Finding) []model.Finding {
	var out []model.Finding
	for _, d := range inv.Domains {
		if !d.Autostart {
			continue
		}
		f := model.Finding{ID: vm032.ID, Group: "vm", Severity: string(vm032.Severity), Status: string(Pass), Target: d.Name, Title: vm032.Title,
			References: References(vm032.ID), Detail: "starts with the host, with no risky finding (VM-002/003/006/007/011)"}
		worst, ids := -1, []string{}
		for _, x := range found {
			if x.Target == d.Name && x.Status == string(Fail) && risky[x.ID] {
				worst = max(worst, Rank(x.Severity))
				ids = append(ids, x.ID)
			}
		}
		if worst >= 0 {
			f.Status, f.Severity = string(Fail), Severities[min(worst+1, len(Severities)-1)]
			f.Detail = "starts with the host while failing " + strings.Join(ids, ", ")
			f.Remediation = vm032.Remediation
			f.Location = &model.FindingLocation{VM: d.Name}
		}
		out = append(out, f)
	}
	return out
}

// srg maps controls to the DISA Virtual Machine Manager SRG requirements they serve, as the
// catalogue proposes: shared resources, separate execution domains, crypto for remote
// sessions, control of remote access, auditing.
var srg = map[string][]string{
	"STOR-002": {"V-207403"}, "STOR-004": {"V-207403"}, "VM-020": {"V-207403"},
	"HOST-012": {"V-207497"}, "HOST-013": {"V-207497"}, "VM-002": {"V-207497"}, "VM-005": {"V-207497"},
	"DAEMON-002": {"V-207418", "V-207501"}, "DAEMON-004": {"V-207418", "V-207501"}, "DAEMON-019": {"V-207418", "V-207501"},
	"VM-007": {"V-207418", "V-207501"}, "VM-008": {"V-207418", "V-207501"}, "VM-011": {"V-207418", "V-207501"},
	"HOST-024": {"V-207350", "V-207435"},
	"HOST-023": {"V-207359", "V-207512"}, "DAEMON-020": {"V-207359", "V-207512"},
}

// References are the SRG requirements a control serves; never nil.
func References(id string) []string {
	if r, ok := srg[id]; ok {
		return r
	}
	return []string{}
}

// Run evaluates the controls of the chosen groups (all when none) and returns one finding per
// result: failures first, then by severity (worst first), ID and target.
func Run(inv *Inventory, controls []Control, groups []string) []model.Finding {
	var out []model.Finding
	for _, c := range controls {
		if len(groups) > 0 && !slices.Contains(groups, c.Group) || c.Check == nil {
			continue
		}
		for _, r := range c.Check(inv) {
			f := model.Finding{ID: c.ID, Group: c.Group, Severity: string(cmp.Or(r.Severity, c.Severity)), Status: string(r.Status),
				Target: r.Target, Title: c.Title, Detail: r.Detail, References: References(c.ID), Location: r.Location}
			if r.Status == Fail {
				f.Remediation = cmp.Or(r.Remediation, c.Remediation)
			}
			out = append(out, f)
		}
	}
	if len(groups) == 0 || slices.Contains(groups, "vm") {
		out = append(out, autostartRisk(inv, out)...)
	}
	slices.SortStableFunc(out, func(a, b model.Finding) int {
		failA, failB := a.Status == string(Fail), b.Status == string(Fail)
		if failA != failB {
			if failA {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(Rank(b.Severity), Rank(a.Severity)), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Target, b.Target))
	})
	return out
}
