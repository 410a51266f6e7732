package integration

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// cephCSIClass is ceph-csi's example StorageClass (examples/cephfs/
// storageclass.yaml, v3.12 to v3.15) with every optional key that has a
// documented default set to it, the keys the provisioner adds, and keys of
// ceph-csi's cluster config that classes sometimes repeat. backingSnapshot
// comes with shallow volumes.
func cephCSIClass(c *testcluster.Cluster) map[string]string {
	params := c.Params()
	maps.Copy(params, map[string]string{
		"pool":               c.FS + "-data0", // the filesystem's default data pool
		"volumeNamePrefix":   "csi-vol-",
		"snapshotNamePrefix": "csi-snap-",
		"encrypted":          "false",
		"encryptionKMSID":    "user-ns-secrets-metadata", // without effect while encryption is off

		"csi.storage.k8s.io/provisioner-secret-name":      "csi-cephfs-secret",
		"csi.storage.k8s.io/provisioner-secret-namespace": "default",
		"csi.storage.k8s.io/node-stage-secret-name":       "csi-cephfs-secret",
		"csi.storage.k8s.io/node-stage-secret-namespace":  "default",
		"csiProvisionerSecretName":                        "csi-cephfs-secret",

		"netNamespaceFilePath": "/var/lib/kubelet/plugins/cephfs.csi.ceph.com/net",
		"readAffinity":         "true",
		"crushLocationLabels":  "topology.kubernetes.io/zone",
	})
	return params
}

// TestCephCSIStorageClass: ceph-csi's example classes, every optional key
// at its default, provision through the gRPC server exactly what the bare
// clusterID and fsName do; encryption is refused naming the key.
func TestCephCSIStorageClass(t *testing.T) {
	c := testcluster.Get(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	stamp := time.Now().Format("150405.000")

	create := func(name string, params map[string]string) (*csi.Volume, error) {
		resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
			Name: name + "-" + stamp, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20},
			VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: c.Secrets(),
		})
		if err == nil {
			t.Cleanup(func() { deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets()) })
		}
		return resp.GetVolume(), err
	}
	bare, err := create("class-bare", c.Params())
	if err != nil {
		t.Fatalf("CreateVolume, bare class: %v", err)
	}
	full, err := create("class-cephcsi", cephCSIClass(c))
	if err != nil {
		t.Fatalf("CreateVolume, ceph-csi's class: %v", err)
	}

	// The same volume but for its name: context, capacity, and what Ceph
	// recorded.
	strip := func(v *csi.Volume) map[string]string {
		vc := maps.Clone(v.GetVolumeContext())
		delete(vc, contract.CtxSubvolumeName)
		delete(vc, contract.CtxSubvolumePath)
		return vc
	}
	if a, b := strip(bare), strip(full); !maps.Equal(a, b) {
		t.Errorf("volume context: bare class %v, ceph-csi's class %v", a, b)
	}
	if bare.GetCapacityBytes() != full.GetCapacityBytes() {
		t.Errorf("capacity: bare class %d, ceph-csi's class %d", bare.GetCapacityBytes(), full.GetCapacityBytes())
	}
	type info struct {
		BytesQuota int64  `json:"bytes_quota"`
		DataPool   string `json:"data_pool"`
		Mode       int    `json:"mode"`
		UID        int    `json:"uid"`
		GID        int    `json:"gid"`
	}
	infos := make([]info, 2)
	for i, v := range []*csi.Volume{bare, full} {
		id, err := volumeid.DecodeVolume(v.GetVolumeId())
		if err != nil {
			t.Fatal(err)
		}
		c.CephJSON(t, &infos[i], "fs", "subvolume", "info", id.FSName, id.Subvolume, "--group_name", id.Group)
	}
	if infos[0] != infos[1] {
		t.Errorf("subvolume: bare class %+v, ceph-csi's class %+v", infos[0], infos[1])
	}
	if !strings.HasPrefix(full.GetVolumeContext()[contract.CtxSubvolumeName], "csi-vol-") {
		t.Errorf("subvolume name %q", full.GetVolumeContext()[contract.CtxSubvolumeName])
	}

	// ceph-csi's VolumeSnapshotClass (examples/cephfs/snapshotclass.yaml).
	snap, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		Name: "class-snap-" + stamp, SourceVolumeId: full.GetVolumeId(), Secrets: c.Secrets(),
		Parameters: map[string]string{
			"clusterID": testcluster.ClusterID, "snapshotNamePrefix": "csi-snap-",
			"csi.storage.k8s.io/snapshotter-secret-name": "csi-cephfs-secret", "csi.storage.k8s.io/snapshotter-secret-namespace": "default",
		},
	})
	if err != nil {
		t.Fatalf("CreateSnapshot, ceph-csi's class: %v", err)
	}
	if _, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: c.Secrets()}); err != nil {
		t.Errorf("DeleteSnapshot: %v", err)
	}

	// What the driver cannot do is refused, naming the key and why.
	for name, extra := range map[string]map[string]string{
		"encrypted":      {"encrypted": "true"},
		"encrypted, KMS": {"encrypted": "true", "encryptionKMSID": "vault-tokens"},
	} {
		params := cephCSIClass(c)
		maps.Copy(params, extra)
		_, err := create("class-encrypted", params)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `encrypted="true"`) || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v, want InvalidArgument naming encrypted", name, err)
		}
		if kms := extra["encryptionKMSID"]; kms != "" && !strings.Contains(err.Error(), kms) {
			t.Errorf("%s: %v does not name the KMS", name, err)
		}
	}
}
