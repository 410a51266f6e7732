package controller

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// ControllerExpandVolume grows a subvolume's quota. The node sees the new
// size at once, so no node expansion is needed. Shrinking is refused.
func (s *Server) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, errs.Invalid("volume ID is required")
	}
	if req.GetCapacityRange().GetRequiredBytes() <= 0 {
		return nil, errs.Invalid("capacity range with required bytes is required")
	}
	if c := req.GetVolumeCapability(); c != nil {
		if err := validateCapabilities([]*csi.VolumeCapability{c}); err != nil {
			return nil, err
		}
	}
	size, err := quotaFor(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	vol, err := volumeid.DecodeVolume(req.GetVolumeId())
	if err != nil {
		return nil, fmt.Errorf("volume %q: %w", req.GetVolumeId(), errs.ErrNotFound)
	}
	release, err := s.lock(vol)
	if err != nil {
		return nil, err
	}
	defer release()
	fs, err := s.open(ctx, vol, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer fs.Release()
	sv, err := existing(ctx, fs, vol)
	if err != nil {
		return nil, err
	}
	if size < sv.Size {
		return nil, outOfRange("shrinking volume from %d to %d bytes (%d rounded up to 4 MiB) is not supported", sv.Size, size, req.GetCapacityRange().GetRequiredBytes())
	}
	if size != sv.Size {
		if err := fs.ResizeSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume, size); err != nil {
			return nil, err
		}
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: size, NodeExpansionRequired: false}, nil
}
