package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// nodeHealth returns NodeGetVolumeHealth's entries for a volume published
// at target from staging, as the kubelet asks.
func nodeHealth(t *testing.T, drv *testcluster.Clients, id, target, staging string) []*csi.VolumeHealth_VolumeHealthEntry {
	t.Helper()
	resp, err := drv.Node.NodeGetVolumeHealth(context.Background(), &csi.NodeGetVolumeHealthRequest{
		VolumeId: id, VolumePublishPath: target, StagingTargetPath: staging,
	})
	if err != nil {
		t.Fatalf("NodeGetVolumeHealth: %v", err)
	}
	if got := resp.GetVolumeHealth().GetVolumeId(); got != id {
		t.Errorf("NodeGetVolumeHealth answered for %q, want %q", got, id)
	}
	return resp.GetVolumeHealth().GetHealthStatuses()
}

// TestNodeHealthSubvolumeRemoved: `fs subvolume rm` (no --force needed)
// removes a subvolume that a ceph-fuse client has mounted: it moves it to
// the trash and the mgr's purge thread unlinks it a moment later (at once
// on an idle cluster; Reef under the matrix's load let a write in first).
// From then on the client keeps answering for the removed directory (no
// links, empty, ENOENT on create). NodeGetVolumeHealth says INACCESSIBLE
// SubvolumeMissing through the publish path and the staging path;
// NodeUnpublish, NodeUnstage and DeleteVolume of the volume still succeed
// (the cleanups).
func TestNodeHealthSubvolumeRemoved(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	vol := createVolume(t, drv, c, "node-health-gone", 16<<20, nil)
	target := c.MountVolume(t, drv, vol)
	staging := filepath.Join(filepath.Dir(target), "staging")
	id := vol.GetVolumeId()
	write(t, filepath.Join(target, "file"), "before")

	if h := nodeHealth(t, drv, id, target, staging); len(h) != 0 {
		t.Fatalf("healthy volume: %v, want no entry", h)
	}
	// With the ID alone (csi-sanity asks so), the staging path NodeStage
	// recorded is looked at.
	if h := nodeHealth(t, drv, id, "", ""); len(h) != 0 {
		t.Fatalf("healthy volume by ID: %v, want no entry", h)
	}

	sv, err := volumeid.DecodeVolume(id)
	if err != nil {
		t.Fatal(err)
	}
	c.Ceph(t, "fs", "subvolume", "rm", sv.FSName, sv.Subvolume, "--group_name", sv.Group)
	removed := time.Now()
	waitFor(t, "the purge unlinking the removed subvolume's directory", func() bool {
		var sx unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, target, unix.AT_STATX_FORCE_SYNC, unix.STATX_NLINK, &sx)
		return err == nil && sx.Nlink == 0
	})
	t.Logf("the mounted directory unlinked %v after the rm", time.Since(removed).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(target, "after"), []byte("x"), 0o644); err == nil {
		t.Error("a write into the removed subvolume succeeded")
	} else {
		t.Logf("write after the removal: %v", err)
	}

	for _, paths := range [][2]string{{target, staging}, {target, ""}, {"", staging}, {"", ""}} {
		h := nodeHealth(t, drv, id, paths[0], paths[1])
		if len(h) != 1 || h[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE || h[0].GetReason() != contract.ReasonSubvolumeMissing ||
			!strings.Contains(h[0].GetMessage(), "was removed") {
			t.Errorf("paths %q: %v, want one INACCESSIBLE %s", paths, h, contract.ReasonSubvolumeMissing)
		}
	}
	t.Logf("NodeGetVolumeHealth: %v", nodeHealth(t, drv, id, target, staging))

	// Paths are checked before anything looks at them; a path with no
	// mount is not this volume on this node.
	for _, bad := range []string{"relative/path", "/a/../b", "/a\nb"} {
		_, err := drv.Node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: bad})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("publish path %q: %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := drv.Node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: t.TempDir()}); status.Code(err) != codes.NotFound {
		t.Errorf("a directory with no mount: %v, want NotFound", err)
	}
}
