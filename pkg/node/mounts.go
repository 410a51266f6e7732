package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Binder makes the node's bind mounts and unmounts its mounts, one system
// call each (mounter.Syscalls); mount-utils keeps the checks (mount points,
// corrupted mounts), which cost a statx.
type Binder interface {
	// Bind bind-mounts source on target, read-only if asked.
	Bind(source, target string, readOnly bool) error
	// Unmount unmounts target, a mount point. A mount in use fails with
	// EBUSY and stays mounted: nothing is detached lazily.
	Unmount(target string) error
}

// mountState tells whether path is a mount point. A corrupted mount (dead
// ceph-fuse, "transport endpoint is not connected") is unmounted first and
// reported as not mounted, so the caller mounts again.
func (s *Server) mountState(ctx context.Context, path string) (mounted bool, err error) {
	notMnt, err := s.mount.IsLikelyNotMountPoint(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case clientGone(err):
		klog.FromContext(ctx).Info("Cleaning a corrupted mount", "path", path, "reason", err.Error())
		return false, s.unmount(ctx, path)
	case err != nil:
		return false, fmt.Errorf("check mount point %s: %w", path, err)
	}
	if notMnt {
		return false, nil
	}
	// A mount point whose client died still looks like one to the
	// statx above, answered from the kernel's cache; only a request
	// that reaches the client tells. A killed ceph-fuse answers ENOTCONN
	// or, once the kernel aborted the FUSE connection, ECONNABORTED, which
	// mount-utils does not count and clientGone does (a publish bound the
	// dead mount once, TestPublishRestages on Tentacle).
	if err := alive(ctx, path); clientGone(err) {
		klog.FromContext(ctx).Info("Cleaning a mount whose client is gone", "path", path, "reason", err.Error())
		return false, s.unmount(ctx, path)
	}
	return true, nil
}

// checkTimeout bounds a check that a mount's client answers.
const checkTimeout = 5 * time.Second

// alive asks the mount's client for the attributes of path past the
// kernel's cache (statx with AT_STATX_FORCE_SYNC): the cheapest request that
// reaches the client. ceph-fuse answers it from the capabilities it holds
// (0.05 ms, where opening and reading the directory took 0.7 ms and statfs,
// a round trip to a monitor, 0.3 ms); the mount of a dead ceph-fuse answers
// ENOTCONN at once. The kernel client sends a forced getattr to the MDS, as
// it does a readdir. A client that does not answer within checkTimeout is
// reported as such; the stuck call is left behind.
func alive(ctx context.Context, path string) error {
	return bounded(ctx, path, func() error {
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC, unix.STATX_TYPE, &st); err != nil {
			return &os.PathError{Op: "statx", Path: path, Err: err}
		}
		return nil
	})
}

// probe reads one directory entry, as an application would: the check of
// NodeGetVolumeStats, which reports whether the volume works, not only
// whether its client is there.
func probe(ctx context.Context, path string) error {
	return bounded(ctx, path, func() error {
		d, err := os.Open(path)
		if err != nil {
			return err
		}
		defer d.Close()
		if _, err := d.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	})
}

// bounded runs check, a call into a mount's client that may never return,
// for at most checkTimeout.
func bounded(ctx context.Context, path string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- check() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer from %s: %w", path, ctx.Err())
	}
}

// cleanup unmounts path if it is a mount point (a corrupted one included)
// and removes the directory; a path that does not exist is fine. One statx
// decides, as unmounting what is not a mount point is an error of umount2.
func (s *Server) cleanup(ctx context.Context, path string) error {
	notMnt, err := s.mount.IsLikelyNotMountPoint(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil && !mount.IsCorruptedMnt(err):
		return fmt.Errorf("check mount point %s: %w", path, err)
	case err != nil || !notMnt:
		if err := s.unmount(ctx, path); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		// EBUSY: a second mount was stacked on the same path.
		return fmt.Errorf("clean up %s: %w", path, err)
	}
	return nil
}

// An unmount that finds the mount in use (EBUSY) is tried again, backing
// off from busyFirstWait to busyMaxWait, for busyRetryFor at most and never
// past the request's deadline. ceph-fuse's mounts answered EBUSY for a
// moment under the benchmark's load; a process that keeps the volume open
// does not let go within a second, and the CO's own retries (the kubelet
// backs off from 500 ms to 2 min) are the right pace for it.
const (
	busyRetryFor  = time.Second
	busyFirstWait = 5 * time.Millisecond
	busyMaxWait   = 100 * time.Millisecond
)

// unmount unmounts path, retrying while it is busy. A mount still busy is
// Unavailable, so that the CO retries; it is never detached lazily, which
// would hide from the kubelet a volume still in use.
func (s *Server) unmount(ctx context.Context, path string) error {
	start := time.Now()
	wait := busyFirstWait
	for tries := 1; ; tries++ {
		err := s.binds.Unmount(path)
		switch {
		case err == nil:
			if tries > 1 {
				klog.FromContext(ctx).V(2).Info("Unmounted after the mount was busy", "path", path, "tries", tries, "took", time.Since(start))
			}
			return nil
		case !errors.Is(err, unix.EBUSY):
			return fmt.Errorf("unmount %s: %w", path, err)
		case time.Since(start)+wait > busyRetryFor:
			return contract.Errorf(contract.ErrUnavailable, "unmount %s: still in use after %d tries in %v (%w): a process on this node "+
				"keeps a file or its working directory there, or something is mounted below it; retry once it is done",
				path, tries, time.Since(start).Round(time.Millisecond), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("unmount %s: busy, and %w while waiting to try again", path, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, busyMaxWait)
	}
}
