package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder collects latencies per (operation, concurrency), in the order the
// operations were first measured.
type Recorder struct {
	mu      sync.Mutex
	order   []rowKey
	samples map[rowKey][]time.Duration
	wall    map[rowKey]time.Duration
	retries map[rowKey]int
	seen    map[rowKey]struct{}
	bases   map[string]string
}

type rowKey struct {
	name string
	conc int
}

func newRecorder() *Recorder {
	return &Recorder{
		samples: map[rowKey][]time.Duration{}, wall: map[rowKey]time.Duration{}, retries: map[rowKey]int{},
		seen: map[rowKey]struct{}{}, bases: map[string]string{},
	}
}

// Compare names the base an operation's rows are compared with.
func (r *Recorder) Compare(name, base string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bases[name] = base
}

// Time runs fn and records its latency under name at concurrency conc when
// it succeeds.
func (r *Recorder) Time(name string, conc int, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	r.Observe(name, conc, time.Since(start))
	return nil
}

// Observe records one latency.
func (r *Recorder) Observe(name string, conc int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.key(name, conc)
	r.samples[k] = append(r.samples[k], d)
}

// Retried counts a call that was sent again (see Driver.do).
func (r *Recorder) Retried(name string, conc int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries[r.key(name, conc)]++
}

// key returns a row's key, which it adds to the order on first sight.
func (r *Recorder) key(name string, conc int) rowKey {
	k := rowKey{name, conc}
	if _, seen := r.seen[k]; !seen {
		r.seen[k] = struct{}{}
		r.order = append(r.order, k)
	}
	return k
}

// Rows summarizes every operation. The throughput of an operation measured
// by Parallel is over Parallel's wall time; that of one measured inside a
// sequence of other calls is over the sum of its own latencies.
func (r *Recorder) Rows() []OpRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	rows := make([]OpRow, 0, len(r.order))
	for _, k := range r.order {
		s := r.samples[k]
		wall, ok := r.wall[k]
		if !ok {
			for _, d := range s {
				wall += d
			}
		}
		rows = append(rows, OpRow{Name: k.name, Concurrency: k.conc, Summary: Summarize(s, wall), Retries: r.retries[k], Base: r.bases[k.name]})
	}
	return rows
}

// Parallel runs op for i in [0, n) on conc workers and records the wall time
// of the whole as the throughput of name at conc (op records its latencies
// with Time). It stops starting operations at the first error, which it
// returns once the running ones have ended.
func (r *Recorder) Parallel(ctx context.Context, p *Progress, name string, n, conc int, op func(ctx context.Context, i int) error) error {
	p.Phase(phaseName(name, conc), n)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		once       sync.Once
		first      error
		wg         sync.WaitGroup
	)
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := op(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				p.Step(int(done.Add(1)), n)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if done.Load() < int64(n) {
		return parent.Err() // interrupted
	}
	r.mu.Lock()
	r.wall[rowKey{name, conc}] = time.Since(start)
	r.mu.Unlock()
	return nil
}

// Sequence runs step for i in [0, n) one after the other (steps that time
// several operations each, interleaving the driver's calls with the floor's).
func (r *Recorder) Sequence(ctx context.Context, p *Progress, phase string, n int, step func(ctx context.Context, i int) error) error {
	p.Phase(phase, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(ctx, i); err != nil {
			return err
		}
		p.Step(i+1, n)
	}
	return nil
}

func phaseName(name string, conc int) string {
	if conc == 1 {
		return name
	}
	return fmt.Sprintf("%s at C=%d", name, conc)
}

// retrying runs fn within timeout, again after pause while retry says its
// error asks for it, and with a row records the latency until it succeeded
// and each retry: the driver's calls and the floor's alike.
func (r *Recorder) retrying(ctx context.Context, timeout time.Duration, row string, conc int, pause time.Duration,
	retry func(error) bool, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	for {
		err := fn(ctx)
		if err == nil {
			if row != "" {
				r.Observe(row, conc, time.Since(start))
			}
			return nil
		}
		if !retry(err) {
			return err
		}
		if row != "" {
			r.Retried(row, conc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last answer: %w)", ctx.Err(), err)
		case <-time.After(pause):
		}
	}
}
