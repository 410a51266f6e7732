package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// DeleteVolume removes a subvolume, keeping its snapshots (they outlive their
// source, as CSI expects). An ID that names nothing succeeds.
func (s *Server) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, errs.Invalid("volume ID is required")
	}
	vol, err := volumeid.DecodeVolume(req.GetVolumeId())
	if errors.Is(err, volumeid.ErrCephCSI) {
		// Succeeding would let Kubernetes forget a subvolume that still exists.
		return nil, fmt.Errorf("%w: %v: volumes made by ceph-csi cannot be deleted by this driver yet", errs.ErrFailedPrecondition, err)
	}
	if err != nil {
		klog.FromContext(ctx).Info("Deleting a malformed volume ID: nothing to do", "volumeID", req.GetVolumeId(), "reason", err.Error())
		return &csi.DeleteVolumeResponse{}, nil
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
	if err := fs.RemoveSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Subvolume removed or already gone", "volume", req.GetVolumeId())
	return &csi.DeleteVolumeResponse{}, nil
}
