package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestDeleteLegacySubvolume: a volume whose subvolume Ceph takes for a v1
// (legacy) one — its directory without the .meta file, as a create resent to
// a new active mgr after a failover leaves it (DEVELOPERS.md) — is deleted:
// Ceph refuses --retain-snapshots there (EINVAL), so the driver removes it
// plainly; with a snapshot, the plain removal is refused and DeleteVolume
// says so (FailedPrecondition) until the snapshot is gone.
func TestDeleteLegacySubvolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()

	// The group's directory, mounted as a static volume: where the
	// subvolumes' .meta files are.
	group := &csi.Volume{VolumeId: "legacy-group-" + c.Group, VolumeContext: map[string]string{
		"clusterID": testcluster.ClusterID, "fsName": c.FS, "staticVolume": "true", "rootPath": "/volumes/" + c.Group,
	}}
	groupDir := c.MountVolume(t, drv, group)
	makeLegacy := func(volID string) {
		t.Helper()
		v, err := volumeid.DecodeVolume(volID)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(groupDir, v.Subvolume, ".meta")); err != nil {
			t.Fatal(err)
		}
		// The resent create, on the directory without .meta.
		c.Ceph(t, "fs", "subvolume", "create", c.FS, v.Subvolume, "--group_name", c.Group, "--size", "1048576")
		// A v1 subvolume's path is its directory; a v2's, a UUID below it.
		want := "/volumes/" + c.Group + "/" + v.Subvolume
		if got := strings.TrimSpace(c.Ceph(t, "fs", "subvolume", "getpath", c.FS, v.Subvolume, "--group_name", c.Group)); got != want {
			t.Fatalf("%s: path %s, want the v1 path %s", v.Subvolume, got, want)
		}
	}
	del := func(volID string) error {
		_, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID, Secrets: c.Secrets()})
		return err
	}

	plain := createVolume(t, drv, c, "legacy", 1<<20, nil)
	makeLegacy(plain.GetVolumeId())
	if err := del(plain.GetVolumeId()); err != nil {
		t.Fatalf("DeleteVolume of a v1 subvolume: %v", err)
	}
	if n := c.CountSubvolumes(t, plain.GetVolumeId()); n != 0 {
		t.Errorf("v1 subvolume still listed after DeleteVolume (%d)", n)
	}

	snapped := createVolume(t, drv, c, "legacy-snapped", 1<<20, nil)
	makeLegacy(snapped.GetVolumeId())
	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		SourceVolumeId: snapped.GetVolumeId(), Name: "legacy-snap-" + c.Group + "-" + t.Name(), Secrets: c.Secrets(),
	})
	if err != nil {
		t.Fatalf("CreateSnapshot of a v1 subvolume: %v", err)
	}
	if err := del(snapped.GetVolumeId()); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DeleteVolume of a v1 subvolume with a snapshot: %v, want FailedPrecondition (v1 cannot retain it)", err)
	} else {
		t.Logf("refused as expected: %v", err)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: c.Secrets()}); err != nil {
		t.Fatalf("DeleteSnapshot: %v", err)
	}
	if err := del(snapped.GetVolumeId()); err != nil {
		t.Fatalf("DeleteVolume once the snapshot is gone: %v", err)
	}
}

// TestCreateCompletesInterruptedSubvolume: a retried CreateVolume whose
// subvolume was left without its metadata and attributes — the directory a
// mgr made before it failed, which the new mgr took for a v1 subvolume
// (TestMgrFailover) — completes it: `info` answered ENODATA there, which
// made the retry fail for good (Internal); now the retry creates it again,
// which gives it the requested quota.
func TestCreateCompletesInterruptedSubvolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	group := &csi.Volume{VolumeId: "incomplete-group-" + c.Group, VolumeContext: map[string]string{
		"clusterID": testcluster.ClusterID, "fsName": c.FS, "staticVolume": "true", "rootPath": "/volumes/" + c.Group,
	}}
	groupDir := c.MountVolume(t, drv, group)

	req := &csi.CreateVolumeRequest{
		Name: "incomplete-" + time.Now().Format("150405.000"), CapacityRange: &csi.CapacityRange{RequiredBytes: 8 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: c.Secrets(),
	}
	first, err := drv.Controller.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetVolume().GetVolumeId()
	t.Cleanup(func() { deleteEventually(t, drv, id, c.Secrets()) })
	v, err := volumeid.DecodeVolume(id)
	if err != nil {
		t.Fatal(err)
	}
	// What the failed mgr left: the directory, no .meta, no attributes on it.
	if err := os.Remove(filepath.Join(groupDir, v.Subvolume, ".meta")); err != nil {
		t.Fatal(err)
	}
	again, err := drv.Controller.CreateVolume(ctx, req)
	if err != nil {
		t.Fatalf("CreateVolume retried on an incomplete subvolume: %v", err)
	}
	if again.GetVolume().GetVolumeId() != id || again.GetVolume().GetCapacityBytes() != 8<<20 {
		t.Errorf("retry answered %v, want %s of 8 MiB", again.GetVolume(), id)
	}
	var info struct {
		BytesQuota any    `json:"bytes_quota"`
		Path       string `json:"path"`
	}
	c.CephJSON(t, &info, "fs", "subvolume", "info", c.FS, v.Subvolume, "--group_name", c.Group)
	if q, ok := info.BytesQuota.(float64); !ok || int64(q) != 8<<20 {
		t.Errorf("completed subvolume: quota %v, want %d", info.BytesQuota, 8<<20)
	}
	t.Logf("completed as a v1 subvolume at %s", info.Path)
}
