package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// NodeGetVolumeStats reports the bytes and inodes of a mounted volume; with a
// quota, CephFS reports the quota as the size. A mount whose client is gone
// or does not answer has no usage to report: FailedPrecondition, and
// NodeGetVolumeHealth says what is wrong (CSI 1.13 removed the volume
// condition that this answer carried before).
func (s *Server) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	if p := req.GetVolumePath(); p != "" && p[0] != '/' {
		// No volume is published at a relative path: NotFound, as the
		// spec's "no volume at that path" (csi-sanity checks it). Stats
		// mounts nothing, so nothing is at stake either way.
		return nil, fmt.Errorf("%w: volume path %q is not absolute: no volume is published there", contract.ErrNotFound, p)
	}
	path, err := contract.CleanPath("volume path", req.GetVolumePath())
	if err != nil {
		return nil, err
	}
	if sp := req.GetStagingTargetPath(); sp != "" {
		// Optional, and unused here; checked all the same.
		if _, err := contract.CleanPath("staging target path", sp); err != nil {
			return nil, err
		}
	}
	notMnt, err := s.mount.IsLikelyNotMountPoint(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: volume path %s does not exist", contract.ErrNotFound, path)
	case err != nil && mount.IsCorruptedMnt(err):
		return nil, broken(path, err)
	case err != nil:
		return nil, fmt.Errorf("check mount point %s: %w", path, err)
	case notMnt:
		return nil, fmt.Errorf("%w: %s is not a mounted volume", contract.ErrNotFound, path)
	}
	if err := probe(ctx, path); err != nil {
		return nil, broken(path, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if mount.IsCorruptedMnt(err) {
			return nil, broken(path, err)
		}
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := int64(st.Bsize)
	total, free, avail := int64(st.Blocks)*bsize, int64(st.Bfree)*bsize, int64(st.Bavail)*bsize
	return &csi.NodeGetVolumeStatsResponse{
		Usage: []*csi.VolumeUsage{
			{Unit: csi.VolumeUsage_BYTES, Total: total, Available: avail, Used: total - free},
			inodeUsage(st.Files, st.Ffree),
		},
	}, nil
}

// noInodeLimit is the free inode count CephFS gives statfs (ceph-fuse
// 16.2.15, seen; the kernel client's statfs sets -1 too): files have no
// limit there.
const noInodeLimit = ^uint64(0)

// inodeUsage turns statfs's inode counts into the CSI's. Without a limit
// f_files counts the files and directories below the volume's root: used,
// with neither a total nor an available count (0, which the CSI leaves
// "unknown"), rather than -1 available and one more used than exist.
func inodeUsage(files, ffree uint64) *csi.VolumeUsage {
	if ffree == noInodeLimit || ffree > files {
		return &csi.VolumeUsage{Unit: csi.VolumeUsage_INODES, Used: int64(min(files, math.MaxInt64))}
	}
	return &csi.VolumeUsage{Unit: csi.VolumeUsage_INODES, Total: int64(min(files, math.MaxInt64)),
		Available: int64(ffree), Used: int64(files - ffree)}
}

// broken is NodeGetVolumeStats' answer for a mount that does not answer.
func broken(path string, err error) error {
	return contract.Errorf(contract.ErrFailedPrecondition, "the mount at %s does not answer (%v): no usage to report; NodeGetVolumeHealth tells why", path, err)
}
