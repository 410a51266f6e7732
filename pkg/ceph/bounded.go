package ceph

import (
	"context"
	"fmt"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// DefaultTimeout bounds a Ceph call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// MaxPendingCalls bounds the librados calls in flight on one connection,
// abandoned ones included: past it, callers get ErrUnavailable at once
// instead of piling up threads behind a cluster that does not answer.
const MaxPendingCalls = 32

// Observer is told of every Ceph call's duration and outcome (metrics).
type Observer interface {
	ObserveCephCall(op string, d time.Duration, err error)
}

// call is one call's bookkeeping: the connection's slots, the operation's
// short name (a metrics label) and who to tell.
type call struct {
	slots   chan struct{}
	op      string
	observe Observer
}

// bounded runs fn, a blocking call into librados, and returns when it returns
// or when ctx ends, whichever is first.
//
// The deadline is kept here, not by librados: Pacific's librados frees a
// mgr command's buffers when rados_mon_op_timeout fires and then writes the
// late reply into them (heap corruption, seen as "free(): invalid pointer"
// or a segfault). So connections run without that timeout, and a call
// abandoned on ctx's end goes on in the background, holding one of the
// connection's slots, until the cluster answers.
func bounded[T any](ctx context.Context, c call, what string, fn func() (T, error)) (T, error) {
	var zero T
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return zero, fmt.Errorf("%s: %w: %d earlier calls to the cluster are still unanswered", what, contract.ErrUnavailable, cap(c.slots))
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		v, err := fn()
		// Free the slot before answering: freed after, a caller that goes
		// on with its next call at once could find every slot taken by
		// its own earlier calls (Unavailable at 32 concurrent RPCs).
		<-c.slots
		if c.observe != nil {
			c.observe.ObserveCephCall(c.op, time.Since(start), err)
		}
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, classify(r.err, what)
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: no answer from the cluster after %s: %w", what, time.Since(start).Round(time.Millisecond), ctx.Err())
	}
}
