// Package integration exercises the driver through its gRPC endpoint, with
// real ceph-fuse mounts, on the embedded cluster that tests may break: a
// killed ceph-fuse, a stopped mon, a stalled mgr. Tests here run one at a
// time.
package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func needRoot(t *testing.T) {
	testcluster.RequireRoot(t, "mounting needs root")
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

// mountOptions are the per-mount options of the topmost mount at path.
func mountOptions(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var opts []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == path {
			opts = strings.Split(f[5], ",")
		}
	}
	if opts == nil {
		t.Fatalf("%s is not mounted", path)
	}
	return opts
}

// cephFusePID finds the ceph-fuse process serving mountpoint.
func cephFusePID(t *testing.T, mountpoint string) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "ceph-fuse "+mountpoint+" ").Output()
	if err != nil {
		t.Fatalf("no ceph-fuse for %s: %v", mountpoint, err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(out))[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestNodeLifecycle(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	secrets := c.Secrets()
	rw := rwx
	vol := createVolume(t, drv, c, "node-lifecycle", 200<<20, nil)
	id, vc := vol.GetVolumeId(), vol.GetVolumeContext()
	staging := filepath.Join(dir, "staging")
	stage := func() error {
		_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: id, StagingTargetPath: staging, VolumeCapability: rw, VolumeContext: vc, Secrets: secrets,
		})
		return err
	}
	publish := func(target string, ro bool) error {
		_, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: rw, Readonly: ro, VolumeContext: vc,
		})
		return err
	}
	stats := func(path string) *csi.NodeGetVolumeStatsResponse {
		t.Helper()
		resp, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: path})
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		return resp
	}
	a, b, ro := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "ro")

	if err := publish(a, false); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("publish before stage: %v, want FailedPrecondition", err)
	}
	if err := stage(); err != nil {
		t.Fatalf("stage: %v", err)
	}
	if err := stage(); err != nil {
		t.Fatalf("stage again: %v", err)
	}
	for _, target := range []string{a, b} {
		if err := publish(target, false); err != nil {
			t.Fatalf("publish %s: %v", target, err)
		}
	}
	if err := publish(a, false); err != nil {
		t.Fatalf("publish again: %v", err)
	}
	if err := publish(ro, true); err != nil {
		t.Fatalf("publish read-only: %v", err)
	}

	if err := os.WriteFile(filepath.Join(a, "hello"), []byte("from a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(b, "hello")); err != nil || string(got) != "from a" {
		t.Fatalf("read in b: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(ro, "nope"), []byte("x"), 0o644); err == nil {
		t.Fatal("write through a read-only publish succeeded")
	} else if !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("read-only write error: %v", err)
	}
	// The read-only bind is read-only in the mount table, and keeps the
	// staging mount's other flags (a bind remount clears those not given).
	stagingOpts, roOpts, rwOpts := mountOptions(t, staging), mountOptions(t, ro), mountOptions(t, a)
	if !slices.Contains(roOpts, "ro") || !slices.Contains(rwOpts, "rw") {
		t.Errorf("mount options: read-only publish %v, writable publish %v", roOpts, rwOpts)
	}
	for _, o := range []string{"nosuid", "nodev", "noexec", "noatime", "relatime"} {
		if slices.Contains(stagingOpts, o) != slices.Contains(roOpts, o) {
			t.Errorf("%s: staging mount %v, read-only publish %v", o, stagingOpts, roOpts)
		}
	}

	st := stats(a)
	if h := nodeHealth(t, drv, id, a, staging); len(h) != 0 {
		t.Fatalf("healthy volume: %v, want no adverse entry", h)
	}
	if total := st.GetUsage()[0].GetTotal(); total != 200<<20 {
		t.Errorf("stats total = %d, want the quota %d", total, 200<<20)
	}
	// The volume's root holds one file: CephFS has no inode limit, so the
	// count is used only (ceph-fuse's statfs says 2^64-1 free).
	if inodes := st.GetUsage()[1]; inodes.GetUnit() != csi.VolumeUsage_INODES || inodes.GetUsed() < 1 ||
		inodes.GetAvailable() != 0 || inodes.GetTotal() != 0 {
		t.Errorf("inode usage %v: want used ≥ 1, no total or available", inodes)
	}
	if _, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: dir}); status.Code(err) != codes.NotFound {
		t.Errorf("stats of a non-mount: %v, want NotFound", err)
	}

	// A dead ceph-fuse: INACCESSIBLE ClientDisconnected, stats refused,
	// staging again recovers.
	if err := syscall.Kill(cephFusePID(t, staging), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := nodeHealth(t, drv, id, a, staging)
		if len(h) == 1 && h[0].GetStatus() == csi.VolumeHealthErrorType_INACCESSIBLE && h[0].GetReason() == contract.ReasonClientDisconnected {
			t.Logf("killed ceph-fuse: %v", h[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed ceph-fuse: %v, want INACCESSIBLE %s", h, contract.ReasonClientDisconnected)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: staging}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("stats of a dead mount: %v, want FailedPrecondition", err)
	}
	if err := stage(); err != nil {
		t.Fatalf("stage after ceph-fuse died: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(staging, "hello")); err != nil || string(got) != "from a" {
		t.Fatalf("data after recovery: %q, %v", got, err)
	}
	// The old bind mount died with ceph-fuse; unpublish cleans it, publish again works.
	for _, target := range []string{a, b, ro} {
		if _, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}); err != nil {
			t.Fatalf("unpublish %s: %v", target, err)
		}
	}
	if err := publish(a, false); err != nil {
		t.Fatalf("publish after recovery: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(a, "hello")); err != nil || string(got) != "from a" {
		t.Fatalf("read after republish: %q, %v", got, err)
	}

	for i := 0; i < 2; i++ {
		if _, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: a}); err != nil {
			t.Fatalf("unpublish: %v", err)
		}
		if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
			t.Fatalf("unstage: %v", err)
		}
	}
	if m := mountsUnder(t, dir); len(m) != 0 {
		t.Errorf("mounts left behind: %v", m)
	}
	for _, p := range []string{a, b, ro, staging} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}

// deleteEventually deletes a volume, retrying while the MDS still waits for
// a killed client's session to time out (it holds capabilities on the
// subvolume until then), as a CO would retry.
func deleteEventually(t *testing.T, drv *testcluster.Clients, id string, secrets map[string]string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, err := drv.Controller.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets})
		if err == nil {
			return
		}
		if c := status.Code(err); (c != codes.Unavailable && c != codes.DeadlineExceeded) || time.Now().After(deadline) {
			t.Errorf("delete %s: %v", id, err)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// TestUnmountBusy: a mount in use is not unmounted, lazily or otherwise:
// NodeUnpublish and NodeUnstage answer Unavailable, saying why, after
// trying for a moment, and succeed once it is no longer in use.
func TestUnmountBusy(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	vol := createVolume(t, drv, c, "unmount-busy", 64<<20, nil)
	id := vol.GetVolumeId()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("stage: %v", err)
	}
	if _, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(),
	}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	busy := func(path string, call func() error) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		err = call()
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "still in use") {
			t.Errorf("%s while open: %v, want Unavailable", path, err)
		}
		if !slices.Contains(mountsUnder(t, dir), path) {
			t.Errorf("%s was unmounted while in use", path)
		}
		f.Close()
		if err := call(); err != nil {
			t.Fatalf("%s once closed: %v", path, err)
		}
	}
	busy(target, func() error {
		_, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		return err
	})
	busy(staging, func() error {
		_, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		return err
	})
	if m := mountsUnder(t, dir); len(m) != 0 {
		t.Errorf("mounts left behind: %v", m)
	}
}
