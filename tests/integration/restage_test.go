package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// cephFusePIDs are the ceph-fuse processes whose command line names path.
func cephFusePIDs(t *testing.T, path string) []int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if filepath.Base(args[0]) == "ceph-fuse" && strings.Contains(string(data), path) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPublishRestages: when ceph-fuse dies under a staged volume, a new
// NodePublish (a new pod on the node) mounts the staging path again with
// what NodeStage gave, held in memory; a node plugin that started after
// NodeStage holds nothing and says so.
func TestPublishRestages(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	fuse := func(o *driver.Options) { o.DefaultMounter = "fuse" }
	drv := c.StartDriver(t, fuse)
	vol := createVolume(t, drv, c, "restage", 64<<20, nil)
	ctx := context.Background()
	dir := t.TempDir()
	staging := filepath.Join(dir, "staging")
	if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: rwx,
		VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("stage: %v", err)
	}
	t.Cleanup(func() {
		if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
			t.Errorf("unstage: %v", err)
		}
	})
	publish := func(d *testcluster.Clients, target string) error {
		_, err := d.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, TargetPath: target, VolumeCapability: rwx,
			VolumeContext: vol.GetVolumeContext(),
		})
		if err == nil {
			t.Cleanup(func() {
				if _, err := d.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
					t.Errorf("unpublish: %v", err)
				}
			})
		}
		return err
	}
	kill := func() {
		t.Helper()
		pids := cephFusePIDs(t, staging)
		if len(pids) != 1 {
			t.Fatalf("ceph-fuse processes for %s: %v", staging, pids)
		}
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ceph-fuse gone", func() bool { return len(cephFusePIDs(t, staging)) == 0 })
	}
	if err := publish(drv, filepath.Join(dir, "pod-a")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	writeSynced(t, filepath.Join(dir, "pod-a", "file"), "kept")

	kill()
	if err := publish(drv, filepath.Join(dir, "pod-b")); err != nil {
		t.Fatalf("publish after ceph-fuse died: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "pod-b", "file")); got != "kept" {
		t.Errorf("the new pod reads %q", got)
	}

	// A node plugin that started after NodeStage cannot, and says why.
	kill()
	later := c.StartDriver(t, fuse)
	err := publish(later, filepath.Join(dir, "pod-c"))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("publish by a plugin without credentials: %v", err)
	}
}
