package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestSnapshotRestoreClone: a restored snapshot holds exactly the snapshot's
// files; a clone holds the source's; no temporary snapshot stays behind; a
// volume with a snapshot can be deleted and the snapshot still restores.
func TestSnapshotRestoreClone(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()

	src := createVolume(t, drv, c, "snap-src", 100<<20, nil)
	srcDir := c.MountVolume(t, drv, src)
	write(t, filepath.Join(srcDir, "before"), "taken")

	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		Name: "snap-" + time.Now().Format("150405.000"), SourceVolumeId: src.GetVolumeId(), Secrets: c.Secrets(),
	})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snapID := snap.GetSnapshot().GetSnapshotId()
	if !snap.GetSnapshot().GetReadyToUse() || snap.GetSnapshot().GetSizeBytes() != 100<<20 || snap.GetSnapshot().GetCreationTime() == nil {
		t.Errorf("snapshot = %v", snap.GetSnapshot())
	}
	write(t, filepath.Join(srcDir, "after"), "not in the snapshot")

	fromSnap := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
	if _, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "too-small", CapacityRange: &csi.CapacityRange{RequiredBytes: 50 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: c.Secrets(), VolumeContentSource: fromSnap,
	}); status.Code(err) != codes.OutOfRange {
		t.Errorf("restore into a smaller volume: %v, want OutOfRange", err)
	}

	restored := createVolume(t, drv, c, "restored", 200<<20, fromSnap)
	if restored.GetCapacityBytes() != 200<<20 {
		t.Errorf("restored capacity %d, want the requested %d", restored.GetCapacityBytes(), 200<<20)
	}
	if got := files(t, c.MountVolume(t, drv, restored)); !slices.Equal(got, []string{"before"}) {
		t.Errorf("restored volume holds %v, want exactly the snapshot's [before]", got)
	}

	fromVol := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}}
	clone := createVolume(t, drv, c, "clone", 100<<20, fromVol)
	cloneDir := c.MountVolume(t, drv, clone)
	if got := files(t, cloneDir); !slices.Equal(got, []string{"after", "before"}) {
		t.Errorf("clone holds %v", got)
	}
	if data, _ := os.ReadFile(filepath.Join(cloneDir, "after")); string(data) != "not in the snapshot" {
		t.Errorf("clone content %q", data)
	}
	if got := c.Snapshots(t, src.GetVolumeId()); len(got) != 1 || !strings.HasPrefix(got[0], "csi-snap-") {
		t.Errorf("snapshots of the source after a clone: %v, want only the user's", got)
	}

	list, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: src.GetVolumeId(), Secrets: c.Secrets()})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetSnapshot().GetSnapshotId() != snapID {
		t.Errorf("ListSnapshots by source = %v, %v", list, err)
	}

	// The source goes; its snapshot stays restorable.
	if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: src.GetVolumeId(), Secrets: c.Secrets()}); err != nil {
		t.Fatalf("delete a volume with a snapshot: %v", err)
	}
	again := createVolume(t, drv, c, "restored-after-delete", 100<<20, fromSnap)
	if got := files(t, c.MountVolume(t, drv, again)); !slices.Equal(got, []string{"before"}) {
		t.Errorf("restore after the source was deleted holds %v", got)
	}
	for i := 0; i < 2; i++ {
		if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID, Secrets: c.Secrets()}); err != nil {
			t.Fatalf("DeleteSnapshot: %v", err)
		}
	}
	// The last snapshot of a deleted volume takes the volume with it.
	if n := c.CountSubvolumes(t, src.GetVolumeId()); n != 0 {
		t.Errorf("deleted volume still present after its last snapshot went")
	}
}

// TestExpandMounted: the quota grows while the volume is mounted and the
// mount sees the new size without a remount.
func TestExpandMounted(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	vol := createVolume(t, drv, c, "expand", 100<<20, nil)
	dir := c.MountVolume(t, drv, vol)
	resp, err := drv.Controller.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
		VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 300 << 20}, Secrets: c.Secrets(),
	})
	if err != nil || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand: %v, %v", resp, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := drv.Node.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: dir})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetUsage()[0].GetTotal() == 300<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mounted volume still reports %d bytes", st.GetUsage()[0].GetTotal())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCloneSurvivesDriverKill: the driver is killed while a clone is in
// progress; after a restart the retried CreateVolume finds the same clone
// and returns it complete: one clone, no orphan.
func TestCloneSurvivesDriverKill(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	src := createVolume(t, drv, c, "kill-src", 1<<30, nil)
	dir := c.MountVolume(t, drv, src)
	// Enough files that the mgr's copy takes a while.
	for i := 0; i < 400; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("f%03d", i)), strings.Repeat("x", 64<<10))
	}

	procDir := t.TempDir()
	p := c.StartProcess(t, procDir)
	name := "killed-clone-" + time.Now().Format("150405.000")
	req := &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: c.Secrets(),
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err := p.Controller.CreateVolume(ctx, req)
	cancel()
	t.Logf("first attempt: %v", err)
	p.Kill()

	p = c.StartProcess(t, procDir)
	var resp *csi.CreateVolumeResponse
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err = p.Controller.CreateVolume(context.Background(), req)
		if err == nil {
			break
		}
		if c := status.Code(err); (c != codes.Aborted && c != codes.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("retry after restart: %v", err)
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets()) })
	if n := c.CountSubvolumes(t, resp.GetVolume().GetVolumeId()); n != 1 {
		t.Errorf("%d subvolumes for one clone", n)
	}
	if got := len(files(t, c.MountVolume(t, drv, resp.GetVolume()))); got != 400 {
		t.Errorf("clone holds %d files, want 400", got)
	}
	if got := c.Snapshots(t, src.GetVolumeId()); len(got) != 0 {
		t.Errorf("temporary snapshot left on the source: %v", got)
	}
}
