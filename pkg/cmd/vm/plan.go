package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirtxml"
)

// driftColumns is the table view of model.Drift, for diff and apply.
var driftColumns = []output.Column[model.Drift]{
	{Header: "vm", Value: func(d model.Drift) string { return d.VM }},
	{Header: "key", Value: func(d model.Drift) string { return d.Key }},
	{Header: "change", Value: func(d model.Drift) string { return dash(d.Change) }},
	{Header: "live", Value: func(d model.Drift) string { return dash(d.Live) }},
	{Header: "profile", Value: func(d model.Drift) string { return dash(d.Desired) }},
	{Header: "restart", Value: func(d model.Drift) string { return yesNo(d.Restart) }},
	{Header: "action", Value: func(d model.Drift) string { return dash(d.Action) }},
	{Header: "note", Value: func(d model.Drift) string { return dash(d.Note) }},
}

// Plan verbs: what apply does about a row. Rows print them as "would_<verb>" on a dry run and
// in the past tense once done.
const (
	verbCreate   = "create"
	verbRedefine = "redefine"
	verbDrop     = "drop"    // the live definition has it, the profile does not
	verbRestore  = "restore" // the profile has it, the live definition does not
	verbGrow     = "grow"
	verbNone     = "none" // apply leaves it (a seed that differs)
)

var pastTense = map[string]string{verbCreate: "created", verbRedefine: "redefined", verbDrop: "dropped",
	verbRestore: "restored", verbGrow: "grown", verbNone: "none"}

// planRow is one row of a plan and the verb apply acts on it with.
type planRow struct {
	model.Drift
	verb string
}

// vmPlan is what diff reports and apply does for one profile: worked out completely, reading
// only, before apply changes anything.
type vmPlan struct {
	name, path string // VM and profile file
	p          *profile.Profile
	create     bool
	desired    *libvirtxml.Domain
	live       *libvirtxml.Domain // persistent definition
	liveXML    string             // the same as libvirt wrote it, to undo a redefinition
	running    bool
	changes    []domainxml.Change
	grow       []growth
	rows       []planRow
}

// redefines says whether apply defines the profile's domain anew (anything but the seed).
func (p *vmPlan) redefines() bool { return len(p.changes) > 0 }

// planner holds what every profile's plan needs.
type planner struct {
	f       *cmdutil.Factory
	conn    *virt.Conn
	lo      profile.Options
	bridges map[string]string
	// secure: the connection may write, so plans read the definitions with their passwords
	// (see virt.Domain.SecureXML), which a redefinition and its undo must keep.
	secure bool
}

func newPlanner(ctx context.Context, f *cmdutil.Factory, readOnly bool) (*planner, error) {
	lo, bridges, err := profileOptions(f)
	if err != nil {
		return nil, err
	}
	conn, err := f.Connect(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	return &planner{f: f, conn: conn, lo: lo, bridges: bridges, secure: !readOnly}, nil
}

// planAll plans every profile before anything is changed: a profile that does not load, a
// volume that cannot be read stop the whole run here. A profile named twice is planned once;
// two profiles for one VM are refused, as apply would define it twice, the second silently
// undoing the first.
func (pl *planner) planAll(ctx context.Context, args []string) ([]*vmPlan, error) {
	var plans []*vmPlan
	byVM := map[string]*vmPlan{}
	for _, arg := range args {
		p, err := pl.plan(ctx, arg)
		if err != nil {
			return nil, err
		}
		if prev, ok := byVM[p.name]; ok {
			if prev.path == p.path {
				continue
			}
			return nil, errs.New(errs.Usage, "profiles %s and %s both define VM %s", prev.path, p.path, p.name).
				WithHint("name one profile per VM")
		}
		byVM[p.name] = p
		plans = append(plans, p)
	}
	return plans, nil
}

func (pl *planner) plan(ctx context.Context, arg string) (*vmPlan, error) {
	l, err := pl.f.Config()
	if err != nil {
		return nil, err
	}
	path, err := profile.Resolve(arg, pl.lo.Dir)
	if err != nil {
		return nil, err
	}
	p, err := profile.Load(path, pl.lo)
	if err != nil {
		return nil, err
	}
	bo, err := buildOptions(ctx, pl.conn, l.Config, p, pl.bridges)
	if err != nil {
		return nil, errs.Wrap(err, "%s", p.Name)
	}
	desired, err := domainxml.Build(p, bo)
	if err != nil {
		return nil, errs.New(errs.Usage, "%s: %v", p.Name, err)
	}
	plan := &vmPlan{name: p.Name, path: path, p: p, desired: desired}
	d, err := pl.conn.Domain(ctx, p.Name)
	if errs.KindOf(err) == errs.NotFound {
		plan.create = true
		plan.rows = append(plan.rows, planRow{Drift: model.Drift{VM: p.Name, Key: "(vm)", Desired: "defined", Change: domainxml.Removed}, verb: verbCreate})
		return plan, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Free()
	if pl.secure {
		plan.liveXML, err = d.SecureXML(ctx)
	} else {
		plan.liveXML, err = d.XML(ctx, true)
	}
	if err != nil {
		return nil, err
	}
	plan.live = &libvirtxml.Domain{}
	if err := plan.live.Unmarshal(plan.liveXML); err != nil {
		return nil, errs.Wrap(err, "%s: read definition", p.Name)
	}
	domainxml.MACsFrom(desired, plan.live)
	if plan.changes, err = domainxml.Compare(desired, plan.live); err != nil {
		return nil, err
	}
	state, _, err := d.State(ctx)
	if err != nil {
		return nil, err
	}
	plan.running = state == virt.StateRunning || state == virt.StatePaused
	var runningMaxKiB uint64
	if plan.running {
		rd, err := d.Definition(ctx, false)
		if err != nil {
			return nil, err
		}
		if rd.Memory != nil {
			runningMaxKiB = domainxml.KiB(rd.Memory.Value, rd.Memory.Unit)
		}
	}
	for i, c := range plan.changes {
		r := planRow{Drift: model.Drift{VM: p.Name, Key: c.Key, Live: c.Live, Desired: c.Desired, Restart: c.Restart, Change: c.Kind}, verb: verbRedefine}
		switch c.Kind {
		case domainxml.Added:
			r.verb = verbDrop
		case domainxml.Removed:
			r.verb = verbRestore
		}
		// The balloon cannot give a running guest more than the maximum it was started with.
		if c.Key == "memory.current" && plan.running && desired.CurrentMemory != nil &&
			domainxml.KiB(desired.CurrentMemory.Value, desired.CurrentMemory.Unit) > runningMaxKiB {
			r.Restart, plan.changes[i].Restart = true, true
			r.Note = "restart needed: above the running maximum of " + units.Human(runningMaxKiB<<10)
		}
		plan.rows = append(plan.rows, r)
	}
	if plan.grow, err = diskGrowth(ctx, pl.conn, p, plan.live); err != nil {
		return nil, err
	}
	for _, g := range plan.grow {
		plan.rows = append(plan.rows, planRow{Drift: model.Drift{VM: p.Name, Key: "disk." + g.target + ".size", Live: units.Human(g.from), Desired: units.Human(g.to), Change: domainxml.Changed}, verb: verbGrow})
	}
	if note, err := pl.seedDrift(ctx, p, bo.Pool, plan.live); err != nil {
		return nil, err
	} else if note != "" {
		plan.rows = append(plan.rows, planRow{Drift: model.Drift{VM: p.Name, Key: "cloud_init", Change: domainxml.Changed, Live: "seed " + domainxml.SeedVolume(p.Name), Note: note}, verb: verbNone})
	}
	return plan, nil
}

// seedDrift compares the VM's cloud-init seed with the one its profile makes now. cloud-init
// reads a seed once per instance, so a different seed changes nothing in the running guest:
// apply leaves it, and says so.
func (pl *planner) seedDrift(ctx context.Context, p *profile.Profile, pool string, live *libvirtxml.Domain) (string, error) {
	if p.CloudInit == nil || live.Devices == nil {
		return "", nil
	}
	name := domainxml.SeedVolume(p.Name)
	attached := false
	for _, disk := range live.Devices.Disks {
		if s := disk.Source; s != nil && s.Volume != nil && s.Volume.Volume == name {
			attached, pool = true, s.Volume.Pool
		}
	}
	if !attached {
		return "", nil // the disk itself shows as restored
	}
	vol, err := pl.conn.LookupVolume(ctx, pool, name)
	if err != nil {
		return "", errs.Wrap(err, "%s: seed", p.Name)
	}
	iso, err := pl.conn.Download(ctx, vol.Path)
	if err != nil {
		// A read-only connection may not download; on this host the file itself may do.
		uri, _ := pl.f.URI()
		var ferr error = err
		if !virt.IsRemote(uri) {
			iso, ferr = os.ReadFile(vol.Path)
		}
		if ferr != nil {
			pl.f.Infof("%s: warning: %s: seed not compared: %v", pl.f.Prog, p.Name, err)
			return "", nil
		}
	}
	have, err := seed.Parse(iso)
	if err != nil {
		return "seed differs (unreadable: " + err.Error() + "); takes effect on a new instance", nil
	}
	// The instance ID is the seed's identity, not its content: take the live one.
	var meta struct {
		InstanceID string `json:"instance-id"`
	}
	_ = json.Unmarshal(have.MetaData, &meta)
	want, err := seed.FromProfile(p, meta.InstanceID)
	if err != nil {
		return "", errs.New(errs.Usage, "%s: %v", p.Name, err)
	}
	var parts []string
	for _, f := range []struct {
		name       string
		have, want []byte
	}{{"user-data", have.UserData, want.UserData}, {"meta-data", have.MetaData, want.MetaData}, {"network-config", have.NetworkConfig, want.NetworkConfig}} {
		if !bytes.Equal(bytes.TrimSpace(f.have), bytes.TrimSpace(f.want)) {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "", nil
	}
	return fmt.Sprintf("seed differs (%s); takes effect on a new instance", joinAnd(parts)), nil
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 1:
		return parts[0]
	case 2:
		return parts[0] + " and " + parts[1]
	}
	out := ""
	for i, p := range parts {
		switch {
		case i == len(parts)-1:
			out += ", and " + p
		case i > 0:
			out += ", " + p
		default:
			out += p
		}
	}
	return out
}

// rowsOf flattens plans into table rows, each with action(row) as its action.
func rowsOf(plans []*vmPlan, action func(p *vmPlan, r planRow) string) []model.Drift {
	rows := []model.Drift{}
	for _, p := range plans {
		for _, r := range p.rows {
			d := r.Drift
			d.Action = action(p, r)
			rows = append(rows, d)
		}
	}
	return rows
}

func printDrift(f *cmdutil.Factory, format output.Format, rows []model.Drift) error {
	return output.List(f.IO.Out, format, rows, driftColumns, func(d model.Drift) string { return d.VM + " " + d.Key })
}

// growth is a disk whose volume is smaller than its profile says. A profile's size is a
// floor (an overlay on a larger base keeps the base's size), and disks are never shrunk.
type growth struct {
	target, pool, volume string
	from, to             uint64
}

func diskGrowth(ctx context.Context, conn *virt.Conn, p *profile.Profile, live *libvirtxml.Domain) ([]growth, error) {
	want := map[string]string{domainxml.SystemVolume(p.Name): p.Disk.Size}
	for i, x := range p.ExtraDisks {
		want[domainxml.ExtraVolume(p.Name, i)] = x.Size
	}
	var out []growth
	for _, disk := range live.Devices.Disks {
		if disk.Device != "disk" || disk.Source == nil || disk.Source.Volume == nil || disk.Target == nil {
			continue
		}
		size := want[disk.Source.Volume.Volume]
		if size == "" {
			continue
		}
		to, err := units.ParseSize(size)
		if err != nil {
			return nil, errs.New(errs.Usage, "%s: disk size %q: %v", p.Name, size, err)
		}
		v, err := conn.LookupVolume(ctx, disk.Source.Volume.Pool, disk.Source.Volume.Volume)
		if err != nil {
			return nil, err
		}
		if v.Capacity < to {
			out = append(out, growth{target: disk.Target.Dev, pool: v.Pool, volume: v.Name, from: v.Capacity, to: to})
		}
	}
	return out, nil
}
