package netcmd

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestNewCmdStart(t *testing.T) {
	for _, c := range []struct {
		args    []string
		targets []string
		all     bool
		wantErr string
	}{
		{args: []string{"lab", "lab-*"}, targets: []string{"lab", "lab-*"}},
		{args: []string{"--all", "-j", "2"}, all: true},
		{args: nil, wantErr: "no network given"},
		{args: []string{"--all", "lab"}, wantErr: "network names or --all"},
		{args: []string{"lab-["}, wantErr: "invalid pattern"},
		{args: []string{"../etc"}, wantErr: "invalid network name"},
		{args: []string{"lab", "-j", "0"}, wantErr: "--parallel"},
	} {
		f, _ := testFactory(t)
		var got *StartOptions
		err := parse(f, NewCmdStart(f, func(_ context.Context, o *StartOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || !slices.Equal(got.Targets, c.targets) || got.Bulk.All != c.all {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}

func TestNewCmdStop(t *testing.T) {
	for _, c := range []struct {
		args            []string
		targets         []string
		all, force, yes bool
		wantErr         string
	}{
		{args: []string{"lab"}, targets: []string{"lab"}},
		{args: []string{"lab-*", "--force", "-y"}, targets: []string{"lab-*"}, force: true, yes: true},
		{args: []string{"--all", "--yes"}, all: true, yes: true},
		{args: nil, wantErr: "no network given"},
	} {
		f, _ := testFactory(t)
		var got *StopOptions
		err := parse(f, NewCmdStop(f, func(_ context.Context, o *StopOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || !slices.Equal(got.Targets, c.targets) || got.Bulk.All != c.all || got.Force != c.force || got.Yes != c.yes {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}

// autostart reads as vmctl's: on|off first, then names, globs or --all; the old NAME on|off
// order still works for one network, with a warning.
func TestNewCmdAutostart(t *testing.T) {
	for _, c := range []struct {
		args    []string
		on      bool
		targets []string
		all     bool
		warning string
		wantErr string
	}{
		{args: []string{"on", "lab"}, on: true, targets: []string{"lab"}},
		{args: []string{"off", "lab", "lab-*"}, targets: []string{"lab", "lab-*"}},
		{args: []string{"off", "--all"}, all: true},
		{args: []string{"lab", "on"}, on: true, targets: []string{"lab"}, warning: "'autostart lab on' is deprecated: write 'autostart on lab'"},
		{args: []string{"on"}, wantErr: "no network given"},
		{args: []string{"on", "--all", "lab"}, wantErr: "network names or --all"},
		{args: []string{"lab", "yes"}, wantErr: `unknown command "lab" for "netctl autostart"`},
		{args: []string{"lab", "x", "on"}, wantErr: `unknown command "lab" for "netctl autostart"`},
		{args: []string{"onn", "lab"}, wantErr: `unknown command "onn"`},
	} {
		f, errOut := testFactory(t)
		var got *AutostartOptions
		err := parse(f, NewCmdAutostart(f, func(_ context.Context, o *AutostartOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || got.On != c.on || !slices.Equal(got.Targets, c.targets) || got.Bulk.All != c.all {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
		if !strings.Contains(errOut.String(), c.warning) || (c.warning == "" && errOut.Len() > 0) {
			t.Errorf("%q: stderr %q, want %q", c.args, errOut, c.warning)
		}
	}
}

func TestNewCmdDelete(t *testing.T) {
	for _, c := range []struct {
		args       []string
		tty        bool
		targets    []string
		force, yes bool
		wantErr    string
	}{
		{args: []string{"lab", "--yes"}, targets: []string{"lab"}, yes: true},
		{args: []string{"lab-*", "--force", "-y"}, targets: []string{"lab-*"}, force: true, yes: true},
		// On a terminal the question comes later, listing the matched networks.
		{args: []string{"lab"}, tty: true, targets: []string{"lab"}},
		// Without a terminal and without --yes nothing can confirm: refused before libvirt.
		{args: []string{"lab"}, wantErr: "without confirmation"},
		{args: []string{"--all", "lab", "--yes"}, wantErr: "network names or --all"},
	} {
		f, _ := testFactory(t)
		f.IO.SetTTY(c.tty, c.tty, c.tty)
		var got *DeleteOptions
		err := parse(f, NewCmdDelete(f, func(_ context.Context, o *DeleteOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || !slices.Equal(got.Targets, c.targets) || got.Force != c.force || got.Yes != c.yes {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}
