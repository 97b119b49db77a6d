package errs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestKindTable(t *testing.T) {
	seen := map[int]Kind{}
	names := map[string]bool{}
	last := 0
	for _, k := range Kinds() {
		if prev, dup := seen[k.ExitCode()]; dup {
			t.Errorf("%s and %s share exit code %d", prev, k, k.ExitCode())
		}
		seen[k.ExitCode()] = k
		if names[k.String()] || k.String() == "" || k.Describe() == "" {
			t.Errorf("kind %d: name %q, description %q", k, k, k.Describe())
		}
		names[k.String()] = true
		if k.ExitCode() <= last {
			t.Errorf("Kinds() is not in exit-code order at %s", k)
		}
		last = k.ExitCode()
	}
	if Drift.ExitCode() != 10 || Drift.String() != "drift" {
		t.Errorf("drift: %d %s", Drift.ExitCode(), Drift)
	}
}

func TestNewKeepsTheCause(t *testing.T) {
	err := New(Usage, "read %s: %w", "x.toml", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "read x.toml: file does not exist" || KindOf(err) != Usage {
		t.Errorf("%v: cause or text lost", err)
	}
	both := New(Conflict, "%w and %w", fs.ErrExist, context.Canceled)
	if !errors.Is(both, fs.ErrExist) || !errors.Is(both, context.Canceled) || KindOf(both) != Conflict {
		t.Errorf("%v: a cause of two is lost", both)
	}
	if New(Usage, "plain %v", fs.ErrNotExist).Err != nil {
		t.Error("a percent-v verb made a cause")
	}
}

func TestWrapAndKindOf(t *testing.T) {
	inner := New(NotFound, "domain web01 not found").WithHint("see list")
	err := Wrap(inner, "start %s", "web01")
	if KindOf(err) != NotFound || err.Error() != "start web01: domain web01 not found" || HintOf(err) != "see list" {
		t.Errorf("wrap: %v %v %q", KindOf(err), err, HintOf(err))
	}
	if Wrap(nil, "x") != nil {
		t.Error("Wrap(nil) is not nil")
	}
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{fmt.Errorf("x: %w", context.DeadlineExceeded), Timeout},
		{context.Canceled, Interrupted},
		{errors.New("plain"), Failure},
		{nil, Failure},
		{fmt.Errorf("outer: %w", New(Conflict, "in use")), Conflict},
	} {
		if got := KindOf(c.err); got != c.want {
			t.Errorf("KindOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
