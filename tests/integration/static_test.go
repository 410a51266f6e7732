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

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// addFilesystem creates a second filesystem (no MDS serves it: listing is
// all the test needs) and removes it with its pools when the test ends, or
// earlier through the returned function.
func addFilesystem(t *testing.T, c *testcluster.Cluster, name string) (remove func()) {
	t.Helper()
	c.Ceph(t, "osd", "pool", "create", name+"-metadata", "8", "8")
	c.Ceph(t, "osd", "pool", "create", name+"-data", "8", "8")
	c.Ceph(t, "fs", "new", name, name+"-metadata", name+"-data")
	removed := false
	remove = func() {
		if removed {
			return
		}
		removed = true
		c.Ceph(t, "fs", "fail", name)
		c.Ceph(t, "fs", "rm", name, "--yes-i-really-mean-it")
		for _, p := range []string{name + "-metadata", name + "-data"} {
			c.Ceph(t, "osd", "pool", "rm", p, p, "--yes-i-really-really-mean-it")
		}
	}
	t.Cleanup(remove)
	return remove
}

// TestStaticVolumeWithoutFSName: a static PV whose volumeAttributes name no
// filesystem (as ceph-csi ≥ v3.11 accepts) is refused while the cluster has
// two, naming both, and mounts the only one once the other is gone, with
// the node user Rook gives ceph-csi.
func TestStaticVolumeWithoutFSName(t *testing.T) {
	needRoot(t)
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	sub := "static-" + time.Now().Format("150405000")
	c.Ceph(t, "fs", "subvolume", "create", c.FS, sub, "--group_name", c.Group)
	t.Cleanup(func() { c.Ceph(t, "fs", "subvolume", "rm", c.FS, sub, "--group_name", c.Group) })
	path := strings.TrimSpace(c.Ceph(t, "fs", "subvolume", "getpath", c.FS, sub, "--group_name", c.Group))

	named := &csi.Volume{VolumeId: sub + "-named", VolumeContext: map[string]string{
		"clusterID": testcluster.ClusterID, "fsName": c.FS, "staticVolume": "true", "rootPath": path,
	}}
	writeSynced(t, filepath.Join(c.MountVolume(t, drv, named), "data"), "written through a PV naming its filesystem")

	nodeUser := rookUser(t, c, "csi-cephfs-node",
		[]string{"mon", "allow r", "mgr", "allow rw", "osd", "allow rw tag cephfs *=*", "mds", "allow rw"}, "userID", "userKey")
	staging := filepath.Join(t.TempDir(), "staging")
	stage := func() error {
		_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
			VolumeId: sub + "-unnamed", StagingTargetPath: staging, VolumeCapability: rwx, Secrets: nodeUser,
			VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "staticVolume": "true", "rootPath": path},
		})
		return err
	}

	remove := addFilesystem(t, c, "extrafs")
	err := stage()
	if st := status.Convert(err); st.Code() != codes.InvalidArgument ||
		!strings.Contains(st.Message(), `"fsName" is required: cluster "`+testcluster.ClusterID+`" has 2 filesystems (extrafs, `+c.FS+`)`) {
		t.Fatalf("stage without fsName, two filesystems: %v; want InvalidArgument naming both", err)
	}
	if got := mountsUnder(t, filepath.Dir(staging)); len(got) != 0 {
		t.Fatalf("refused, yet mounted: %v", got)
	}

	remove()
	if err := stage(); err != nil {
		t.Fatalf("stage without fsName, one filesystem: %v", err)
	}
	t.Cleanup(func() {
		if _, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: sub + "-unnamed", StagingTargetPath: staging}); err != nil {
			t.Errorf("unstage: %v", err)
		}
	})
	data, err := os.ReadFile(filepath.Join(staging, "data"))
	if err != nil || string(data) != "written through a PV naming its filesystem" {
		t.Fatalf("read through the PV without fsName: %q, %v", data, err)
	}
}
