package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestBadInput sends malformed requests to every RPC through the socket:
// each gets its precise code and a message naming the problem, never a
// panic or Internal, and no secret in the message.
func TestBadInput(t *testing.T) {
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	secrets := c.Secrets()
	params := c.Params()
	withParam := func(k, v string) map[string]string {
		m := map[string]string{}
		for pk, pv := range params {
			m[pk] = pv
		}
		m[k] = v
		return m
	}
	block := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
	badKey := map[string]string{"adminID": "admin", "adminKey": "AQD-this-is-not-base64!!"}
	missingVol := "cfs1:" + testcluster.ClusterID + ":" + c.FS + ":csi:csi-vol-doesnotexist00000000"
	tests := []struct {
		name string
		call func() error
		want codes.Code
		msg  string
	}{
		{"create: no name", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: secrets})
			return err
		}, codes.InvalidArgument, "name is required"},
		{"create: block", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{block}, Parameters: params, Secrets: secrets})
			return err
		}, codes.InvalidArgument, "block access"},
		{"create: unknown parameter", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: withParam("fsname", "typo"), Secrets: secrets})
			return err
		}, codes.InvalidArgument, `"fsname"`},
		{"create: malformed key", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: badKey})
			return err
		}, codes.InvalidArgument, "not a base64 CephX key"},
		{"create: limit below request", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", CapacityRange: &csi.CapacityRange{RequiredBytes: 5 << 20, LimitBytes: 6 << 20}, VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: secrets})
			return err
		}, codes.OutOfRange, "limit"},
		{"create: name too long for an ID", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: withParam("volumeNamePrefix", strings.Repeat("p", 120)), Secrets: secrets})
			return err
		}, codes.InvalidArgument, "128 bytes"},
		{"create: source snapshot missing", func() error {
			_, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: params, Secrets: secrets,
				VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: missingVol + ":snap"}}}})
			return err
		}, codes.NotFound, "source snapshot"},
		{"delete: no ID", func() error {
			_, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{Secrets: secrets})
			return err
		}, codes.InvalidArgument, "volume ID"},
		{"expand: missing volume", func() error {
			_, err := drv.Controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: missingVol, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}, Secrets: secrets})
			return err
		}, codes.NotFound, "does not exist"},
		{"snapshot: missing source", func() error {
			_, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: missingVol, Secrets: secrets})
			return err
		}, codes.NotFound, "does not exist"},
		{"snapshot: unknown parameter", func() error {
			_, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: missingVol, Secrets: secrets, Parameters: map[string]string{"pool": "x"}})
			return err
		}, codes.InvalidArgument, `"pool"`},
		{"list snapshots: bad token", func() error {
			_, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "zz", Secrets: secrets})
			return err
		}, codes.Aborted, "starting token"},
		{"stage: no staging path", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, VolumeCapability: rwx, Secrets: secrets})
			return err
		}, codes.InvalidArgument, "staging target path"},
		{"stage: option injection", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), VolumeCapability: rwx, Secrets: secrets,
				VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumePath": "/volumes/csi/x", "fuseMountOptions": "debug --id=admin"}})
			return err
		}, codes.InvalidArgument, "mount options"},
		{"stage: malformed key", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), VolumeCapability: rwx, Secrets: badKey,
				VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumePath": "/volumes/csi/x"}})
			return err
		}, codes.InvalidArgument, "not a base64 CephX key"},
		{"stage: rootPath with ..", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), VolumeCapability: rwx, Secrets: secrets,
				VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "staticVolume": "true", "rootPath": "/volumes/csi/../../"}})
			return err
		}, codes.InvalidArgument, `volume context "rootPath" "/volumes/csi/../../": a ".." element`},
		{"stage: subvolumePath with newline", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), VolumeCapability: rwx, Secrets: secrets,
				VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumePath": "/volumes/csi/x\n/y"}})
			return err
		}, codes.InvalidArgument, `volume context "subvolumePath"`},
		{"stage: staging path with NUL", func() error {
			_, err := drv.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir() + "\x00x", VolumeCapability: rwx, Secrets: secrets,
				VolumeContext: map[string]string{"clusterID": testcluster.ClusterID, "fsName": c.FS, "subvolumePath": "/volumes/csi/x"}})
			return err
		}, codes.InvalidArgument, "staging target path"},
		{"unstage: relative staging path", func() error {
			_, err := drv.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: missingVol, StagingTargetPath: "staging"})
			return err
		}, codes.InvalidArgument, "staging target path \"staging\": want an absolute path"},
		{"publish: target with ..", func() error {
			_, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), TargetPath: t.TempDir() + "/../t", VolumeCapability: rwx})
			return err
		}, codes.InvalidArgument, "target path"},
		{"publish: staging path with newline", func() error {
			_, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir() + "\n", TargetPath: t.TempDir() + "/t", VolumeCapability: rwx})
			return err
		}, codes.InvalidArgument, "staging target path"},
		{"unpublish: target with ..", func() error {
			_, err := drv.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: missingVol, TargetPath: "/tmp/../etc"})
			return err
		}, codes.InvalidArgument, "target path"},
		{"stats: volume path with ..", func() error {
			_, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: missingVol, VolumePath: "/tmp/../etc"})
			return err
		}, codes.InvalidArgument, "volume path"},
		{"publish: not staged", func() error {
			_, err := drv.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: missingVol, StagingTargetPath: t.TempDir(), TargetPath: t.TempDir() + "/t", VolumeCapability: rwx})
			return err
		}, codes.FailedPrecondition, "not staged"},
		{"stats: missing path", func() error {
			_, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: missingVol, VolumePath: "/nonexistent/path"})
			return err
		}, codes.NotFound, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != tt.want || !strings.Contains(st.Message(), tt.msg) {
				t.Errorf("got %v %q, want %v with %q", st.Code(), st.Message(), tt.want, tt.msg)
			}
			if strings.Contains(st.Message(), c.AdminKey) || strings.Contains(st.Message(), badKey["adminKey"]) {
				t.Errorf("message leaks a key: %q", st.Message())
			}
		})
	}
}
