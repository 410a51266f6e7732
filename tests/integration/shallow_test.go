package integration

import (
	"context"
	"errors"
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
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

var rox = mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)

func fromSnapshot(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

// noClone checks that Ceph knows no clone, nor any subvolume, of a name.
func noClone(t *testing.T, c *testcluster.Cluster, name string) {
	t.Helper()
	out, err := exec.Command("ceph", "-c", c.Conf, "fs", "clone", "status", c.FS, name, "--group_name", c.Group).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ENOENT") {
		t.Errorf("fs clone status %s: %v: %s; want ENOENT (no clone)", name, err, out)
	}
	if ls := c.Ceph(t, "fs", "subvolume", "ls", c.FS, "--group_name", c.Group); strings.Contains(ls, name) {
		t.Errorf("a subvolume %s exists for a shallow volume: %s", name, ls)
	}
}

// TestShallowVolume: a ReadOnlyMany volume restored from a snapshot is the
// snapshot itself: no clone, no subvolume, its data, read-only; it holds
// the snapshot (DeleteSnapshot refused) until it is deleted, outlives its
// source volume, and refuses writable access, expansion and snapshots.
func TestShallowVolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	stamp := time.Now().Format("150405.000")

	src := createVolume(t, drv, c, "shallow-src", 100<<20, nil)
	srcDir := c.MountVolume(t, drv, src)
	write(t, filepath.Join(srcDir, "before"), "in the snapshot")
	if err := os.Mkdir(filepath.Join(srcDir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(srcDir, "dir", "nested"), "nested")
	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "shallow-snap-" + stamp, SourceVolumeId: src.GetVolumeId(), Secrets: c.Secrets()})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snapID := snap.GetSnapshot().GetSnapshotId()
	write(t, filepath.Join(srcDir, "after"), "not in the snapshot")

	req := &csi.CreateVolumeRequest{
		Name: "shallow-" + stamp, CapacityRange: &csi.CapacityRange{RequiredBytes: 100 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{rox}, Parameters: c.Params(), Secrets: c.Secrets(),
		VolumeContentSource: fromSnapshot(snapID),
	}
	resp, err := drv.Controller.CreateVolume(ctx, req)
	if err != nil {
		t.Fatalf("CreateVolume ROX from a snapshot: %v", err)
	}
	vol := resp.GetVolume()
	t.Cleanup(func() { deleteEventually(t, drv, vol.GetVolumeId(), c.Secrets()) })
	sh, err := volumeid.DecodeShallow(vol.GetVolumeId())
	if err != nil {
		t.Fatalf("volume ID %q is not a shallow one: %v", vol.GetVolumeId(), err)
	}
	noClone(t, c, sh.Name)
	if again, err := drv.Controller.CreateVolume(ctx, req); err != nil || again.GetVolume().GetVolumeId() != vol.GetVolumeId() {
		t.Errorf("CreateVolume again = %v, %v; want the same volume", again, err)
	}

	staging, target, undo := c.StagePublish(t, drv, vol, rox)
	if got := files(t, target); !slices.Equal(got, []string{"before", "dir"}) {
		t.Errorf("shallow volume holds %v, want the snapshot's [before dir]", got)
	}
	if data, err := os.ReadFile(filepath.Join(target, "dir", "nested")); err != nil || string(data) != "nested" {
		t.Errorf("nested file: %q, %v", data, err)
	}
	for _, p := range []string{filepath.Join(target, "new"), filepath.Join(target, "before"), filepath.Join(staging, "new")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("write %s: %v, want EROFS", p, err)
		}
	}
	st, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	if err != nil || len(st.GetUsage()) == 0 {
		t.Errorf("NodeGetVolumeStats = %v, %v", st, err)
	}
	noClone(t, c, sh.Name)

	// What a read-only snapshot cannot do.
	writable := &csi.NodeStageVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: filepath.Join(t.TempDir(), "rw"), VolumeCapability: rwx,
		VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
	}
	if _, err := drv.Node.NodeStageVolume(ctx, writable); status.Code(err) != codes.InvalidArgument {
		t.Errorf("stage a shallow volume read-write: %v, want InvalidArgument", err)
	}
	if _, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 200 << 20}, Secrets: c.Secrets(),
	}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("expand a shallow volume: %v, want InvalidArgument", err)
	}
	if _, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "of-shallow-" + stamp, SourceVolumeId: vol.GetVolumeId(), Secrets: c.Secrets()}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("snapshot a shallow volume: %v, want InvalidArgument", err)
	}
	v, err := drv.Controller.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: vol.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{rwx}, Secrets: c.Secrets()})
	if err != nil || v.GetConfirmed() != nil {
		t.Errorf("ValidateVolumeCapabilities RWX = %v, %v; want not confirmed", v, err)
	}
	for name, params := range map[string]map[string]string{"rwx": {"backingSnapshot": "true"}, "bad": {"backingSnapshot": "maybe"}} {
		p := c.Params()
		for k, v := range params {
			p[k] = v
		}
		_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: "shallow-refused-" + name, VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: p, Secrets: c.Secrets(),
			VolumeContentSource: fromSnapshot(snapID),
		})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "backingSnapshot") {
			t.Errorf("CreateVolume %s with %v: %v, want InvalidArgument naming backingSnapshot", name, params, err)
		}
	}

	// The snapshot is held.
	_, err = drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID, Secrets: c.Secrets()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), vol.GetVolumeId()) {
		t.Fatalf("DeleteSnapshot while a shallow volume uses it: %v, want FailedPrecondition naming %s", err, vol.GetVolumeId())
	}

	// The source volume goes (its snapshot is retained): a shallow volume
	// made now still finds the snapshot's directory.
	if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: src.GetVolumeId(), Secrets: c.Secrets()}); err != nil {
		t.Fatalf("delete the source: %v", err)
	}
	late, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "shallow-late-" + stamp, VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY)},
		Parameters: c.Params(), Secrets: c.Secrets(), VolumeContentSource: fromSnapshot(snapID), CapacityRange: &csi.CapacityRange{RequiredBytes: 100 << 20},
	})
	if err != nil {
		t.Fatalf("shallow volume after the source's deletion: %v", err)
	}
	_, lateTarget, undoLate := c.StagePublish(t, drv, late.GetVolume(), rox)
	if got := files(t, lateTarget); !slices.Equal(got, []string{"before", "dir"}) {
		t.Errorf("shallow volume of a deleted source's snapshot holds %v", got)
	}
	if got := files(t, target); !slices.Equal(got, []string{"before", "dir"}) {
		t.Errorf("first shallow volume after the source's deletion holds %v", got)
	}

	// Once no shallow volume uses it, the snapshot goes.
	undo()
	undoLate()
	for _, id := range []string{vol.GetVolumeId(), late.GetVolume().GetVolumeId(), vol.GetVolumeId()} {
		if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets()}); err != nil {
			t.Fatalf("DeleteVolume %s: %v", id, err)
		}
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID, Secrets: c.Secrets()}); err != nil {
		t.Fatalf("DeleteSnapshot once its shallow volumes are gone: %v", err)
	}
	// Ceph removes a retained subvolume with its last snapshot, but a
	// moment later under load: wait for it.
	waitFor(t, "the source purged with its last snapshot", func() bool { return c.CountSubvolumes(t, src.GetVolumeId()) == 0 })
}

// TestShallowOffClones: backingSnapshot "false" restores a ReadOnlyMany
// volume as a full clone, a subvolume of its own.
func TestShallowOffClones(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	src := createVolume(t, drv, c, "shallow-off-src", 100<<20, nil)
	write(t, filepath.Join(c.MountVolume(t, drv, src), "data"), "copied")
	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "shallow-off-" + time.Now().Format("150405.000"), SourceVolumeId: src.GetVolumeId(), Secrets: c.Secrets()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: c.Secrets()}); err != nil {
			t.Errorf("DeleteSnapshot: %v", err)
		}
	})
	p := c.Params()
	p["backingSnapshot"] = "false"
	resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "shallow-off-" + time.Now().Format("150405.000"), CapacityRange: &csi.CapacityRange{RequiredBytes: 100 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{rox}, Parameters: p, Secrets: c.Secrets(),
		VolumeContentSource: fromSnapshot(snap.GetSnapshot().GetSnapshotId()),
	})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	vol := resp.GetVolume()
	t.Cleanup(func() { deleteEventually(t, drv, vol.GetVolumeId(), c.Secrets()) })
	v, err := volumeid.DecodeVolume(vol.GetVolumeId())
	if err != nil {
		t.Fatalf("backingSnapshot=false gave %q, not a subvolume's ID: %v", vol.GetVolumeId(), err)
	}
	var st struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	c.CephJSON(t, &st, "fs", "clone", "status", c.FS, v.Subvolume, "--group_name", c.Group)
	if st.Status.State != "complete" {
		t.Errorf("clone state %q, want complete", st.Status.State)
	}
	_, target, _ := c.StagePublish(t, drv, vol, rox)
	if got := files(t, target); !slices.Equal(got, []string{"data"}) {
		t.Errorf("clone holds %v", got)
	}
}

// TestStaticShallowVolume: a static volume with ceph-csi's backingSnapshotID
// on a rootPath (a subvolume's path) is the snapshot as Ceph shows it below
// the directory it was taken at, .snap/_<name>_<inode>.
func TestStaticShallowVolume(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	src := createVolume(t, drv, c, "static-shallow-src", 100<<20, nil)
	write(t, filepath.Join(c.MountVolume(t, drv, src), "kept"), "in the snapshot")
	v, err := volumeid.DecodeVolume(src.GetVolumeId())
	if err != nil {
		t.Fatal(err)
	}
	snap := "nightly-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	c.Ceph(t, "fs", "subvolume", "snapshot", "create", c.FS, v.Subvolume, snap, "--group_name", c.Group)
	t.Cleanup(func() {
		c.Ceph(t, "fs", "subvolume", "snapshot", "rm", c.FS, v.Subvolume, snap, "--group_name", c.Group)
	})
	vol := &csi.Volume{VolumeId: "static-" + snap, VolumeContext: map[string]string{
		"clusterID": testcluster.ClusterID, "fsName": c.FS, "staticVolume": "true",
		"rootPath": src.GetVolumeContext()["subvolumePath"], "backingSnapshotID": snap,
	}}
	_, target, undo := c.StagePublish(t, drv, vol, rox)
	defer undo()
	if got := files(t, target); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("static shallow volume holds %v", got)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write: %v, want EROFS", err)
	}
}
