package vm

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdSnapshotCreate(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    SnapshotCreateOptions
		wantErr bool
	}{
		{args: []string{"web01"}, want: SnapshotCreateOptions{VM: "web01", Name: "20261126-143000"}},
		{args: []string{"web01", "before", "--description", "why"}, want: SnapshotCreateOptions{VM: "web01", Name: "before", Description: "why"}},
		{args: []string{"web01", "bad name"}, wantErr: true},
		{args: []string{}, wantErr: true},
		{args: []string{"a", "b", "c"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			f.Now = func() time.Time { return time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC) }
			var got *SnapshotCreateOptions
			err := parse(t, NewCmdSnapshotCreate(f, func(_ context.Context, o *SnapshotCreateOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if err == nil || got != nil {
					t.Fatalf("want an error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.VM != tc.want.VM || got.Name != tc.want.Name || got.Description != tc.want.Description {
				t.Errorf("got vm %q name %q description %q, want %q %q %q", got.VM, got.Name, got.Description, tc.want.VM, tc.want.Name, tc.want.Description)
			}
		})
	}
}

func TestNewCmdSnapshotList(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var got *SnapshotListOptions
	cmd := func() *cobra.Command {
		return NewCmdSnapshotList(f, func(_ context.Context, o *SnapshotListOptions) error { got = o; return nil })
	}
	if err := parse(t, cmd(), f, "web01"); err != nil || got.VM != "web01" {
		t.Errorf("list web01: %v %+v", err, got)
	}
	got = nil
	if err := parse(t, cmd(), f); err == nil || got != nil {
		t.Errorf("list without a VM: %v", err)
	}
}

// Destructive verbs confirm in their run function, once the VM and the snapshots are known to
// exist (see TestSnapshotVerbsFindBeforeAsking); parsing carries --yes over.
func TestNewCmdSnapshotRevert(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantState string
		wantErr   bool
	}{
		{args: []string{"web01", "s1", "--yes"}},
		{args: []string{"web01", "s1", "-y", "--running"}, wantState: "running"},
		{args: []string{"web01", "s1", "-y", "--paused"}, wantState: "paused"},
		{args: []string{"web01", "s1", "-y", "--paused", "--running"}, wantErr: true},
		{args: []string{"web01", "-y"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *SnapshotRevertOptions
			err := parse(t, NewCmdSnapshotRevert(f, func(_ context.Context, o *SnapshotRevertOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if errs.KindOf(err) != errs.Usage || got != nil {
					t.Fatalf("want a usage error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.VM != "web01" || got.Name != "s1" || got.State != tc.wantState || !got.Yes {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestNewCmdSnapshotDelete(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []string
		wantErr bool
	}{
		{args: []string{"web01", "s1", "s2", "--yes"}, want: []string{"s1", "s2"}},
		{args: []string{"web01", "--yes"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *SnapshotDeleteOptions
			err := parse(t, NewCmdSnapshotDelete(f, func(_ context.Context, o *SnapshotDeleteOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if errs.KindOf(err) != errs.Usage || got != nil {
					t.Fatalf("want a usage error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.VM != "web01" || !slices.Equal(got.Snapshots, tc.want) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestNewCmdSnapshotPrune(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		check   func(o *PruneOptions) bool
		wantErr bool
	}{
		{args: []string{"web01", "--keep-last", "3", "--yes"}, check: func(o *PruneOptions) bool { return o.Policy.Last == 3 && o.Yes }},
		{args: []string{"--all", "--keep-daily", "7", "--dry-run"}, check: func(o *PruneOptions) bool { return o.Policy.Daily == 7 && o.DryRun && o.Bulk.All }},
		{args: []string{"web01"}, wantErr: true},
		{args: []string{"web01", "--keep-last", "-1"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *PruneOptions
			err := parse(t, NewCmdSnapshotPrune(f, func(_ context.Context, o *PruneOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if errs.KindOf(err) != errs.Usage || got != nil {
					t.Fatalf("want a usage error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Errorf("options: %+v", got)
			}
		})
	}
}

// The table is the same on a terminal and in a pipe: NAME holds names only (for awk and cut)
// and PARENT the tree; -o wide adds the indented TREE, again on both alike.
func TestSnapshotListSameOnTerminalAndPipe(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, snapVM)
	now := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	for _, n := range []string{"one", "two"} {
		if _, err := runSnap(t, now, "create", "snappy", n); err != nil {
			t.Fatal(err)
		}
	}
	list := func(tty bool, wide bool) string {
		f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		f.IO.SetTTY(false, tty, false)
		if wide {
			f.Global.Output = "wide"
		}
		if err := runSnapshotList(context.Background(), &SnapshotListOptions{F: f, VM: "snappy"}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	pipe, term := list(false, false), list(true, false)
	if pipe != term {
		t.Errorf("the table differs between a pipe:\n%s\nand a terminal:\n%s", pipe, term)
	}
	lines := strings.Split(strings.TrimSpace(pipe), "\n")
	if len(lines) != 3 || strings.Contains(pipe, "└") || strings.Fields(lines[0])[1] != "PARENT" ||
		strings.Fields(lines[2])[0] != "two" || strings.Fields(lines[2])[1] != "one" {
		t.Errorf("table:\n%s", pipe)
	}
	pipe, term = list(false, true), list(true, true)
	if pipe != term || !strings.Contains(pipe, "└─ two") || !strings.Contains(pipe, "PARENT") {
		t.Errorf("wide in a pipe:\n%s\non a terminal:\n%s", pipe, term)
	}
	// Every row has a word in every column, so awk's $N is the same column in each: a snapshot
	// that is not current and one without a description left their cells empty, and in -o wide
	// KIND read as CURRENT. (TREE's "└─ " is one more word on a child's row.)
	for _, table := range []string{list(false, false), list(false, true)} {
		lines := strings.Split(strings.TrimSpace(table), "\n")
		for _, l := range lines[1:] {
			if got, want := len(strings.Fields(l))-strings.Count(l, "└─ "), len(strings.Fields(lines[0])); got != want {
				t.Errorf("row %q has %d fields under %d headers:\n%s", l, got, want, table)
			}
		}
	}
}
