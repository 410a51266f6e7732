package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller/fake"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// What each of the fake's calls costs on a cluster (the table in
// docs/design.md, "Ceph round trips per RPC"): a mgr command, a RADOS
// operation on an OSD (omap or object), or nothing once pkg/ceph has cached
// the answer (the filesystem's pools, the group's existence: one mgr command
// each per cluster for the driver's life).
var (
	mgrCommands = []string{"info", "create", "getpath", "remove", "resize", "snapshot", "snapshot-info", "snapshot-rm", "clone", "clone-status", "metadata"}
	radosOps    = []string{"claim", "claim-rm", "claim-list", "claim-stat", "cephcsi-list", "record-put", "record-get", "record-list", "record-rm", "reference-put", "reference-get", "reference-list", "reference-rm"}
	cachedCalls = []string{"pools", "group"}
	// Mon commands go to a monitor, never behind the mgr's lock.
	monCommands = []string{"fs-ls", "df"}
)

// roundTrips counts a call list's mgr commands, RADOS operations and mon
// commands.
func roundTrips(t *testing.T, calls []string) (mgr, rados, mon int) {
	t.Helper()
	for _, c := range calls {
		switch {
		case slices.Contains(mgrCommands, c):
			mgr++
		case slices.Contains(radosOps, c):
			rados++
		case slices.Contains(monCommands, c):
			mon++
		case slices.Contains(cachedCalls, c):
		default:
			t.Fatalf("call %q has no cost in this test's table", c)
		}
	}
	return mgr, rados, mon
}

// TestRoundTrips pins the Ceph round trips of each controller RPC, in
// order: a change that adds a mgr command to a common path shows here, not
// as a slower benchmark some day.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secrets := req("x").Secrets
	type env struct {
		s              *Server
		f              *fake.Session
		vol, snap, src string // IDs made by setup
	}
	// setup makes a volume pvc-src and its snapshot snap-1.
	setup := func(t *testing.T) env {
		s, f := newOwnServer(t) // cluster c1 only; the others are empty
		s.opts.SetMetadata = true
		v, err := s.CreateVolume(ctx, req("pvc-src"))
		if err != nil {
			t.Fatal(err)
		}
		sn, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: v.GetVolume().GetVolumeId(), Secrets: secrets})
		if err != nil {
			t.Fatal(err)
		}
		return env{s: s, f: f, vol: v.GetVolume().GetVolumeId(), snap: sn.GetSnapshot().GetSnapshotId()}
	}
	tests := []struct {
		name            string
		before          func(t *testing.T, e env) // not counted
		rpc             func(e env) error
		code            codes.Code
		calls           []string
		mgr, rados, mon int
	}{
		{
			name:  "CreateVolume, first attempt",
			rpc:   func(e env) error { _, err := e.s.CreateVolume(ctx, req("pvc-new")); return err },
			calls: []string{"pools", "claim", "group", "create", "getpath"}, mgr: 2, rados: 1,
		},
		{
			name:  "CreateVolume, retry of a complete one",
			rpc:   func(e env) error { _, err := e.s.CreateVolume(ctx, req("pvc-src")); return err },
			calls: []string{"pools", "claim", "info"}, mgr: 1, rados: 1,
		},
		{
			name: "CreateVolume, same name with another size",
			rpc: func(e env) error {
				r := req("pvc-src")
				r.CapacityRange = &csi.CapacityRange{RequiredBytes: 5 * gib}
				_, err := e.s.CreateVolume(ctx, r)
				return err
			},
			code:  codes.AlreadyExists,
			calls: []string{"pools", "claim", "info"}, mgr: 1, rados: 1,
		},
		{
			name: "CreateVolume, retry after a crash between claim and create",
			before: func(t *testing.T, e env) {
				if _, err := e.f.ClaimSubvolume(ctx, "myfs", "grp", mustDerive(t, "pvc-crashed"), []byte("pvc-crashed")); err != nil {
					t.Fatal(err)
				}
			},
			rpc:   func(e env) error { _, err := e.s.CreateVolume(ctx, req("pvc-crashed")); return err },
			calls: []string{"pools", "claim", "info", "group", "create", "getpath"}, mgr: 3, rados: 1,
		},
		{
			name:  "DeleteVolume",
			rpc:   func(e env) error { return deleteVolume(e.s, e.vol) },
			calls: []string{"remove", "claim-rm"}, mgr: 1, rados: 1,
		},
		{
			name:  "ControllerExpandVolume",
			rpc:   func(e env) error { return expandVolume(e.s, e.vol, 2*gib) },
			calls: []string{"info", "resize"}, mgr: 2,
		},
		{
			name:  "ControllerExpandVolume, already that size",
			rpc:   func(e env) error { return expandVolume(e.s, e.vol, gib) },
			calls: []string{"info"}, mgr: 1,
		},
		{
			name: "ValidateVolumeCapabilities",
			rpc: func(e env) error {
				_, err := e.s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
					VolumeId: e.vol, VolumeCapabilities: req("x").VolumeCapabilities, Secrets: secrets,
				})
				return err
			},
			calls: []string{"info"}, mgr: 1,
		},
		{
			name: "CreateSnapshot, first attempt",
			rpc: func(e env) error {
				_, err := e.s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-2", SourceVolumeId: e.vol, Secrets: secrets})
				return err
			},
			calls: []string{"record-get", "info", "record-put", "snapshot"}, mgr: 2, rados: 2,
		},
		{
			name: "CreateSnapshot, retry",
			rpc: func(e env) error {
				_, err := e.s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-1", SourceVolumeId: e.vol, Secrets: secrets})
				return err
			},
			calls: []string{"record-get", "snapshot"}, mgr: 1, rados: 1,
		},
		{
			name: "DeleteSnapshot",
			rpc: func(e env) error {
				_, err := e.s.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: e.snap, Secrets: secrets})
				return err
			},
			calls: []string{"reference-list", "snapshot-rm", "record-get", "record-rm"}, mgr: 1, rados: 3,
		},
		{
			name: "CreateVolume from a snapshot (complete at the first poll)",
			rpc: func(e env) error {
				r := req("pvc-restore")
				r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
					Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: e.snap},
				}}
				_, err := e.s.CreateVolume(ctx, r)
				return err
			},
			calls: []string{"pools", "clone-status", "record-get", "snapshot-info", "claim", "group", "clone", "clone-status", "info"},
			mgr:   5, rados: 2,
		},
		{
			name:  "ListVolumes (one volume, per cluster)",
			rpc:   func(e env) error { _, err := e.s.ListVolumes(ctx, &csi.ListVolumesRequest{}); return err },
			calls: []string{"fs-ls", "claim-list", "reference-list", "cephcsi-list", "info", "df"},
			mgr:   1, rados: 3, mon: 2,
		},
		{
			name: "ControllerGetVolume",
			rpc: func(e env) error {
				_, err := e.s.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: e.vol})
				return err
			},
			calls: []string{"claim-stat", "info", "df"},
			mgr:   1, rados: 1, mon: 1,
		},
		{
			name: "GetCapacity",
			rpc: func(e env) error {
				_, err := e.s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: req("x").Parameters})
				return err
			},
			calls: []string{"pools", "df"},
			mon:   1,
		},
		{
			name: "GetSnapshot",
			rpc: func(e env) error {
				_, err := e.s.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: e.snap, Secrets: secrets})
				return err
			},
			calls: []string{"record-get"}, rados: 1,
		},
		{
			name: "CreateVolume from a volume (complete at the first poll)",
			rpc: func(e env) error {
				r := req("pvc-clone")
				r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
					Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: e.vol},
				}}
				_, err := e.s.CreateVolume(ctx, r)
				return err
			},
			calls: []string{"pools", "clone-status", "info", "claim", "snapshot", "group", "clone", "clone-status", "snapshot-rm", "info"},
			mgr:   7, rados: 1,
		},
		{
			name: "CreateVolume, shallow",
			rpc: func(e env) error {
				r := req("pvc-shallow")
				r.VolumeCapabilities[0].AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
				r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
					Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: e.snap},
				}}
				_, err := e.s.CreateVolume(ctx, r)
				return err
			},
			calls: []string{"reference-get", "record-get", "snapshot-info", "reference-put", "snapshot-info"}, mgr: 2, rados: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			if tt.before != nil {
				tt.before(t, e)
			}
			e.f.Calls = nil
			if err := tt.rpc(e); server.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", server.Code(err), err, tt.code)
			}
			if !slices.Equal(e.f.Calls, tt.calls) {
				t.Errorf("calls = %v, want %v", e.f.Calls, tt.calls)
			}
			if mgr, rados, mon := roundTrips(t, e.f.Calls); mgr != tt.mgr || rados != tt.rados || mon != tt.mon {
				t.Errorf("%d mgr commands, %d RADOS operations and %d mon commands, want %d, %d and %d", mgr, rados, mon, tt.mgr, tt.rados, tt.mon)
			}
		})
	}
}

// TestCreateVolumeResumes stops a first CreateVolume after each of its
// steps, as a crash or a lost cluster would, and retries: the retry ends
// with the one subvolume the request asked for, claimed, whatever the step.
func TestCreateVolumeResumes(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"claim", "group", "create", "getpath"} {
		t.Run("stopped at "+op, func(t *testing.T) {
			t.Parallel()
			s, f := newFakeServer(t)
			f.Err[op] = fmt.Errorf("%s: %w", op, contract.ErrUnavailable)
			if _, err := s.CreateVolume(context.Background(), req("pvc-1")); server.Code(err) != codes.Unavailable {
				t.Fatalf("first attempt: %v, want Unavailable", err)
			}
			delete(f.Err, op)
			resp, err := s.CreateVolume(context.Background(), req("pvc-1"))
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			name := mustDerive(t, "pvc-1")
			sv, ok := f.Subvolumes["myfs/grp/"+name]
			if len(f.Subvolumes) != 1 || !ok {
				t.Fatalf("subvolumes after the retry: %v", f.Subvolumes)
			}
			if got := resp.GetVolume().GetVolumeContext()[contract.CtxSubvolumePath]; got != sv.Path || resp.GetVolume().GetCapacityBytes() != sv.Size {
				t.Errorf("answer: path %q, %d bytes; subvolume: %q, %d bytes", got, resp.GetVolume().GetCapacityBytes(), sv.Path, sv.Size)
			}
			if _, ok := f.Claims["myfs/grp/"+name]; !ok || len(f.Claims) != 1 {
				t.Errorf("claims: %v", f.Claims)
			}
		})
	}
}

// A deleted volume leaves no claim, and a claim that could not be removed
// makes DeleteVolume fail, so that the CO's retry removes it.
func TestDeleteVolumeDropsClaim(t *testing.T) {
	t.Parallel()
	s, f := newFakeServer(t)
	v, err := s.CreateVolume(context.Background(), req("pvc-1"))
	if err != nil {
		t.Fatal(err)
	}
	f.Err["claim-rm"] = fmt.Errorf("rm: %w", contract.ErrUnavailable)
	if err := deleteVolume(s, v.GetVolume().GetVolumeId()); server.Code(err) != codes.Unavailable {
		t.Fatalf("delete with the claim unremovable: %v, want Unavailable", err)
	}
	delete(f.Err, "claim-rm")
	if err := deleteVolume(s, v.GetVolume().GetVolumeId()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(f.Subvolumes) != 0 || len(f.Claims) != 0 {
		t.Errorf("left behind: subvolumes %v, claims %v", f.Subvolumes, f.Claims)
	}
}

func deleteVolume(s *Server, id string) error {
	_, err := s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: req("x").Secrets})
	return err
}

func expandVolume(s *Server, id string, size int64) error {
	_, err := s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
		VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: req("x").Secrets,
	})
	return err
}
