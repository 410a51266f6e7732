package testcluster

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// RWX is a mount volume that many nodes read and write.
var RWX = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

// MountVolume stages and publishes vol read-write (RWX) and returns the
// target path; both are undone when the test ends.
func (c *Cluster) MountVolume(t testing.TB, drv *Clients, vol *csi.Volume) string {
	t.Helper()
	_, target, _ := c.StagePublish(t, drv, vol, RWX)
	return target
}

// StagePublish stages and publishes vol through drv's node service (with the
// cluster's admin credentials) with capability vc, and returns the staging
// and target paths and a function that undoes both; the test's end calls it
// too (a second call does nothing).
func (c *Cluster) StagePublish(t testing.TB, drv *Clients, vol *csi.Volume, vc *csi.VolumeCapability) (string, string, func()) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: vc,
		VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("NodeStageVolume %s: %v", vol.GetVolumeId(), err)
	}
	if _, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, TargetPath: target, VolumeCapability: vc,
		VolumeContext: vol.GetVolumeContext(),
	}); err != nil {
		t.Fatalf("NodePublishVolume %s: %v", vol.GetVolumeId(), err)
	}
	undone := false
	undo := func() {
		if undone {
			return
		}
		undone = true
		if _, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
			t.Errorf("NodeUnpublishVolume: %v", err)
		}
		if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
			t.Errorf("NodeUnstageVolume: %v", err)
		}
	}
	t.Cleanup(undo)
	return staging, target, undo
}
