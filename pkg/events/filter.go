// Package events streams libvirt's events as model.Event records: it owns the loop that
// connects, subscribes, reconnects with backoff after a daemon loss and resynchronises, and
// hands each record to Sinks (NDJSON or readable lines, NATS, the operations journal).
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package events

import (
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Records hvctl adds to libvirt's events.
const (
	TypeState        = "state"        // an object's state after a reconnection
	TypeResync       = "resync"       // the connection is back; events of the gap are lost
	TypeDisconnected = "disconnected" // the connection to libvirt is lost
)

// Types are every type --type and --until accept, besides the group "lifecycle".
func Types() []string {
	all := slices.Concat(virt.LifecycleTypes, virt.DomainEventTypes, virt.NetworkEventTypes, virt.PoolEventTypes,
		[]string{TypeState, TypeResync, TypeDisconnected})
	slices.Sort(all)
	return slices.Compact(all)
}

// TypeLifecycle stands for all lifecycle types in --type and --until.
const TypeLifecycle = "lifecycle"

// ExpandTypes checks type names and replaces the group "lifecycle" with its members.
func ExpandTypes(flag string, types []string) ([]string, error) {
	known := Types()
	var out []string
	for _, t := range types {
		switch {
		case t == TypeLifecycle:
			out = append(out, virt.LifecycleTypes...)
		case slices.Contains(known, t):
			out = append(out, t)
		default:
			return nil, errs.New(errs.Usage, "%s: unknown event type %q", flag, t).
				WithHint("types: lifecycle, %s", strings.Join(known, ", "))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Filter selects records. Empty fields select everything.
type Filter struct {
	Patterns []string // shell globs on the object's name
	Types    []string // expanded (ExpandTypes)
}

// Match says whether the filter lets ev through. Records about the stream itself (host kind)
// always pass: a consumer must learn that events may have been missed. State records pass the
// type filter too (they follow a resync), but only for objects the patterns select.
func (f Filter) Match(ev model.Event) bool {
	if ev.Kind == virt.KindHost {
		return true
	}
	if !cmdutil.MatchAny(f.Patterns, ev.Name) {
		return false
	}
	if ev.Type == TypeState {
		return true
	}
	return len(f.Types) == 0 || slices.Contains(f.Types, ev.Type)
}
