package ceph

import (
	"context"
	"fmt"
	"syscall"

	"k8s.io/klog/v2"
)

// retryOnStaleMap runs op and, when librados gave up on it after
// rados_osd_op_timeout (ETIMEDOUT), asks for the newest osdmap and runs it
// once more.
//
// Why: a client that was idle while an OSD went down and came back may
// still route by the osdmap it had; an op sent to the wrong OSD can be
// dropped without an answer, and librados asks the monitors for a newer map
// only for ops older than objecter_timeout (10 s), which the op timeout
// (--ceph-timeout, 10 s by default) ends first, so each retry of the CO
// would time out the same way. The suspected cause of a DeleteVolume that
// answered Unavailable for 3 minutes after an OSD restart on a healthy
// cluster (once in nine runs of tests/seed's TestOSDRestart). Other errors,
// and a context that ended, are returned as they are; a refresh that fails
// returns op's own error.
func retryOnStaleMap[T any](ctx context.Context, op func() (T, error), refresh func(context.Context) error) (T, error) {
	v, err := op()
	if Errno(err) != syscall.ETIMEDOUT || ctx.Err() != nil {
		return v, err
	}
	if rerr := refresh(ctx); rerr != nil {
		klog.FromContext(ctx).V(2).Info("A RADOS operation timed out and the latest osdmap could not be had", "err", rerr)
		return v, err
	}
	klog.FromContext(ctx).V(2).Info("A RADOS operation timed out: retrying it once with the latest osdmap", "err", err)
	return op()
}

// refreshOSDMap waits until this connection has the cluster's newest osdmap
// (one monitor round trip when it has it already).
func (a *Admin) refreshOSDMap(ctx context.Context) error {
	_, err := bounded(ctx, a.call("osdmap_refresh"), "get the latest osdmap", func() (struct{}, error) {
		return struct{}{}, a.conn.WaitForLatestOSDMap()
	})
	if err != nil {
		return fmt.Errorf("after a RADOS timeout: %w", err)
	}
	return nil
}
