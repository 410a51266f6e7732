package controller

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller/fake"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

const key = "AQBzV1FnAAAAABAAx7tS0cLsO9fcQ4rN1f0XWQ=="

func newFakeServer(t *testing.T) (*Server, *fake.Session) {
	t.Helper()
	f := fake.New()
	return New(testConfig(t), func(context.Context, *config.Cluster, contract.Credentials) (Session, error) { return f, nil }, Options{SetMetadata: true}), f
}

func req(name string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name: name,
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
		}},
		Parameters: map[string]string{"clusterID": "c1", "fsName": "myfs"},
		Secrets:    map[string]string{"adminID": "admin", "adminKey": key},
	}
}

func TestCreateVolumeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		op       string
		err      error
		want     codes.Code
		noCreate bool
	}{
		{"cluster unreachable on the claim", "claim", fmt.Errorf("claim: %w", contract.ErrUnavailable), codes.Unavailable, true},
		{"deadline on the claim", "claim", fmt.Errorf("claim: %w", context.DeadlineExceeded), codes.DeadlineExceeded, true},
		{"filesystem unknown", "pools", fmt.Errorf("fs: %w", contract.ErrInvalid), codes.InvalidArgument, true},
		{"group creation refused", "group", fmt.Errorf("group: %w", contract.ErrPermission), codes.PermissionDenied, true},
		{"pool full", "create", fmt.Errorf("create: %w", contract.ErrOutOfRange), codes.OutOfRange, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, f := newFakeServer(t)
			f.Err[tt.op] = tt.err
			_, err := s.CreateVolume(context.Background(), req("pvc-1"))
			if server.Code(err) != tt.want {
				t.Fatalf("code = %v (%v), want %v", server.Code(err), err, tt.want)
			}
			if len(f.Subvolumes) != 0 {
				t.Fatalf("a subvolume was left behind: %v", f.Subvolumes)
			}
		})
	}
}

func TestCreateVolumeRetryCostsOneInfo(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	first, err := s.CreateVolume(context.Background(), req("pvc-1"))
	if err != nil {
		t.Fatal(err)
	}
	f.Calls = nil
	again, err := s.CreateVolume(context.Background(), req("pvc-1"))
	if err != nil || again.GetVolume().GetVolumeId() != first.GetVolume().GetVolumeId() {
		t.Fatalf("retry = %v, %v", again, err)
	}
	if len(f.Calls) != 3 || f.Calls[0] != "pools" || f.Calls[1] != "claim" || f.Calls[2] != "info" {
		t.Errorf("retry made calls %v, want [pools claim info]", f.Calls)
	}
	if ctx := first.GetVolume().GetVolumeContext(); ctx[contract.CtxSubvolumePath] == "" || ctx[contract.CtxClusterID] != "c1" || ctx[contract.CtxSubvolumeGroup] != "grp" {
		t.Errorf("volume context = %v", ctx)
	}
}

func TestCreateVolumeIncompatible(t *testing.T) {
	t.Parallel()
	s, _ := newFakeServer(t)
	if _, err := s.CreateVolume(context.Background(), req("pvc-1")); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*csi.CreateVolumeRequest){
		"size":  func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: 5 * gib} },
		"pool":  func(r *csi.CreateVolumeRequest) { r.Parameters["pool"] = "other" },
		"mode":  func(r *csi.CreateVolumeRequest) { r.Parameters["mode"] = "0700" },
		"owner": func(r *csi.CreateVolumeRequest) { r.Parameters["uid"] = "7" },
	} {
		r := req("pvc-1")
		mutate(r)
		want := codes.AlreadyExists
		if name == "pool" {
			want = codes.InvalidArgument // "other" is not a data pool of the filesystem
		}
		if _, err := s.CreateVolume(context.Background(), r); server.Code(err) != want {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

func TestConcurrentCallsAborted(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	f.Block = make(chan struct{})
	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() { _, firstErr = s.CreateVolume(context.Background(), req("pvc-1")) })
	// Wait until the first call holds the lock (it is blocked in create).
	for !f.Called("create-blocked") {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.CreateVolume(context.Background(), req("pvc-1")); server.Code(err) != codes.Aborted {
		t.Fatalf("concurrent call: %v, want Aborted", err)
	}
	close(f.Block)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func TestDeleteVolumeIDs(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	secrets := map[string]string{"adminID": "admin", "adminKey": key}
	tests := []struct {
		id   string
		want codes.Code
	}{
		{"", codes.InvalidArgument},
		{"not-an-id", codes.OK},
		{"cfs1:c1:myfs:grp:gone", codes.OK},
		{"cfs1:nope:myfs:grp:x", codes.FailedPrecondition},
		{"0001-0009-rook-ceph-0000000000000001-5d5f5b5e-1b1a-4a2b-8c2d-0e0f0a0b0c0d", codes.FailedPrecondition},
	}
	for _, tt := range tests {
		_, err := s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: tt.id, Secrets: secrets})
		if server.Code(err) != tt.want {
			t.Errorf("DeleteVolume(%q) = %v, want %v", tt.id, err, tt.want)
		}
	}
	f.Err["remove"] = fmt.Errorf("rm: %w", contract.ErrUnavailable)
	if _, err := s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: "cfs1:c1:myfs:grp:x", Secrets: secrets}); server.Code(err) != codes.Unavailable {
		t.Errorf("delete on a lost cluster: %v", err)
	}
}

func TestExpandVolume(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	resp, err := s.CreateVolume(context.Background(), req("pvc-1"))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	secrets := req("x").Secrets
	expand := func(required int64) (*csi.ControllerExpandVolumeResponse, error) {
		return s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
			VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: required}, Secrets: secrets,
		})
	}
	if r, err := expand(2*gib + 1); err != nil || r.GetCapacityBytes() != 2*gib+quotaUnit || r.GetNodeExpansionRequired() {
		t.Fatalf("expand = %v, %v", r, err)
	}
	f.Calls = nil
	if r, err := expand(2*gib + 1); err != nil || r.GetCapacityBytes() != 2*gib+quotaUnit {
		t.Fatalf("retried expand = %v, %v", r, err)
	}
	if len(f.Calls) != 1 || f.Calls[0] != "info" {
		t.Errorf("no-op expand made calls %v", f.Calls)
	}
	if _, err := expand(2 * gib); server.Code(err) != codes.OutOfRange {
		t.Fatalf("shrink = %v, want OutOfRange", err)
	}
	if _, err := s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
		VolumeId: "cfs1:c1:myfs:grp:gone", CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, Secrets: secrets,
	}); server.Code(err) != codes.NotFound {
		t.Fatalf("expand missing = %v, want NotFound", err)
	}
}

func TestCephCSIVolumes(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`[{"clusterID":"rook-ceph","monitors":["127.0.0.1:3300"],"cephFS":{"subvolumeGroup":"csi"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New()
	s := New(cfg, func(context.Context, *config.Cluster, contract.Credentials) (Session, error) { return f, nil }, Options{})
	const uuid = "bff8a308-1431-11eb-b0fd-0242ac110006"
	handle := "0001-0009-rook-ceph-0000000000000001-" + uuid
	f.CephCSI = map[string]ceph.CephCSIEntry{uuid: {Name: "csi-vol-" + uuid, Request: "pvc-1"}}
	if err := f.CreateSubvolume(context.Background(), ceph.SubvolumeSpec{FSName: "myfs", Group: "csi", Name: "csi-vol-" + uuid, Size: gib}); err != nil {
		t.Fatal(err)
	}
	secrets := req("x").Secrets
	ctx := context.Background()

	r, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: handle, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, Secrets: secrets})
	if err != nil || r.GetCapacityBytes() != 2*gib {
		t.Fatalf("expand a ceph-csi volume: %v, %v", r, err)
	}
	snap, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s1", SourceVolumeId: handle, Secrets: secrets})
	if err != nil || snap.GetSnapshot().GetSourceVolumeId() != handle {
		t.Fatalf("snapshot of a ceph-csi volume: %v, %v", snap, err)
	}
	if _, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: handle, Secrets: secrets}); err != nil {
		t.Fatalf("delete a ceph-csi volume: %v", err)
	}
	// Its snapshot keeps it, retained, as Ceph does.
	if sv := f.Subvolumes["myfs/csi/csi-vol-"+uuid]; len(f.CephCSI) != 0 || len(f.Subvolumes) != 1 || !sv.Retained {
		t.Errorf("left behind: journal %v, subvolumes %v", f.CephCSI, f.Subvolumes)
	}
	// Gone from the journal: a volume that does not exist.
	if _, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: handle, Secrets: secrets}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: handle, CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, Secrets: secrets}); server.Code(err) != codes.NotFound {
		t.Errorf("expand a deleted ceph-csi volume: %v, want NotFound", err)
	}
}

func TestCloneStates(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	ctx := context.Background()
	src, err := s.CreateVolume(ctx, req("pvc-src"))
	if err != nil {
		t.Fatal(err)
	}
	clone := func(name string) (*csi.CreateVolumeResponse, error) {
		r := req(name)
		r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolume().GetVolumeId()},
		}}
		cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		return s.CreateVolume(cctx, r)
	}
	// In progress past the wait: Aborted, and the retry picks the same clone up.
	pending := mustDerive(t, "pvc-pending")
	f.CloneStates = map[string]ceph.CloneState{pending: {State: "in-progress"}}
	if _, err := clone("pvc-pending"); server.Code(err) != codes.Aborted {
		t.Fatalf("clone in progress: %v, want Aborted", err)
	}
	f.CloneStates = nil
	if _, err := clone("pvc-pending"); err != nil {
		t.Fatalf("retry after the clone completed: %v", err)
	}
	if n := strings.Count(strings.Join(f.Calls, ","), "clone,"); n != 1 {
		t.Errorf("%d clones started for one volume", n)
	}

	// Failed: the remains are removed and the error says so.
	failed := mustDerive(t, "pvc-failed")
	f.CloneStates = map[string]ceph.CloneState{failed: {State: "failed", Failure: "5: I/O error"}}
	_, err = clone("pvc-failed")
	if err == nil || !strings.Contains(err.Error(), "failed") || !strings.Contains(err.Error(), "I/O error") {
		t.Fatalf("failed clone: %v", err)
	}
	if _, ok := f.Subvolumes["myfs/grp/"+failed]; ok {
		t.Error("failed clone left behind")
	}
}

func TestDeleteSnapshotWithPendingClones(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	ctx := context.Background()
	src, err := s.CreateVolume(ctx, req("pvc-src"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: src.GetVolume().GetVolumeId(), Secrets: req("x").Secrets})
	if err != nil {
		t.Fatal(err)
	}
	f.Err["snapshot-rm"] = fmt.Errorf("snapshot rm: %w", contract.ErrFailedPrecondition) // EAGAIN from the mgr
	_, err = s.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId(), Secrets: req("x").Secrets})
	if server.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "clones in progress") {
		t.Fatalf("delete a snapshot being cloned: %v", err)
	}
	if len(f.Records) != 1 {
		t.Errorf("record removed although the snapshot stays")
	}
}

// mustDerive is the subvolume name the test parameters give a request.
func mustDerive(t *testing.T, name string) string {
	t.Helper()
	return volumeid.DeriveName(defaultNamePrefix, name)
}

// TestMetadata: the names the sidecars pass, and the cluster name, are
// recorded on subvolumes and snapshots; a failure to record them fails
// nothing; recording off asks the cluster nothing.
func TestMetadata(t *testing.T) {
	t.Parallel()
	volParams := map[string]string{
		"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "shop", "csi.storage.k8s.io/pv/name": "pvc-1234",
	}
	snapParams := map[string]string{
		"csi.storage.k8s.io/volumesnapshot/name": "nightly", "csi.storage.k8s.io/volumesnapshot/namespace": "shop",
		"csi.storage.k8s.io/volumesnapshotcontent/name": "snapcontent-1234",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name     string
		opts     Options
		fail     error
		params   map[string]string // besides clusterID and fsName
		wantVol  map[string]string
		wantSnap map[string]string
	}{
		{name: "names and cluster name", opts: Options{SetMetadata: true, ClusterName: "prod-eu"}, params: volParams,
			wantVol:  with(volParams, "csi.ceph.com/cluster/name", "prod-eu"),
			wantSnap: with(snapParams, "csi.ceph.com/cluster/name", "prod-eu")},
		{name: "names only", opts: Options{SetMetadata: true}, params: volParams, wantVol: volParams, wantSnap: snapParams},
		{name: "cluster name only", opts: Options{SetMetadata: true, ClusterName: "prod-eu"},
			wantVol: map[string]string{"csi.ceph.com/cluster/name": "prod-eu"}, wantSnap: with(snapParams, "csi.ceph.com/cluster/name", "prod-eu")},
		{name: "nothing to record", opts: Options{SetMetadata: true}},
		{name: "off", opts: Options{ClusterName: "prod-eu"}, params: volParams},
		{name: "recording fails", opts: Options{SetMetadata: true}, params: volParams, fail: fmt.Errorf("set: %w", contract.ErrUnavailable)},
		{name: "cluster without metadata", opts: Options{SetMetadata: true}, params: volParams, fail: ceph.ErrMetadataUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New()
			f.Err["metadata"] = tt.fail
			s := New(testConfig(t), func(context.Context, *config.Cluster, contract.Credentials) (Session, error) { return f, nil }, tt.opts)
			r := req("pvc-1234")
			maps.Copy(r.Parameters, tt.params)
			resp, err := s.CreateVolume(context.Background(), r)
			if err != nil {
				t.Fatalf("CreateVolume: %v", err)
			}
			vc := resp.GetVolume().GetVolumeContext()
			sv := key3(vc[contract.CtxFSName], vc[contract.CtxSubvolumeGroup], vc[contract.CtxSubvolumeName])
			params := snapParams
			if tt.wantSnap == nil {
				params = nil
			}
			snap, err := s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
				Name: "snapshot-1", SourceVolumeId: resp.GetVolume().GetVolumeId(), Secrets: r.Secrets, Parameters: params,
			})
			if err != nil {
				t.Fatalf("CreateSnapshot: %v", err)
			}
			id, err := volumeid.DecodeSnapshot(snap.GetSnapshot().GetSnapshotId())
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Metadata[sv]; !maps.Equal(got, tt.wantVol) {
				t.Errorf("subvolume metadata = %v, want %v", got, tt.wantVol)
			}
			if got := f.Metadata[sv+"@"+id.Name]; !maps.Equal(got, tt.wantSnap) {
				t.Errorf("snapshot metadata = %v, want %v", got, tt.wantSnap)
			}
			if called := f.Called("metadata"); called != (tt.wantVol != nil || tt.fail != nil) {
				t.Errorf("metadata asked for: %v", called)
			}
		})
	}
}

func key3(fsName, group, name string) string { return fsName + "/" + group + "/" + name }
