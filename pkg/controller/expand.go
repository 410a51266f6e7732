package controller

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// ControllerExpandVolume grows a subvolume's quota. The node sees the new
// size at once, so no node expansion is needed. Shrinking is refused.
func (s *Server) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	if req.GetCapacityRange().GetRequiredBytes() <= 0 {
		return nil, contract.Invalid("capacity range with required bytes is required")
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
	sess, ref, err := s.openVolume(ctx, req.GetVolumeId(), req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	vol := ref.Volume
	release, err := s.lock(vol)
	if err != nil {
		return nil, err
	}
	defer release()
	sv, err := existing(ctx, sess, vol)
	if err != nil {
		return nil, err
	}
	if size < sv.Size {
		return nil, outOfRange("shrinking volume from %d to %d bytes (%d rounded up to 4 MiB) is not supported", sv.Size, size, req.GetCapacityRange().GetRequiredBytes())
	}
	if size != sv.Size {
		if err := sess.ResizeSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume, size); err != nil {
			return nil, err
		}
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: size, NodeExpansionRequired: false}, nil
}
