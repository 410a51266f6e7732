package controller

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller/fake"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// TestCephCSISnapshotSize: a snapshot ceph-csi took at 1 GiB of a volume
// expanded since to 2 GiB has the size it was taken at, read from the
// snapshot once; a user that cannot read it gets 0 (unknown) in
// ListSnapshots, and a restore below the snapshot's size is refused once
// the clone shows it, with the clone removed.
func TestCephCSISnapshotSize(t *testing.T) {
	t.Parallel()
	const (
		gib     = int64(1 << 30)
		volUUID = "bff8a308-1431-11eb-b0fd-0242ac110006"
		uuid    = "0a1b2c3d-1431-11eb-b0fd-0242ac110006"
		handle  = "0001-0009-rook-ceph-0000000000000001-" + uuid
	)
	cfg, err := config.Parse([]byte(`[{"clusterID":"rook-ceph","monitors":["127.0.0.1:3300"],"cephFS":{"subvolumeGroup":"csi"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := fake.New()
	source := "csi-vol-" + volUUID
	if err := f.CreateSubvolume(ctx, ceph.SubvolumeSpec{FSName: "myfs", Group: "csi", Name: source, Size: gib}); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateSnapshot(ctx, "myfs", "csi", source, "csi-snap-"+uuid); err != nil {
		t.Fatal(err)
	}
	if err := f.ResizeSubvolume(ctx, "myfs", "csi", source, 2*gib); err != nil {
		t.Fatal(err)
	}
	f.CephCSI = map[string]ceph.CephCSIEntry{uuid: {Name: "csi-snap-" + uuid, Request: "snap-1", Source: source}}

	restore := func(s *Server, name string, size int64) error {
		r := req(name)
		r.Parameters = map[string]string{"clusterID": "rook-ceph", "fsName": "myfs"}
		r.CapacityRange = &csi.CapacityRange{RequiredBytes: size}
		r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: handle},
		}}
		_, err := s.CreateVolume(ctx, r)
		return err
	}
	listedSize := func(s *Server) int64 {
		resp, err := s.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: handle, Secrets: req("x").Secrets})
		if err != nil || len(resp.GetEntries()) != 1 {
			t.Fatalf("ListSnapshots: %v, %v", resp, err)
		}
		return resp.GetEntries()[0].GetSnapshot().GetSizeBytes()
	}
	connect := func(context.Context, *config.Cluster, contract.Credentials) (Session, error) { return f, nil }

	s := New(cfg, connect, Options{})
	if got := listedSize(s); got != gib {
		t.Errorf("listed at %d, want %d (the source's quota when the snapshot was taken)", got, gib)
	}
	if err := restore(s, "restore-1", gib); err != nil {
		t.Errorf("restore at the snapshot's size: %v", err)
	}
	if err := restore(s, "restore-small", gib/2); server.Code(err) != codes.OutOfRange {
		t.Errorf("restore below the snapshot's size: %v, want OutOfRange", err)
	}
	if countCalls(f, "snapshot-quota") != 1 {
		t.Errorf("snapshot read %d times, want once (cached)", countCalls(f, "snapshot-quota"))
	}

	// A user without mds capabilities cannot read it.
	f.Err["snapshot-quota"] = contract.ErrPermission
	s = New(cfg, connect, Options{})
	if got := listedSize(s); got != 0 {
		t.Errorf("listed at %d without the rights to read it, want 0 (unknown)", got)
	}
	clones := countCalls(f, "clone")
	if err := restore(s, "restore-small-2", gib/2); server.Code(err) != codes.OutOfRange {
		t.Errorf("restore below the snapshot's size, size unknown: %v, want OutOfRange", err)
	}
	if countCalls(f, "clone") != clones+1 || len(f.Subvolumes) != 2 {
		t.Errorf("the refused clone is not removed: %v", f.Subvolumes)
	}
	if err := restore(s, "restore-2", gib); err != nil {
		t.Errorf("restore at the snapshot's size, size unknown: %v", err)
	}
}

func countCalls(f *fake.Session, op string) int {
	n := 0
	for _, c := range f.Calls {
		if c == op {
			n++
		}
	}
	return n
}
