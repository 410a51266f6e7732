package seed

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// TestECDataPool: a volume whose StorageClass names the EC pool lives there
// (its layout and the files written through a published mount), its data
// lands in the pool, and a snapshot of it restores, like a clone of it, into
// a volume in the EC pool with the same bytes.
func TestECDataPool(t *testing.T) {
	c := getSeed(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()

	vol := createVolume(t, drv, c, "ec", c.ecParams(), nil)
	if got := subvolumePool(t, c, vol.GetVolumeId()); got != c.ECPool {
		t.Errorf("subvolume info: data_pool %q, want %q", got, c.ECPool)
	}
	dir := c.MountVolume(t, drv, vol)
	if got := xattr(t, dir, "ceph.dir.layout.pool"); got != c.ECPool {
		t.Errorf("layout of the published volume: pool %q, want %q", got, c.ECPool)
	}

	before := poolStored(t, c, c.ECPool)
	const size = 16 << 20
	file := filepath.Join(dir, "data")
	sum := writeRandom(t, file, size, 1)
	if got := xattr(t, file, "ceph.file.layout.pool"); got != c.ECPool {
		t.Errorf("layout of a file written through the mount: pool %q, want %q", got, c.ECPool)
	}
	// The pools' statistics reach the mon with the OSDs' reports (seconds).
	waitFor(t, "the EC pool's stored bytes to grow by the file's size", func() bool {
		return poolStored(t, c, c.ECPool)-before >= size
	})

	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		Name: "ec-snap-" + time.Now().Format("150405.000"), SourceVolumeId: vol.GetVolumeId(), Secrets: c.Secrets(),
	})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snapID := snap.GetSnapshot().GetSnapshotId()
	t.Cleanup(func() {
		if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID, Secrets: c.Secrets()}); err != nil {
			t.Errorf("DeleteSnapshot: %v", err)
		}
	})

	sources := []struct {
		name   string
		params map[string]string
		src    *csi.VolumeContentSource
	}{
		// without `pool` the mgr gives a clone its snapshot's pool
		// (Pacific's create_clone), so the StorageClass need not name it
		{"restore", c.Params(), &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}},
		{"clone", c.ecParams(), &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol.GetVolumeId()}}}},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			copied := createVolume(t, drv, c, "ec-"+s.name, s.params, s.src)
			if got := subvolumePool(t, c, copied.GetVolumeId()); got != c.ECPool {
				t.Errorf("subvolume info: data_pool %q, want %q", got, c.ECPool)
			}
			copyDir := c.MountVolume(t, drv, copied)
			if got := xattr(t, filepath.Join(copyDir, "data"), "ceph.file.layout.pool"); got != c.ECPool {
				t.Errorf("layout of the copied file: pool %q, want %q", got, c.ECPool)
			}
			if fileSum(t, filepath.Join(copyDir, "data")) != sum {
				t.Errorf("the copied file differs from the source's")
			}
		})
	}
}

// subvolumePool is the data pool `fs subvolume info` gives a volume.
func subvolumePool(t *testing.T, c *seedCluster, volID string) string {
	t.Helper()
	v, err := volumeid.DecodeVolume(volID)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		DataPool string `json:"data_pool"`
	}
	c.CephJSON(t, &info, "fs", "subvolume", "info", v.FSName, v.Subvolume, "--group_name", v.Group)
	return info.DataPool
}

// xattr reads a (CephFS virtual) extended attribute.
func xattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return string(buf[:n])
}

// poolStored is what `ceph df detail` says a pool stores (bytes before
// replication or coding).
func poolStored(t *testing.T, c *seedCluster, pool string) int64 {
	t.Helper()
	var df struct {
		Pools []struct {
			Name  string
			Stats struct{ Stored int64 }
		}
	}
	c.CephJSON(t, &df, "df", "detail")
	for _, p := range df.Pools {
		if p.Name == pool {
			return p.Stats.Stored
		}
	}
	t.Fatalf("pool %q is not in `ceph df`", pool)
	return 0
}
