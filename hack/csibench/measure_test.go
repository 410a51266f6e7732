package main

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

func quietProgress() *Progress { return &Progress{w: io.Discard} }

func TestParallelRecordsEveryOperation(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	r.Compare("op", "floor")
	var running, most atomic.Int32
	err := r.Parallel(context.Background(), quietProgress(), "op", 20, 4, func(ctx context.Context, i int) error {
		return r.Time("op", 4, func() error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() > 4 {
		t.Errorf("%d operations at once, want at most 4", most.Load())
	}
	r.Retried("op", 4)
	rows := r.Rows()
	if len(rows) != 1 || rows[0].N != 20 || rows[0].Concurrency != 4 || rows[0].Retries != 1 || rows[0].Base != "floor" {
		t.Fatalf("rows = %+v", rows)
	}
	if rows[0].Wall <= 0 || rows[0].OpsPerSec <= 0 {
		t.Errorf("no throughput: %+v", rows[0])
	}
}

func TestParallelStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	var started atomic.Int32
	boom := errors.New("boom")
	err := r.Parallel(context.Background(), quietProgress(), "op", 100, 2, func(ctx context.Context, i int) error {
		started.Add(1)
		switch {
		case i == 3:
			return boom
		case i > 3:
			<-ctx.Done() // released by the error
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if started.Load() > 5 {
		t.Errorf("%d operations started, want at most 5 (the error, and one more per worker)", started.Load())
	}
}

func TestParallelInterrupted(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	err := r.Parallel(ctx, quietProgress(), "op", 10, 1, func(ctx context.Context, i int) error {
		if i == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestRowsKeepTheOrderOfFirstSight(t *testing.T) {
	t.Parallel()
	r := newRecorder()
	r.Observe("b", 1, time.Millisecond)
	r.Observe("a", 1, time.Millisecond)
	r.Observe("b", 8, time.Millisecond)
	r.Observe("b", 1, 3*time.Millisecond)
	rows := r.Rows()
	if len(rows) != 3 || rows[0].Name != "b" || rows[1].Name != "a" || rows[2].Concurrency != 8 || rows[0].N != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	// Outside Parallel the throughput is over the latencies' sum.
	if rows[0].OpsPerSec != 500 {
		t.Errorf("ops/s = %v, want 2 over 4 ms", rows[0].OpsPerSec)
	}
}
