package ceph

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// moreProcs raises GOMAXPROCS for one (non-parallel) test. A call that
// handed its answer over before freeing its slot lost the race below only
// when its caller ran on another processor before the call's goroutine went
// on; more Ps than cores make that likely: the old order failed within a
// few thousand calls at GOMAXPROCS=8 on two cores. The order now cannot fail
// whatever the scheduling, so these tests are never flaky.
func moreProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(max(8, runtime.GOMAXPROCS(0)))
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// With one slot, one call after the other: the slot is free as soon as a
// call has returned.
func TestBoundedFreesSlotBeforeAnswering(t *testing.T) {
	moreProcs(t)
	c := call{slots: make(chan struct{}, 1), op: "test"}
	for i := range 20000 {
		if _, err := bounded(context.Background(), c, "call", func() (int, error) { return i, nil }); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(c.slots) != 0 {
			t.Fatalf("call %d returned with its slot still held", i)
		}
	}
}

// MaxPendingCalls callers, each keeping one call going on the connection
// (csibench's CreateVolume at concurrency 32): none finds every slot taken.
func TestBoundedFullConcurrency(t *testing.T) {
	moreProcs(t)
	c := call{slots: make(chan struct{}, MaxPendingCalls), op: "test"}
	var wg sync.WaitGroup
	errs := make(chan error, MaxPendingCalls)
	for range MaxPendingCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				_, err := bounded(context.Background(), c, "call", func() (int, error) {
					time.Sleep(20 * time.Microsecond) // a call into librados
					return 1, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a call found every slot taken: %v", err)
	}
}

// An abandoned call keeps its slot until the cluster answers; with every
// slot so held a call fails at once with ErrUnavailable, and once the
// answers come calls go through again.
func TestBoundedAbandonedCallsHoldSlots(t *testing.T) {
	t.Parallel()
	c := call{slots: make(chan struct{}, 2), op: "test"}
	answer := make(chan struct{})
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := bounded(ctx, c, "stuck", func() (int, error) { <-answer; return 0, nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned call: %v, want context.Canceled", err)
		}
	}
	if _, err := bounded(context.Background(), c, "third", func() (int, error) { return 0, nil }); !errors.Is(err, contract.ErrUnavailable) {
		t.Fatalf("call with every slot held: %v, want ErrUnavailable", err)
	}
	close(answer)
	for len(c.slots) != 0 {
		runtime.Gosched() // the abandoned calls end in the background
	}
	if _, err := bounded(context.Background(), c, "after", func() (int, error) { return 0, nil }); err != nil {
		t.Fatalf("call after the abandoned ones were answered: %v", err)
	}
}
