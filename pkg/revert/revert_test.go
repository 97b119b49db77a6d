package revert

import (
	"slices"
	"testing"
)

func TestFailRunsNewestFirstOnce(t *testing.T) {
	var got []int
	r := New()
	r.Add(func() { got = append(got, 1) })
	r.Add(func() { got = append(got, 2) })
	r.Fail()
	r.Fail()
	if !slices.Equal(got, []int{2, 1}) {
		t.Errorf("undos ran %v, want [2 1]", got)
	}
}

func TestSuccessDisarms(t *testing.T) {
	ran := false
	r := New()
	r.Add(func() { ran = true })
	r.Success()
	r.Fail()
	if ran {
		t.Error("an undo ran after Success")
	}
}

// A panic between steps still reverts: Fail is deferred.
func TestFailRunsOnPanic(t *testing.T) {
	ran := false
	func() {
		defer func() { _ = recover() }()
		r := New()
		defer r.Fail()
		r.Add(func() { ran = true })
		panic("boom")
	}()
	if !ran {
		t.Error("the undo did not run on a panic")
	}
}
