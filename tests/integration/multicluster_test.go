package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestTwoClusters: one driver serves two clusters by clusterID; each volume
// lands in its own cluster and is deleted there; Probe follows both.
func TestTwoClusters(t *testing.T) {
	fault := testcluster.Fault(t)
	shared := testcluster.Get(t)
	cfg := testcluster.ConfigFile(t, map[string]*testcluster.Cluster{"fault": fault, "shared": shared})
	drv := fault.StartDriver(t, func(o *driver.Options) { o.ClusterConfig = cfg })
	ctx := context.Background()

	for id, c := range map[string]*testcluster.Cluster{"fault": fault, "shared": shared} {
		params := map[string]string{"clusterID": id, "fsName": c.FS}
		resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: "two-clusters-" + id, VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: c.Secrets(),
		})
		if err != nil {
			t.Fatalf("create on %s: %v", id, err)
		}
		volID := resp.GetVolume().GetVolumeId()
		if !strings.HasPrefix(volID, "cfs1:"+id+":") {
			t.Errorf("volume on %s has ID %s", id, volID)
		}
		// The test clusters' own IDs in the ID map to the same cluster dirs.
		local := "cfs1:" + testcluster.ClusterID + strings.TrimPrefix(volID, "cfs1:"+id)
		if n := c.CountSubvolumes(t, local); n != 1 {
			t.Errorf("volume %s not in cluster %s", volID, id)
		}
		if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volID, Secrets: c.Secrets()}); err != nil {
			t.Fatalf("delete on %s: %v", id, err)
		}
		if n := c.CountSubvolumes(t, local); n != 0 {
			t.Errorf("volume %s still in cluster %s after delete", volID, id)
		}
	}
	if !probeReady(t, drv) {
		t.Fatal("not ready with both clusters up")
	}
	fault.Run(t, "mon-stop")
	defer fault.Run(t, "mon-start")
	if probeReady(t, drv) {
		t.Error("ready while one of two clusters is unreachable")
	}
}
