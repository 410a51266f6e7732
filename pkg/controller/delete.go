package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// DeleteVolume removes a subvolume, keeping its snapshots (they outlive their
// source, as CSI expects). An ID that names nothing succeeds. A volume
// ceph-csi made is removed with its journal entry. A shallow volume loses
// its reference only: its snapshot is the user's.
func (s *Server) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	if sh, err := volumeid.DecodeShallow(req.GetVolumeId()); err == nil {
		if err := s.deleteShallow(ctx, sh, req.GetSecrets()); err != nil {
			return nil, err
		}
		klog.FromContext(ctx).V(4).Info("Shallow volume's reference removed or already gone", "volume", req.GetVolumeId())
		return &csi.DeleteVolumeResponse{}, nil
	}
	sess, ref, err := s.openAnyVolume(ctx, req.GetVolumeId(), req.GetSecrets())
	if errors.Is(err, contract.ErrNotFound) {
		klog.FromContext(ctx).Info("Deleting a volume that does not exist: nothing to do", "volumeID", req.GetVolumeId(), "reason", err.Error())
		return &csi.DeleteVolumeResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	release, err := s.lock(ref.Volume)
	if err != nil {
		return nil, err
	}
	defer release()
	// A shallow volume of ceph-csi's has no subvolume, only its entry (its
	// snapshot's reftracker, ceph-csi's format, is left as is).
	if !ref.shallow() {
		if err := removeSubvolume(ctx, sess, ref.Volume); err != nil {
			return nil, err
		}
	}
	if ref.cephCSI == nil {
		// After the subvolume, never before: a claim without a subvolume
		// costs a retried CreateVolume one mgr command, a subvolume
		// without its claim could be changed by one (createOrFind).
		if err := sess.DropSubvolumeClaim(ctx, ref.FSName, ref.Group, ref.Subvolume); err != nil {
			return nil, fmt.Errorf("subvolume removed, but not its claim: %w", err)
		}
	}
	if c := ref.cephCSI; c != nil {
		if err := sess.RemoveCephCSIEntry(ctx, ref.FSName, c.namespace, ceph.CephCSIVolumes, c.uuid, c.entry); err != nil {
			return nil, fmt.Errorf("subvolume removed, but not ceph-csi's journal entry: %w", err)
		}
	}
	klog.FromContext(ctx).V(4).Info("Subvolume removed or already gone", "volume", req.GetVolumeId())
	return &csi.DeleteVolumeResponse{}, nil
}

// removeSubvolume removes a subvolume, keeping its snapshots. The mgr
// refuses `rm` (EAGAIN) for a clone that is not complete; one that failed
// or was canceled (behind the driver's back: the driver removes its own
// failed clones when CreateVolume sees them) holds neither data nor
// snapshots worth keeping, and goes with --force. A clone still copying
// stays refused, so the CO tries again.
func removeSubvolume(ctx context.Context, sess Session, vol volumeid.Volume) error {
	err := sess.RemoveSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if !errors.Is(err, contract.ErrFailedPrecondition) {
		return err
	}
	cs, cerr := sess.CloneStatus(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if cerr != nil || (cs.State != "failed" && cs.State != "canceled") {
		return err
	}
	klog.FromContext(ctx).Info("Removing a clone that did not complete", "subvolume", vol.Subvolume, "state", cs.State, "failure", cs.Failure)
	return sess.ForceRemoveSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume)
}
