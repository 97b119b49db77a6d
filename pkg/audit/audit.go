// Package audit is auditctl's engine: controls from the project's catalogue
// (../shared/reference/audit-catalogue.md, by the same IDs) evaluated against an inventory of
// one host: its files under Root, its QEMU driver configuration, and what libvirt says of its
// domains, networks and storage pools.
package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// Severities in rising order.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// Rank orders severities; an unknown one is -1.
func Rank(s string) int {
	for i, x := range Severities {
		if x == s {
			return i
		}
	}
	return -1
}

// Groups of controls, as the catalogue has them.
var Groups = []string{"host", "daemon", "vm", "network", "storage"}

// Domain is what the audit knows of one VM.
type Domain struct {
	Name      string
	Def       *libvirtxml.Domain // persistent definition, with secrets when the connection allowed
	Live      *libvirtxml.Domain // running definition; nil when not running
	Autostart bool
	Secure    bool // Def was read with VIR_DOMAIN_XML_SECURE: graphics passwords are visible
}

// Inventory is everything the controls look at.
type Inventory struct {
	Root      string // host file system root: "/" on the host itself, a fixture tree in tests
	Local     bool   // the libvirt host is this machine: host files can be read
	Domains   []Domain
	Networks  []*libvirtxml.Network
	Pools     []*libvirtxml.StoragePool
	Caps      *libvirtxml.Caps                // host capabilities: the security models libvirt runs
	Filters   map[string]*libvirtxml.NWFilter // network filters; nil without the nwfilter driver
	Secrets   []*libvirtxml.Secret            // nil when libvirt would not list them
	Versions  string                          // libvirt and hypervisor versions, for the record
	QEMUConf  map[string]string               // qemu.conf, raw values; nil when unreadable
	DaemonCfg map[string]string               // libvirtd.conf (or virtproxyd.conf), raw values; nil when unreadable
	ConfErr   string                          // why the configuration could not be read
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
	Severity string // the catalogue's; a result may say otherwise (raised or lowered)
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
	Target   string // host, a VM's name, a network, a path
	Status   string // pass, fail, error, skipped
	Severity string // when it differs from the control's
	Detail   string
	// Remediation, when set, replaces the control's generic one for this result.
	Remediation string
	Location    *model.FindingLocation
}

func pass(target, detail string) Result {
	return Result{Target: target, Status: "pass", Detail: detail}
}
func fail(target, detail string, args ...any) Result {
	return Result{Target: target, Status: "fail", Detail: fmt.Sprintf(detail, args...)}
}
func skipped(target, why string) Result {
	return Result{Target: target, Status: "skipped", Detail: why}
}
func errored(target string, err error) Result {
	return Result{Target: target, Status: "error", Detail: err.Error()}
}

// All is the catalogue's controls that hvctl implements, in catalogue order.
func All() []Control {
	var out []Control
	for _, g := range [][]Control{hostControls, moreHostControls, daemonControls, moreDaemonControls, vmControls, moreVMControls,
		{vm032}, netControls, moreNetControls, storageControls, moreStorageControls, listenControls, confinementControls, hardwareControls} {
		out = append(out, g...)
	}
	// Catalogue order: by group, then by ID.
	rank := map[string]int{}
	for i, g := range Groups {
		rank[g] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return rank[out[i].Group] < rank[out[j].Group]
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// vm032 has no check of its own: Run derives it from the other VM results.
var vm032 = Control{ID: "VM-032", Group: "vm", Severity: "high", Title: "Autostart of a risky VM"}

// autostartRisk raises the worst risky failure of each autostarted VM by one level (capped at
// critical): the exposure comes back after every reboot.
func autostartRisk(inv *Inventory, found []model.Finding) []model.Finding {
	worst := map[string]int{}
	for _, f := range found {
		if f.Status == "fail" && risky[f.ID] && Rank(f.Severity) > worst[f.Target]-1 {
			worst[f.Target] = Rank(f.Severity) + 1
		}
	}
	var out []model.Finding
	for _, d := range inv.Domains {
		if !d.Autostart {
			continue
		}
		f := model.Finding{ID: vm032.ID, Group: "vm", Severity: vm032.Severity, Status: "pass", Target: d.Name, Title: vm032.Title,
			References: References(vm032.ID)}
		if w := worst[d.Name]; w > 0 {
			f.Status, f.Severity = "fail", Severities[min(w, len(Severities)-1)]
			f.Detail = "starts with the host while failing " + strings.Join(riskyFailures(found, d.Name), ", ")
		}
		out = append(out, f)
	}
	return out
}

func riskyFailures(found []model.Finding, vm string) []string {
	var ids []string
	for _, f := range found {
		if f.Target == vm && f.Status == "fail" && risky[f.ID] {
			ids = append(ids, f.ID)
		}
	}
	return ids
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
// result, sorted by severity (worst first), then ID and target.
func Run(inv *Inventory, controls []Control, groups []string) []model.Finding {
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	var out []model.Finding
	for _, c := range controls {
		if len(groups) > 0 && !want[c.Group] {
			continue
		}
		if c.Check == nil {
			continue
		}
		for _, r := range c.Check(inv) {
			sev := c.Severity
			if r.Severity != "" {
				sev = r.Severity
			}
			f := model.Finding{ID: c.ID, Group: c.Group, Severity: sev, Status: r.Status, Target: r.Target, Title: c.Title, Detail: r.Detail,
				References: References(c.ID), Location: r.Location}
			if r.Status == "fail" {
				f.Remediation = cmp.Or(r.Remediation, c.Remediation)
			}
			out = append(out, f)
		}
	}
	if len(groups) == 0 || want["vm"] {
		out = append(out, autostartRisk(inv, out)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Status == "fail") != (b.Status == "fail") {
			return a.Status == "fail"
		}
		if Rank(a.Severity) != Rank(b.Severity) {
			return Rank(a.Severity) > Rank(b.Severity)
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Target < b.Target
	})
	return out
}

// ParseConf reads a libvirt-style configuration file: key = value lines, "quoted" strings,
// [ lists ] that may span lines, # comments. Values are kept raw (quotes and brackets too),
// so that a control can tell 0 from "0".
func ParseConf(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var key string
	var list strings.Builder
	for sc.Scan() {
		line := stripComment(sc.Text())
		if key != "" { // inside a multi-line list
			list.WriteString(" " + strings.TrimSpace(line))
			if strings.Contains(line, "]") {
				out[key] = strings.TrimSpace(list.String())
				key = ""
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") && !strings.Contains(v, "]") {
			key = k
			list.Reset()
			list.WriteString(v)
			continue
		}
		out[k] = v
	}
	return out
}

func stripComment(line string) string {
	inQuote := false
	for i, r := range line {
		switch r {
		case '"':
			inQuote = !inQuote
		case '#':
			if !inQuote {
				return line[:i]
			}
		}
	}
	return line
}

// Unquote is a configuration value without its quotes.
func Unquote(v string) string { return strings.Trim(strings.TrimSpace(v), `"`) }

// ListValues are the quoted items of a [ list ] value.
func ListValues(v string) []string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = Unquote(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
