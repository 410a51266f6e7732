package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// volumeState is what one look at a mounted volume's root tells.
type volumeState struct {
	// links of the mounted directory: 0 once it was removed from the
	// filesystem (`fs subvolume rm` moves it to the trash and purges it;
	// the client keeps the inode and answers from it).
	links uint32
	// avail is the bytes statfs says are left: with a quota on the
	// mounted directory, the quota less what is used.
	avail uint64
	// quota: ceph.quota.max_bytes is set on the mounted directory.
	quota bool
}

// inspectFunc looks at the mount at path (inspect; a fake in unit tests).
type inspectFunc func(ctx context.Context, path string) (volumeState, error)

// inspect asks the client, within checkTimeout: a forced getattr of the
// mount's root (links), a statfs (the quota as the size, a round trip to a
// monitor) and the root's quota attribute.
func inspect(ctx context.Context, path string) (volumeState, error) {
	var got volumeState
	err := bounded(ctx, path, func() error {
		var sx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC, unix.STATX_NLINK, &sx); err != nil {
			return &os.PathError{Op: "statx", Path: path, Err: err}
		}
		got.links = sx.Nlink
		if got.links == 0 {
			return nil // removed: its space no longer matters
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(path, &fs); err != nil {
			return &os.PathError{Op: "statfs", Path: path, Err: err}
		}
		got.avail = fs.Bavail * uint64(fs.Bsize)
		buf := make([]byte, 32)
		if n, err := unix.Getxattr(path, "ceph.quota.max_bytes", buf); err == nil {
			q, _ := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
			got.quota = q > 0
		}
		return nil
	})
	return got, err
}

// judge turns a look at the mount at path into health entries. An error
// that says nothing about the volume's health fails the RPC instead: the
// kubelet then keeps what it last wrote.
func judge(path string, st volumeState, err error) ([]*csi.VolumeHealth_VolumeHealthEntry, error) {
	switch {
	case clientGone(err):
		return one(csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonClientDisconnected,
			"the CephFS client of the mount at %s is gone (%v): the volume must be staged again", path, err), nil
	case errors.Is(err, context.DeadlineExceeded):
		return one(csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonClientNotResponding,
			"the CephFS client of the mount at %s does not answer within %s", path, checkTimeout), nil
	case err != nil:
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	case st.links == 0:
		return one(csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonSubvolumeMissing,
			"the directory mounted at %s was removed from the filesystem (its subvolume deleted outside the driver): it reads as empty and writes fail with ENOENT", path), nil
	case st.avail == 0 && st.quota:
		return one(csi.VolumeHealthErrorType_DEGRADED, contract.ReasonQuotaExceeded,
			"the volume mounted at %s has used its quota: writes fail with EDQUOT", path), nil
	case st.avail == 0:
		return one(csi.VolumeHealthErrorType_DEGRADED, contract.ReasonPoolFull,
			"no space is left in the filesystem mounted at %s: writes fail with ENOSPC", path), nil
	}
	return nil, nil
}

// clientGone: err is what a mount answers once its client is gone. A dead
// ceph-fuse answers ENOTCONN, or ECONNABORTED once the kernel aborted its
// FUSE connection (seen on a bind mount of it); ESTALE, EIO, ENODEV and
// EHOSTDOWN are mount-utils' other signs of a corrupted mount; a
// blocklisted kernel client answers ESHUTDOWN (EBLOCKLISTED). An evicted
// kernel client (Debian's 6.1 in the kernel e2e) answers EACCES to the
// forced statx: mount-utils counts it too, and the driver, root, looking at
// the volume's own root, is refused only when the cluster refuses the client.
// It counts all that mount-utils' IsCorruptedMnt counts, and more.
func clientGone(err error) bool {
	if mount.IsCorruptedMnt(err) {
		return true
	}
	for _, e := range []error{unix.ENOTCONN, unix.ECONNABORTED, unix.ESTALE, unix.EIO, unix.ENODEV, unix.EHOSTDOWN, unix.ESHUTDOWN, unix.EACCES} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func one(status csi.VolumeHealthErrorType, reason, format string, args ...any) []*csi.VolumeHealth_VolumeHealthEntry {
	return []*csi.VolumeHealth_VolumeHealthEntry{{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}}
}
