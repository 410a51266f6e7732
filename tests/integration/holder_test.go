package integration

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountholder"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// startHolder runs a mount holder for targets below the temporary
// directory, stopped when the test ends, and returns its socket.
func startHolder(t *testing.T) (string, *mountholder.Client) {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "holder.sock")
	s := &mountholder.Server{Root: os.TempDir(), KeyDir: filepath.Join(dir, "keys"), MountTimeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, socket) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mount holder: %v", err)
		}
		if left, _ := os.ReadDir(s.KeyDir); len(left) != 0 {
			t.Errorf("key files left in the holder's directory: %v", left)
		}
	})
	c := &mountholder.Client{Socket: socket}
	waitFor(t, "the mount holder", func() bool { _, err := c.Mounts(context.Background()); return err == nil })
	return socket, c
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMountHolder: with --mount-holder-socket, ceph-fuse runs in the mount
// holder, not in the node plugin; a second node plugin (as after a restart)
// publishes, checks and unstages the mount the first one asked for; the
// holder forgets a ceph-fuse once the unmount ends it; and when the
// holder's ceph-fuse dies (the holder's pod deleted), the next NodePublish
// — from a plugin that started after NodeStage — or NodeStage mounts again
// through it.
func TestMountHolder(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	socket, holder := startHolder(t)
	viaHolder := func(o *driver.Options) { o.MountHolderSocket = socket; o.DefaultMounter = "fuse" }
	first := c.StartDriver(t, viaHolder)
	vol := createVolume(t, first, c, "holder", 64<<20, nil)
	ctx := context.Background()
	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	stage := func(drv *testcluster.Clients) {
		t.Helper()
		if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: rwx,
			VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
		}); err != nil {
			t.Fatalf("stage: %v", err)
		}
	}
	stage(first)
	list, err := holder.Mounts(ctx)
	if err != nil || len(list) != 1 || list[0].Target != staging {
		t.Fatalf("the holder runs %+v (%v), want one ceph-fuse for %s", list, err, staging)
	}
	pid := list[0].PID

	// A node plugin that did not make the mount serves it.
	second := c.StartDriver(t, viaHolder)
	publish := func(target string) {
		t.Helper()
		if _, err := second.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, TargetPath: target, VolumeCapability: rwx,
			VolumeContext: vol.GetVolumeContext(),
		}); err != nil {
			t.Fatalf("publish at %s: %v", target, err)
		}
	}
	publish(target)
	writeSynced(t, filepath.Join(target, "file"), "through the holder")
	stats, err := second.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	if err != nil || len(stats.GetUsage()) == 0 {
		t.Fatalf("stats: %v, %v", stats, err)
	}

	// The holder's ceph-fuse dies (the holder's pod deleted): the mount is
	// dead. The second plugin, started after NodeStage, learned from the
	// holder what the mount was made with: the next NodePublish (a new pod)
	// mounts it again through the holder, and the data is there.
	killHeld := func(pid int) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the holder forgetting the killed ceph-fuse", func() bool { l, _ := holder.Mounts(ctx); return len(l) == 0 })
	}
	killHeld(pid)
	target2 := filepath.Join(dir, "target2")
	publish(target2)
	list, _ = holder.Mounts(ctx)
	if len(list) != 1 || list[0].PID == pid {
		t.Fatalf("after the publish the holder runs %+v", list)
	}
	// This read waits until the MDS gives up the killed client's session
	// and its caps on the file (≈ 35 s here): what a pod sees after the
	// holder's pod is deleted.
	if got := readFile(t, filepath.Join(target2, "file")); got != "through the holder" {
		t.Errorf("after the publish mounted again the file holds %q", got)
	}

	// Killed again: the pods go, and the next NodeStage mounts again.
	killHeld(list[0].PID)
	for _, target := range []string{target, target2} {
		if _, err := second.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
			t.Fatalf("unpublish of a dead mount: %v", err)
		}
	}
	stage(second)
	if l, _ := holder.Mounts(ctx); len(l) != 1 || l[0].PID == list[0].PID {
		t.Fatalf("after the new stage the holder runs %+v", l)
	}
	publish(target)
	if _, err := second.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
		t.Fatalf("unpublish: %v", err)
	}
	if _, err := second.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
		t.Fatalf("unstage: %v", err)
	}
	// The unmount ends ceph-fuse, and the holder forgets it.
	waitFor(t, "the holder's ceph-fuse ending with the unmount", func() bool { l, _ := holder.Mounts(ctx); return len(l) == 0 })
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
