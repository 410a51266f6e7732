package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// legacyVolume makes a volume the way ceph-csi does: a subvolume
// csi-vol-<uuid> and ceph-csi's journal in the metadata pool (namespace
// "csi"), and returns its ceph-csi handle and volume context (without a
// subvolume path, as older ceph-csi versions recorded it).
func legacyVolume(t *testing.T, c *testcluster.Cluster, request string) (handle, uuid string, vc map[string]string) {
	t.Helper()
	uuid = newUUID()
	subvolume := "csi-vol-" + uuid
	c.Ceph(t, "fs", "subvolume", "create", c.FS, subvolume, "--group_name", c.Group, "--size", "104857600")
	for _, kv := range [][3]string{
		{"csi.volume." + uuid, "csi.imagename", subvolume},
		{"csi.volume." + uuid, "csi.volname", request},
		{"csi.volumes.default", "csi.volume." + request, uuid},
	} {
		rados(t, c, "setomapval", kv[0], kv[1], kv[2])
	}
	fscid, err := clusterdesc.FilesystemID([]byte(c.Ceph(t, "fs", "dump", "--format=json")), c.FS)
	if err != nil {
		t.Fatal(err)
	}
	handle = volumeid.CephCSI{ClusterID: testcluster.ClusterID, LocationID: fscid, UUID: uuid}.Encode()
	vc = map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumeName": subvolume, "pool": c.FS + "-data0"}
	return handle, uuid, vc
}

// legacySnapshot takes a snapshot the way ceph-csi does (csi-snap-<uuid>
// and its journal) and returns its handle and uuid.
func legacySnapshot(t *testing.T, c *testcluster.Cluster, volHandle, subvolume, request string) (string, string) {
	t.Helper()
	uuid := newUUID()
	name := "csi-snap-" + uuid
	c.Ceph(t, "fs", "subvolume", "snapshot", "create", c.FS, subvolume, name, "--group_name", c.Group)
	for _, kv := range [][3]string{
		{"csi.snap." + uuid, "csi.imagename", name},
		{"csi.snap." + uuid, "csi.snapname", request},
		{"csi.snap." + uuid, "csi.source", subvolume},
		{"csi.snaps.default", "csi.snap." + request, uuid},
	} {
		rados(t, c, "setomapval", kv[0], kv[1], kv[2])
	}
	// Same cluster and filesystem as the volume: only the uuid differs.
	return volHandle[:len(volHandle)-36] + uuid, uuid
}

// newUUID makes a random uuid in its text form, as ceph-csi names things.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func rados(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"-c", c.Conf, "-p", c.FS + "-metadata", "--namespace", "csi"}, args...)
	out, err := exec.CommandContext(ctx, "rados", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("rados %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestCephCSIVolume serves a volume ceph-csi provisioned: stage it from the
// volume context ceph-csi recorded, expand it, snapshot and restore it, and
// delete it with its journal entry.
func TestCephCSIVolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	request := "pvc-legacy-" + time.Now().Format("150405000")
	handle, uuid, vc := legacyVolume(t, c, request)
	vol := &csi.Volume{VolumeId: handle, VolumeContext: vc}

	dir := c.MountVolume(t, drv, vol)
	write(t, filepath.Join(dir, "old"), "written through ceph-csi's handle")

	if _, err := drv.Controller.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: handle, VolumeCapabilities: []*csi.VolumeCapability{rwx}, Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("ValidateVolumeCapabilities: %v", err)
	}
	if r, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: handle, CapacityRange: &csi.CapacityRange{RequiredBytes: 200 << 20}, Secrets: c.Secrets(),
	}); err != nil || r.GetCapacityBytes() != 200<<20 {
		t.Fatalf("expand: %v, %v", r, err)
	}
	var info struct {
		BytesQuota int64 `json:"bytes_quota"`
	}
	c.CephJSON(t, &info, "fs", "subvolume", "info", c.FS, vc["subvolumeName"], "--group_name", c.Group)
	if info.BytesQuota != 200<<20 {
		t.Errorf("quota after expand: %d", info.BytesQuota)
	}

	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "legacy-snap-" + request, SourceVolumeId: handle, Secrets: c.Secrets()})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	restored := createVolume(t, drv, c, "legacy-restore", 200<<20, &csi.VolumeContentSource{
		Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}},
	})
	if got := files(t, c.MountVolume(t, drv, restored)); !slices.Equal(got, []string{"old"}) {
		t.Errorf("restored from a ceph-csi volume's snapshot: %v", got)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: c.Secrets()}); err != nil {
		t.Fatalf("delete snapshot: %v", err)
	}

	// A snapshot ceph-csi took: listed, restored, deleted with its journal.
	legacySnap, snapUUID := legacySnapshot(t, c, handle, vc["subvolumeName"], "snapshot-legacy-"+request)
	list, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: legacySnap, Secrets: c.Secrets()})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetSourceVolumeId() != handle ||
		list.GetEntries()[0].GetSnapshot().GetSizeBytes() != 200<<20 {
		t.Fatalf("ListSnapshots of a ceph-csi snapshot: %v, %v", list, err)
	}
	fromLegacy := createVolume(t, drv, c, "legacy-snap-restore", 200<<20, &csi.VolumeContentSource{
		Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: legacySnap}},
	})
	if got := files(t, c.MountVolume(t, drv, fromLegacy)); !slices.Equal(got, []string{"old"}) {
		t.Errorf("restored from a ceph-csi snapshot: %v", got)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: legacySnap, Secrets: c.Secrets()}); err != nil {
		t.Fatalf("delete a ceph-csi snapshot: %v", err)
	}
	if got := c.Snapshots(t, "cfs1:"+testcluster.ClusterID+":"+c.FS+":"+c.Group+":"+vc["subvolumeName"]); len(got) != 0 {
		t.Errorf("snapshots left: %v", got)
	}
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", "csi", "stat", "csi.snap."+snapUUID).CombinedOutput(); err == nil {
		t.Errorf("journal object csi.snap.%s still there: %s", snapUUID, out)
	}

	// Unmount before deleting (the test's cleanups run in reverse, after
	// this function): do it here through the driver.
	target := dir
	staging := filepath.Join(filepath.Dir(dir), "staging")
	if _, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: handle, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: handle, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	deleteEventually(t, drv, handle, c.Secrets())
	if n := c.CountSubvolumes(t, "cfs1:"+testcluster.ClusterID+":"+c.FS+":"+c.Group+":"+vc["subvolumeName"]); n != 0 {
		t.Errorf("subvolume still there after delete")
	}
	if keys := rados(t, c, "listomapkeys", "csi.volumes.default"); strings.Contains(keys, request) {
		t.Errorf("ceph-csi directory still names %s", request)
	}
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", "csi", "stat", "csi.volume."+uuid).CombinedOutput(); err == nil {
		t.Errorf("journal object csi.volume.%s still there: %s", uuid, out)
	}
	_ = os.Remove(target)
}

// TestCephCSIShallowVolume serves a shallow volume ceph-csi made (its
// "snapshot-backed volume"): a journal entry naming its snapshot under
// csi.volume.backingsnapshotid, no subvolume, a context whose subvolumePath
// is the snapshot's subvolume's directory, and ceph-csi's reftracker on the
// snapshot. It is staged read-only with the snapshot's data, holds the
// snapshot, and is deleted with its journal entry only.
func TestCephCSIShallowVolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	request := "pvc-legacy-src-" + time.Now().Format("150405000")
	srcHandle, _, srcVC := legacyVolume(t, c, request)
	t.Cleanup(func() { deleteEventually(t, drv, srcHandle, c.Secrets()) })
	srcDir := c.MountVolume(t, drv, &csi.Volume{VolumeId: srcHandle, VolumeContext: srcVC})
	write(t, filepath.Join(srcDir, "old"), "snapshotted by ceph-csi")
	snapHandle, _ := legacySnapshot(t, c, srcHandle, srcVC["subvolumeName"], "snapshot-"+request)
	write(t, filepath.Join(srcDir, "later"), "not in the snapshot")

	// ceph-csi's shallow volume of that snapshot.
	uuid := newUUID()
	shallowRequest := "pvc-legacy-shallow-" + time.Now().Format("150405000")
	for _, kv := range [][3]string{
		{"csi.volume." + uuid, "csi.imagename", "csi-vol-" + uuid},
		{"csi.volume." + uuid, "csi.volname", shallowRequest},
		{"csi.volume." + uuid, "csi.volume.backingsnapshotid", snapHandle},
		{"csi.volumes.default", "csi.volume." + shallowRequest, uuid},
		{"rt-backingsnapshot-" + snapHandle, snapHandle, "1"},
		{"rt-backingsnapshot-" + snapHandle, "csi-vol-" + uuid, "1"},
	} {
		rados(t, c, "setomapval", kv[0], kv[1], kv[2])
	}
	handle := srcHandle[:len(srcHandle)-36] + uuid
	var info struct {
		Path string `json:"path"`
	}
	c.CephJSON(t, &info, "fs", "subvolume", "info", c.FS, srcVC["subvolumeName"], "--group_name", c.Group)
	vol := &csi.Volume{VolumeId: handle, VolumeContext: map[string]string{
		"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumeName": "csi-vol-" + uuid, "subvolumePath": filepath.Dir(info.Path),
	}}

	staging, target, undo := c.StagePublish(t, drv, vol, rox)
	if got := files(t, target); !slices.Equal(got, []string{"old"}) {
		t.Errorf("ceph-csi's shallow volume holds %v, want the snapshot's [old]", got)
	}
	for _, p := range []string{filepath.Join(target, "new"), filepath.Join(staging, "new")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("write %s: %v, want EROFS", p, err)
		}
	}
	if _, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: handle, CapacityRange: &csi.CapacityRange{RequiredBytes: 200 << 20}, Secrets: c.Secrets(),
	}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("expand ceph-csi's shallow volume: %v, want InvalidArgument", err)
	}
	_, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapHandle, Secrets: c.Secrets()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), handle) {
		t.Fatalf("DeleteSnapshot under ceph-csi's shallow volume: %v, want FailedPrecondition naming %s", err, handle)
	}

	undo()
	if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: handle, Secrets: c.Secrets()}); err != nil {
		t.Fatalf("DeleteVolume of ceph-csi's shallow volume: %v", err)
	}
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", "csi", "stat", "csi.volume."+uuid).CombinedOutput(); err == nil {
		t.Errorf("journal object csi.volume.%s still there: %s", uuid, out)
	}
	if got := c.Snapshots(t, "cfs1:"+testcluster.ClusterID+":"+c.FS+":"+c.Group+":"+srcVC["subvolumeName"]); len(got) != 1 {
		t.Errorf("snapshots of the source after deleting the shallow volume: %v, want the one", got)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapHandle, Secrets: c.Secrets()}); err != nil {
		t.Fatalf("DeleteSnapshot once ceph-csi's shallow volume is gone: %v", err)
	}
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", "csi", "stat", "rt-backingsnapshot-"+snapHandle).CombinedOutput(); err == nil {
		t.Errorf("ceph-csi's reftracker still there: %s", out)
	}
}
