package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestCephCSISnapshotSizeAfterExpansion: a snapshot ceph-csi took of a 1 GiB
// volume keeps its size after the volume is expanded to 2 GiB: ListSnapshots
// reports 1 GiB and a 1 GiB restore (the restoreSize Kubernetes asks for)
// succeeds with the snapshot's data. Rook's provisioner user, which cannot
// read the snapshot's size (no mds capabilities), lists it as unknown (0),
// restores it at 1 GiB, and is refused below with nothing left behind.
func TestCephCSISnapshotSizeAfterExpansion(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	const gib = int64(1 << 30)
	request := "pvc-expanded-" + time.Now().Format("150405000")
	handle, _, vc := legacyVolume(t, c, request)
	c.Ceph(t, "fs", "subvolume", "resize", c.FS, vc["subvolumeName"], "1073741824", "--group_name", c.Group)
	t.Cleanup(func() { deleteEventually(t, drv, handle, c.Secrets()) })
	dir := c.MountVolume(t, drv, &csi.Volume{VolumeId: handle, VolumeContext: vc})
	writeSynced(t, filepath.Join(dir, "old"), "taken at 1 GiB")

	snap, _ := legacySnapshot(t, c, handle, vc["subvolumeName"], "snapshot-"+request)
	t.Cleanup(func() {
		if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap, Secrets: c.Secrets()}); err != nil {
			t.Errorf("delete snapshot: %v", err)
		}
	})
	write(t, filepath.Join(dir, "new"), "written after the snapshot")
	if _, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: handle, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("expand: %v", err)
	}

	listed := func(drv *testcluster.Clients, secrets map[string]string) int64 {
		t.Helper()
		list, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: snap, Secrets: secrets})
		if err != nil || len(list.GetEntries()) != 1 {
			t.Fatalf("ListSnapshots: %v, %v", list, err)
		}
		return list.GetEntries()[0].GetSnapshot().GetSizeBytes()
	}
	if got := listed(drv, c.Secrets()); got != gib {
		t.Errorf("ListSnapshots reports %d bytes, want %d (the size when ceph-csi took it)", got, gib)
	}
	fromSnap := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap}}}
	restored := createVolume(t, drv, c, "expanded-restore", gib, fromSnap)
	if restored.GetCapacityBytes() != gib {
		t.Errorf("restored at %d bytes, want %d", restored.GetCapacityBytes(), gib)
	}
	target := c.MountVolume(t, drv, restored)
	if got := files(t, target); !slices.Equal(got, []string{"old"}) {
		t.Errorf("restored files %v, want [old]", got)
	}
	if data, err := os.ReadFile(filepath.Join(target, "old")); err != nil || string(data) != "taken at 1 GiB" {
		t.Errorf("restored data %q, %v", data, err)
	}

	// A driver that has not read the size yet (it keeps what it read).
	fresh := c.StartDriver(t, nil)
	provisioner := rookUser(t, c, "csi-cephfs-provisioner",
		[]string{"mon", "allow r", "mgr", "allow rw", "osd", "allow rw tag cephfs metadata=*"}, "adminID", "adminKey")
	if got := listed(fresh, provisioner); got != 0 {
		t.Errorf("ListSnapshots as Rook's provisioner reports %d bytes, want 0 (unknown)", got)
	}
	restoreAs := func(name string, size int64) (*csi.Volume, error) {
		resp, err := fresh.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: name + "-" + request, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
			VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: provisioner, VolumeContentSource: fromSnap,
		})
		if err == nil {
			t.Cleanup(func() { deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets()) })
		}
		return resp.GetVolume(), err
	}
	_, err := restoreAs("small", gib/2)
	if st := status.Convert(err); st.Code() != codes.OutOfRange {
		t.Errorf("restore at 512 MiB as Rook's provisioner: %v, want OutOfRange", err)
	}
	var left []struct{ Name string }
	c.CephJSON(t, &left, "fs", "subvolume", "ls", c.FS, "--group_name", c.Group)
	for _, sv := range left {
		if sv.Name == volumeid.DeriveName("csi-vol-", "small-"+request) {
			t.Errorf("the refused restore's clone is left: %s", sv.Name)
		}
	}
	if v, err := restoreAs("full", gib); err != nil || v.GetCapacityBytes() != gib {
		t.Errorf("restore at 1 GiB as Rook's provisioner: %v, %v", v, err)
	}
}
