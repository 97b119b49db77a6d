package vm

import (
	"cmp"
	"context"
	"path"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// targetSet is the VMs a bulk verb acts on over one connection: the one libvirt of -c, or one
// host of --host.
type targetSet struct {
	host  string // the configured host; "" for the libvirt of -c
	conn  *virt.Conn
	names []string
}

// label is how a target is named in prompts, the journal and -o name: host:name over hosts.
func (s targetSet) label(name string) string {
	if s.host == "" {
		return name
	}
	return s.host + ":" + name
}

type targetRef struct {
	set  targetSet
	name string
}

// storageKey names a VM across hosts: the same name may be on two of them.
type storageKey struct {
	conn *virt.Conn
	name string
}

// resultHostColumn leads the results table when the verb ran over several hosts.
var resultHostColumn = output.Column[model.Result]{Header: "host", Value: func(r model.Result) string { return output.Dash(r.Host) }}

// resolvedTargets are a bulk verb's targets, found.
type resolvedTargets struct {
	sets      []targetSet
	unmatched []string // targets that matched no VM
	hostErr   error    // the hosts that did not answer (partial: the others go on)
}

// targetSets connects and resolves the targets: over the one libvirt of -c, or over the hosts
// of --host (or those every target names as host:PATTERN).
func (o *LifecycleOptions) targetSets(ctx context.Context) (resolvedTargets, error) {
	if !o.Hosts.Enabled() {
		implied, err := o.impliedHosts()
		if err != nil {
			return resolvedTargets{}, err
		}
		if len(implied) == 0 {
			s, unmatched, err := o.localTargets(ctx)
			if err != nil {
				return resolvedTargets{}, err
			}
			return resolvedTargets{sets: []targetSet{s}, unmatched: unmatched}, nil
		}
		o.Hosts.Hosts = implied
	}
	return o.hostTargets(ctx)
}

// localTargets resolves the targets on the libvirt of -c, as bulk verbs always did.
func (o *LifecycleOptions) localTargets(ctx context.Context) (targetSet, []string, error) {
	// Connecting and listing are bounded by --timeout too: a frozen daemon must not hold a
	// bulk verb longer than it was told.
	connectCtx, cancel := virt.WithTimeout(ctx, min(cmdutil.DefaultTimeout, o.PerVM))
	defer cancel()
	conn, err := o.F.Connect(connectCtx, false)
	if err != nil {
		return targetSet{}, nil, err
	}
	existing, err := conn.DomainNames(connectCtx)
	if err == nil {
		existing, err = o.Bulk.Scope(connectCtx, conn, existing) // --profile, --owner
	}
	if err != nil {
		conn.Close()
		return targetSet{}, nil, err
	}
	targets, unmatched := o.Bulk.Resolve(o.Targets, existing)
	return targetSet{conn: conn, names: targets}, unmatched, nil
}

// qualifier splits a target host:PATTERN when host is one of hosts; VM names may hold ':'
// themselves ("db:primary"), so any other prefix is part of the name.
func qualifier(target string, hosts func(string) bool) (host, pattern string, ok bool) {
	h, rest, found := strings.Cut(target, ":")
	if found && hosts(h) {
		return h, rest, true
	}
	return "", target, false
}

// impliedHosts are the hosts targets name when every one is host:PATTERN and neither --host
// nor -c says where to look: `vmctl stop h2:web01 h3:db01`. Nothing when no target names a
// configured host; a usage error when only some do, since the others would have no host.
func (o *LifecycleOptions) impliedHosts() ([]string, error) {
	if fl := o.F.Global.Flags; fl != nil && fl.Changed("connect") {
		return nil, nil
	}
	l, err := o.F.Config()
	if err != nil || len(l.Config.Hosts) == 0 {
		return nil, nil // the -c libvirt; a broken configuration is reported when connecting
	}
	configured := func(h string) bool { _, ok := l.Config.Hosts[h]; return ok }
	var hosts, bare []string
	for _, t := range o.Targets {
		if h, _, ok := qualifier(t, configured); ok {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		} else {
			bare = append(bare, t)
		}
	}
	if len(hosts) > 0 && len(bare) > 0 {
		return nil, errs.New(errs.Usage, "%s names no host, while other targets do (%s:…)", output.Escape(bare[0]), hosts[0]).
			WithHint("qualify every target as HOST:NAME, or give --host to say where unqualified names apply")
	}
	return hosts, nil
}

// hostTargets resolves the targets on every host of --host, each under --host-timeout. An
// unqualified name or glob applies on every host and is unmatched only when no host that
// answered has it; host:PATTERN applies on that host only.
func (o *LifecycleOptions) hostTargets(ctx context.Context) (resolvedTargets, error) {
	hosts, err := o.F.ResolveHosts(&o.Hosts)
	if err != nil {
		return resolvedTargets{}, err
	}
	selected := func(h string) bool {
		return slices.ContainsFunc(hosts, func(x cmdutil.Host) bool { return x.Name == h })
	}
	l, err := o.F.Config()
	if err != nil {
		return resolvedTargets{}, err
	}
	for _, t := range o.Targets {
		if h, _, ok := qualifier(t, func(h string) bool { _, ok := l.Config.Hosts[h]; return ok }); ok && !selected(h) {
			names := make([]string, len(hosts))
			for i, x := range hosts {
				names[i] = x.Name
			}
			return resolvedTargets{}, errs.New(errs.Usage, "%s names host %s, which --host does not select (%s)", output.Escape(t), h, strings.Join(names, ", "))
		}
	}
	type found struct {
		names   []string
		matched []string // the targets that matched a VM here
	}
	sessions, hostErr := cmdutil.ConnectHosts(ctx, o.F, o.Cmd, &o.Hosts, hosts, false,
		func(ctx context.Context, h cmdutil.Host, conn *virt.Conn) (found, error) {
			existing, err := conn.DomainNames(ctx)
			if err == nil {
				existing, err = o.Bulk.Scope(ctx, conn, existing)
			}
			if err != nil {
				return found{}, err
			}
			if o.Bulk.All {
				return found{names: existing}, nil
			}
			var f found
			for _, t := range o.Targets {
				qh, pattern, qualified := qualifier(t, selected)
				if qualified && qh != h.Name {
					continue
				}
				for _, n := range existing {
					if matches(pattern, n) {
						f.names = append(f.names, n)
						if !slices.Contains(f.matched, t) {
							f.matched = append(f.matched, t)
						}
					}
				}
			}
			slices.Sort(f.names)
			f.names = slices.Compact(f.names)
			return f, nil
		})
	if sessions == nil && hostErr != nil {
		return resolvedTargets{}, hostErr
	}
	slices.SortFunc(sessions, func(a, b cmdutil.HostSession[found]) int { return cmp.Compare(a.Host.Name, b.Host.Name) })
	var sets []targetSet
	answered := map[string]bool{}
	var matched []string
	for _, s := range sessions {
		sets = append(sets, targetSet{host: s.Host.Name, conn: s.Conn, names: s.Found.names})
		answered[s.Host.Name] = true
		matched = append(matched, s.Found.matched...)
	}
	var unmatched []string
	for _, t := range o.Targets {
		if slices.Contains(matched, t) {
			continue
		}
		if h, _, ok := qualifier(t, selected); ok && !answered[h] {
			continue // its host did not answer: reported as such, not as a missing VM
		}
		unmatched = append(unmatched, t)
	}
	return resolvedTargets{sets: sets, unmatched: unmatched, hostErr: hostErr}, nil
}

// matches says whether a target matches a VM name: a glob by path.Match, a plain name exactly
// (it may hold characters path.Match would read as escapes).
func matches(pattern, name string) bool {
	if !cmdutil.IsGlob(pattern) {
		return pattern == name
	}
	ok, _ := path.Match(pattern, name)
	return ok
}
