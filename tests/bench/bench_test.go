// Package bench measures the driver against the raw Ceph floor on the
// embedded cluster: the same subvolume work through the CSI endpoint and
// straight through go-ceph. Run with `make bench`; numbers are reported, not
// asserted (the machines are shared and noisy).
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

var rwx = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

// BenchmarkCSICreateDelete: CreateVolume + DeleteVolume through the driver's
// gRPC endpoint (3 mgr commands + 1 to delete).
func BenchmarkCSICreateDelete(b *testing.B) {
	c := testcluster.Get(b)
	drv := c.StartDriver(b, nil)
	ctx := context.Background()
	run := time.Now().UnixNano()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: fmt.Sprintf("bench-%d-%d", run, i), CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
			VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: c.Secrets(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId(), Secrets: c.Secrets()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawCreateDelete: the floor: subvolume create + getpath-equivalent
// info + rm straight through go-ceph on one connection.
func BenchmarkRawCreateDelete(b *testing.B) {
	c := testcluster.Get(b)
	cfg, err := config.Load(c.ConfigFile(b))
	if err != nil {
		b.Fatal(err)
	}
	cluster, _ := cfg.Cluster(testcluster.ClusterID)
	pool := ceph.NewPool(10*time.Second, time.Minute)
	defer pool.Close()
	ctx := context.Background()
	a, err := pool.Connect(ctx, cluster, contract.Credentials{ID: "admin", Key: c.AdminKey})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Release()
	run := time.Now().UnixNano()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := volumeid.DeriveName("raw-", fmt.Sprintf("%d-%d", run, i))
		if err := a.CreateSubvolume(ctx, ceph.SubvolumeSpec{FSName: c.FS, Group: c.Group, Name: name, Size: 1 << 30}); err != nil {
			b.Fatal(err)
		}
		if _, err := a.SubvolumeInfo(ctx, c.FS, c.Group, name); err != nil {
			b.Fatal(err)
		}
		if err := a.RemoveSubvolume(ctx, c.FS, c.Group, name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCSIStageUnstage: NodeStageVolume (a ceph-fuse mount) +
// NodeUnstageVolume through the driver.
func BenchmarkCSIStageUnstage(b *testing.B) {
	c := testcluster.Get(b)
	drv := c.StartDriver(b, nil)
	ctx := context.Background()
	resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: fmt.Sprintf("bench-stage-%d", time.Now().UnixNano()), VolumeCapabilities: []*csi.VolumeCapability{rwx},
		Parameters: c.Params(), Secrets: c.Secrets(),
	})
	if err != nil {
		b.Fatal(err)
	}
	vol := resp.GetVolume()
	defer drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: c.Secrets()})
	staging := filepath.Join(b.TempDir(), "staging")
	b.Cleanup(func() { // also when an iteration failed half-way
		_, _ = drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: vol.GetVolumeId(), StagingTargetPath: staging, VolumeCapability: rwx,
			VolumeContext: vol.GetVolumeContext(), Secrets: c.Secrets(),
		}); err != nil {
			b.Fatal(err)
		}
		if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawFuseMount: the floor for staging: ceph-fuse on the same path
// and umount, with a keyring file, by hand.
func BenchmarkRawFuseMount(b *testing.B) {
	c := testcluster.Get(b)
	dir := b.TempDir()
	keyring := filepath.Join(dir, "keyring")
	if err := os.WriteFile(keyring, []byte("[client.admin]\n\tkey = "+c.AdminKey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	path := strings.TrimSpace(c.Ceph(b, "fs", "subvolumegroup", "getpath", c.FS, c.Group))
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0o750); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Command("ceph-fuse", mnt, "-c", "/dev/null", "-m", c.Mon, "--id", "admin", "--keyring", keyring,
			"--client_fs", c.FS, "-r", path).CombinedOutput()
		if err != nil {
			b.Fatalf("ceph-fuse: %v\n%s", err, out)
		}
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			b.Fatalf("umount: %v\n%s", err, out)
		}
	}
}
