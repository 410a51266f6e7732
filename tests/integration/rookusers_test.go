package integration

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// rookUser creates (or reuses) a CephX user with the capabilities Rook
// gives ceph-csi's CephFS users and returns its secret in the given form.
func rookUser(t *testing.T, c *testcluster.Cluster, name string, caps []string, idKey, keyKey string) map[string]string {
	t.Helper()
	c.Ceph(t, append([]string{"auth", "get-or-create", "client." + name}, caps...)...)
	key := strings.TrimSpace(c.Ceph(t, "auth", "print-key", "client."+name))
	return map[string]string{idKey: name, keyKey: key}
}

// TestRookUsers: the driver works with the restricted users Rook creates for
// ceph-csi (csi-cephfs-provisioner, csi-cephfs-node), not only with admin.
func TestRookUsers(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	provisioner := rookUser(t, c, "csi-cephfs-provisioner",
		[]string{"mon", "allow r", "mgr", "allow rw", "osd", "allow rw tag cephfs metadata=*"}, "adminID", "adminKey")
	node := rookUser(t, c, "csi-cephfs-node",
		[]string{"mon", "allow r", "mgr", "allow rw", "osd", "allow rw tag cephfs *=*", "mds", "allow rw"}, "adminID", "adminKey")

	name := "rook-" + time.Now().Format("150405.000")
	resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}, VolumeCapabilities: []*csi.VolumeCapability{rwx},
		Parameters: c.Params(), Secrets: provisioner,
	})
	if err != nil {
		t.Fatalf("CreateVolume as csi-cephfs-provisioner: %v", err)
	}
	vol := resp.GetVolume()
	defer deleteEventually(t, drv, vol.GetVolumeId(), provisioner)

	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: node,
	}); err != nil {
		t.Fatalf("NodeStageVolume as csi-cephfs-node: %v", err)
	}
	defer func() {
		_, _ = drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
		_, _ = drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	}()
	if _, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, TargetPath: target, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(),
	}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(target, "f"), "x")

	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "rook-snap-" + name, SourceVolumeId: vol.GetVolumeId(), Secrets: provisioner})
	if err != nil {
		t.Fatalf("CreateSnapshot as csi-cephfs-provisioner: %v", err)
	}
	list, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: provisioner})
	if err != nil || len(list.GetEntries()) != 1 {
		t.Fatalf("ListSnapshots as csi-cephfs-provisioner: %v, %v", list, err)
	}
	restoreResp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: name + "-restore", CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}, VolumeCapabilities: []*csi.VolumeCapability{rwx},
		Parameters: c.Params(), Secrets: provisioner,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
	})
	if err != nil {
		t.Fatalf("restore as csi-cephfs-provisioner: %v", err)
	}
	defer deleteEventually(t, drv, restoreResp.GetVolume().GetVolumeId(), provisioner)
	if got := files(t, c.MountVolume(t, drv, restoreResp.GetVolume())); !slices.Equal(got, []string{"f"}) {
		t.Errorf("restored volume holds %v", got)
	}
	if _, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 128 << 20}, Secrets: provisioner,
	}); err != nil {
		t.Fatalf("expand as csi-cephfs-provisioner: %v", err)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: provisioner}); err != nil {
		t.Fatalf("DeleteSnapshot as csi-cephfs-provisioner: %v", err)
	}
}
