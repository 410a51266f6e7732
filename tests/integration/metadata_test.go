package integration

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestMetadata: with the parameters csi-provisioner and csi-snapshotter add
// under --extra-create-metadata, a volume, a snapshot and a restored volume
// carry the Kubernetes names and the cluster name, as `ceph fs subvolume
// [snapshot] metadata ls` shows them (ceph-csi's keys).
func TestMetadata(t *testing.T) {
	c := testcluster.Get(t)
	drv := c.StartDriver(t, func(o *driver.Options) { o.ClusterName = "k8s-test-1" })
	ctx := context.Background()
	stamp := time.Now().Format("150405.000")

	create := func(pvc string, src *csi.VolumeContentSource) (*csi.Volume, map[string]string) {
		t.Helper()
		pv := "pvc-" + pvc + "-" + stamp
		k8s := map[string]string{
			"csi.storage.k8s.io/pvc/name": pvc, "csi.storage.k8s.io/pvc/namespace": "shop", "csi.storage.k8s.io/pv/name": pv,
		}
		params := c.Params()
		maps.Copy(params, k8s)
		resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: pv, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}, VolumeCapabilities: []*csi.VolumeCapability{rwx},
			Parameters: params, Secrets: c.Secrets(), VolumeContentSource: src,
		})
		if err != nil {
			t.Fatalf("CreateVolume %s: %v", pv, err)
		}
		t.Cleanup(func() { deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets()) })
		k8s["csi.ceph.com/cluster/name"] = "k8s-test-1"
		return resp.GetVolume(), k8s
	}
	check := func(what string, got, want map[string]string) {
		t.Helper()
		if !maps.Equal(got, want) {
			t.Errorf("%s: metadata %v, want %v", what, got, want)
		}
	}
	subvolumeMetadata := func(volID string) map[string]string {
		t.Helper()
		v, err := volumeid.DecodeVolume(volID)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]string
		c.CephJSON(t, &md, "fs", "subvolume", "metadata", "ls", v.FSName, v.Subvolume, "--group_name", v.Group)
		return md
	}

	vol, want := create("data", nil)
	check("volume", subvolumeMetadata(vol.GetVolumeId()), want)

	snapName := "snapshot-" + stamp
	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		Name: snapName, SourceVolumeId: vol.GetVolumeId(), Secrets: c.Secrets(),
		Parameters: map[string]string{
			"csi.storage.k8s.io/volumesnapshot/name": "nightly", "csi.storage.k8s.io/volumesnapshot/namespace": "shop",
			"csi.storage.k8s.io/volumesnapshotcontent/name": "snapcontent-" + stamp,
		},
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
	s, err := volumeid.DecodeSnapshot(snapID)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]string
	c.CephJSON(t, &md, "fs", "subvolume", "snapshot", "metadata", "ls", s.FSName, s.Subvolume, s.Name, "--group_name", s.Group)
	check("snapshot", md, map[string]string{
		"csi.storage.k8s.io/volumesnapshot/name": "nightly", "csi.storage.k8s.io/volumesnapshot/namespace": "shop",
		"csi.storage.k8s.io/volumesnapshotcontent/name": "snapcontent-" + stamp, "csi.ceph.com/cluster/name": "k8s-test-1",
	})

	// A restore is labelled with its own names once Ceph's copy is
	// complete.
	restored, want := create("restored", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID},
	}})
	check("restored volume", subvolumeMetadata(restored.GetVolumeId()), want)
}
