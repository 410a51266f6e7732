package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// NodeExpandVolume has nothing to do: a volume's size is its subvolume's
// quota, which ControllerExpandVolume sets and every mount sees at once (it
// answers node_expansion_required false, so the kubelet does not call this
// after a resize). It confirms a volume is mounted at the path and reports
// the size the mount shows, so that a CO that calls it anyway (at a mount,
// when the claim's size lags the volume's) succeeds.
func (s *Server) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	if req.GetVolumePath() == "" {
		return nil, contract.Invalid("volume path is required")
	}
	if c := req.GetVolumeCapability(); c != nil && c.GetBlock() != nil {
		return nil, contract.Invalid("block access is not supported: CephFS volumes are file systems")
	}
	if p := req.GetVolumePath(); p[0] != '/' {
		// As in NodeGetVolumeStats: no volume is published there.
		return nil, fmt.Errorf("%w: volume path %q is not absolute: no volume is published there", contract.ErrNotFound, p)
	}
	path, err := contract.CleanPath("volume path", req.GetVolumePath())
	if err != nil {
		return nil, err
	}
	if sp := req.GetStagingTargetPath(); sp != "" {
		if _, err := contract.CleanPath("staging target path", sp); err != nil {
			return nil, err
		}
	}
	notMnt, err := s.mount.IsLikelyNotMountPoint(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: volume path %s does not exist", contract.ErrNotFound, path)
	case err != nil:
		return nil, fmt.Errorf("check mount point %s: %w", path, err)
	case notMnt:
		return nil, fmt.Errorf("%w: %s is not a mounted volume", contract.ErrNotFound, path)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: int64(st.Blocks) * int64(st.Bsize)}, nil
}
