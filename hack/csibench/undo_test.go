package main

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestUndoNewestFirstPastFailures(t *testing.T) {
	t.Parallel()
	var u Undo
	var ran []string
	step := func(name string, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Errorf("%s: a canceled context", name)
			}
			ran = append(ran, name)
			return err
		}
	}
	u.Add("volume", step("volume", nil))
	snap := u.Add("snapshot", step("snapshot", nil))
	u.Add("stage", step("stage", errors.New("busy")))
	u.Add("publish", step("publish", nil))
	snap.Done() // removed by the run itself
	if u.Pending() != 3 {
		t.Fatalf("pending = %d", u.Pending())
	}
	var progress []int
	err := u.Run(func(done, total int) { progress = append(progress, done, total) })
	if want := []string{"publish", "stage", "volume"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if err == nil || err.Error() != "stage: busy" {
		t.Errorf("error %v, want the failed step's", err)
	}
	if want := []int{1, 3, 2, 3, 3, 3}; !slices.Equal(progress, want) {
		t.Errorf("progress %v, want %v", progress, want)
	}
	if u.Pending() != 0 || u.Run(nil) != nil {
		t.Error("steps run twice")
	}
}
