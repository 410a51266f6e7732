package node

import (
	"context"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// NodePublishVolume bind-mounts the staged volume onto the target path,
// read-only when asked or when the access mode only reads.
func (s *Server) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	staging, err := contract.CleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	target, err := contract.CleanPath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if err := requireMountCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	shallow := isShallow(req.GetVolumeId(), req.GetVolumeContext())
	if shallow {
		if err := requireReadOnly(req.GetVolumeCapability()); err != nil {
			return nil, err
		}
	}
	release, err := s.inFlight.Acquire(target)
	if err != nil {
		return nil, err
	}
	defer release()

	staged, err := s.mountState(ctx, staging)
	if err != nil {
		return nil, err
	}
	if !staged {
		// A dead mount was just cleaned, or the kubelet believes staged
		// what is not: mount it again if NodeStage was seen.
		if err := s.restage(ctx, req.GetVolumeId(), staging); err != nil {
			return nil, err
		}
	}
	published, err := s.mountState(ctx, target)
	if err != nil {
		return nil, err
	}
	if published {
		klog.FromContext(ctx).V(4).Info("Already published", "target", target)
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := s.checkSingleWriter(req, staging, target); err != nil {
		return nil, err
	}
	source := staging
	if shallow {
		if source, err = s.snapshotSource(ctx, req); err != nil {
			return nil, err
		}
	}
	// The mount flags (context= among them) were the staging mount's:
	// a bind takes the mount as it is.
	ro := shallow || readOnly(req)
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, fmt.Errorf("create target path: %w", err)
	}
	if err := s.binds.Bind(source, target, ro); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Published", "volume", req.GetVolumeId(), "target", target, "readOnly", ro)
	return &csi.NodePublishVolumeResponse{}, nil
}

// checkSingleWriter refuses a second target for a SINGLE_NODE_SINGLE_WRITER
// volume: every bind mount of the staging mount counts as a publication.
func (s *Server) checkSingleWriter(req *csi.NodePublishVolumeRequest, staging, target string) error {
	if req.GetVolumeCapability().GetAccessMode().GetMode() != csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		return nil
	}
	refs, err := s.mount.GetMountRefs(staging)
	if err != nil {
		return fmt.Errorf("list publications of %s: %w", staging, err)
	}
	for _, r := range refs {
		if r != target {
			return fmt.Errorf("%w: single-writer volume %s is already published at %s", contract.ErrFailedPrecondition, req.GetVolumeId(), r)
		}
	}
	return nil
}

func readOnly(req *csi.NodePublishVolumeRequest) bool {
	switch req.GetVolumeCapability().GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return true
	}
	return req.GetReadonly()
}

// NodeUnpublishVolume unmounts the target path and removes it.
func (s *Server) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	target, err := contract.CleanPath("target path", req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	release, err := s.inFlight.Acquire(target)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.cleanup(ctx, target); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Unpublished", "volume", req.GetVolumeId(), "target", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
