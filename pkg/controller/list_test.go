package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller/fake"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// newOwnServer is newFakeServer with a credential of the controller's own;
// the fake is cluster c1's, the other clusters are empty.
func newOwnServer(t *testing.T) (*Server, *fake.Session) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{"adminID": "admin\n", "adminKey": key + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, other := fake.New(), fake.New() // c1's, and every other cluster's
	connect := func(_ context.Context, cluster *config.Cluster, c contract.Credentials) (Session, error) {
		if c.ID != "admin" || c.Key != key {
			return nil, fmt.Errorf("credential %q: %w", c.ID, contract.ErrPermission)
		}
		if cluster.ClusterID != "c1" {
			return other, nil
		}
		return f, nil
	}
	return New(testConfig(t), connect, Options{SecretDir: dir}), f
}

func mustCreate(t *testing.T, s *Server, name string) string {
	t.Helper()
	v, err := s.CreateVolume(context.Background(), req(name))
	if err != nil {
		t.Fatal(err)
	}
	return v.GetVolume().GetVolumeId()
}

// TestListVolumesPages: every volume once, in ID order, a page at a time;
// a token stays good when its volume is deleted; anything but an ID is
// Aborted.
func TestListVolumesPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newOwnServer(t)
	var want []string
	for i := range 5 {
		want = append(want, mustCreate(t, s, fmt.Sprintf("pvc-%d", i)))
	}
	slices.Sort(want)

	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("more pages than volumes")
		}
		resp, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetEntries()); n > 2 || n == 0 {
			t.Fatalf("page of %d entries, want 1 or 2", n)
		}
		for _, e := range resp.GetEntries() {
			got = append(got, e.GetVolume().GetVolumeId())
			if e.GetVolume().GetCapacityBytes() != 1<<30 {
				t.Errorf("capacity %d, want 1 GiB", e.GetVolume().GetCapacityBytes())
			}
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v\nwant %v", got, want)
	}

	first, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: want[1], Secrets: req("x").Secrets}); err != nil {
		t.Fatal(err)
	}
	rest, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: first.GetNextToken()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rest.GetEntries()); n != 3 || rest.GetEntries()[0].GetVolume().GetVolumeId() != want[2] {
		t.Fatalf("after deleting the token's volume: %d entries from %v, want 3 from %s", n, rest.GetEntries(), want[2])
	}

	for _, bad := range []string{"invalid-token", "3", want[0] + "x:y"} {
		if _, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: bad}); server.Code(err) != codes.Aborted {
			t.Errorf("token %q: %v, want Aborted", bad, err)
		}
	}
	if _, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: -1}); server.Code(err) != codes.InvalidArgument {
		t.Errorf("max_entries -1: %v, want InvalidArgument", err)
	}
}

// TestVolumeHealth: what ControllerGetVolumeHealth and
// ControllerListVolumeHealth say of a volume whose subvolume went wrong
// behind the driver's back.
func TestVolumeHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const none = csi.VolumeHealthErrorType_UNKNOWN_VOLUME_HEALTH_TYPE
	tests := []struct {
		name    string
		break_  func(f *fake.Session, sv string)
		status  csi.VolumeHealthErrorType // none: no entry
		reason  string
		message string
	}{
		{"healthy", func(*fake.Session, string) {}, none, "", ""},
		{"subvolume removed", func(f *fake.Session, sv string) { delete(f.Subvolumes, "myfs/grp/"+sv) },
			csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonSubvolumeMissing, "does not exist"},
		{"removed with snapshots retained", func(f *fake.Session, sv string) { f.Subvolumes["myfs/grp/"+sv].Retained = true },
			csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonSubvolumeMissing, "only its snapshots are retained"},
		{"quota exceeded", func(f *fake.Session, sv string) { f.Subvolumes["myfs/grp/"+sv].Used = 1 << 30 },
			csi.VolumeHealthErrorType_DEGRADED, contract.ReasonQuotaExceeded, "at its quota: 1073741824 of 1073741824 bytes used"},
		{"pool full", func(f *fake.Session, _ string) {
			f.Usage = map[string]ceph.PoolUsage{"data0": {Stored: 5 << 30, MaxAvail: 100 << 30, Quota: 5 << 30}}
		}, csi.VolumeHealthErrorType_DEGRADED, contract.ReasonPoolFull, "data pool data0 of subvolume myfs/grp/"},
		{"clone failed", func(f *fake.Session, sv string) {
			f.Err["info"] = fmt.Errorf("info: %w", contract.ErrFailedPrecondition)
			f.CloneStates = map[string]ceph.CloneState{sv: {State: "failed", Failure: "28: no space left on device"}}
		}, csi.VolumeHealthErrorType_INACCESSIBLE, contract.ReasonCloneFailed, "a clone that failed: 28: no space left on device"},
		{"clone in progress", func(f *fake.Session, sv string) {
			f.Err["info"] = fmt.Errorf("info: %w", contract.ErrFailedPrecondition)
			f.CloneStates = map[string]ceph.CloneState{sv: {State: "in-progress"}}
		}, none, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, f := newOwnServer(t)
			id := mustCreate(t, s, "pvc-1")
			vol, err := volumeid.DecodeVolume(id)
			if err != nil {
				t.Fatal(err)
			}
			tt.break_(f, vol.Subvolume)
			resp, err := s.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
			if err != nil {
				t.Fatal(err)
			}
			vh := resp.GetVolumeHealth()
			if vh.GetVolumeId() != id {
				t.Errorf("volume ID %q, want %q", vh.GetVolumeId(), id)
			}
			entries := vh.GetHealthStatuses()
			switch {
			case tt.status == none && len(entries) != 0:
				t.Errorf("entries %v, want none", entries)
			case tt.status != none && (len(entries) != 1 || entries[0].GetStatus() != tt.status ||
				entries[0].GetReason() != tt.reason || !strings.Contains(entries[0].GetMessage(), tt.message)):
				t.Errorf("entries %v, want one %v %s with %q", entries, tt.status, tt.reason, tt.message)
			}
			list, err := s.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if n, want := len(list.GetEntries()), len(entries); n != want || n == 1 && list.GetEntries()[0].GetVolumeId() != id {
				t.Errorf("ControllerListVolumeHealth: %v, want %d entries", list.GetEntries(), want)
			}
		})
	}
	s, _ := newOwnServer(t)
	if _, err := s.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{}); server.Code(err) != codes.InvalidArgument {
		t.Errorf("no volume ID: %v, want InvalidArgument", err)
	}
	if _, err := s.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{StartingToken: "3"}); server.Code(err) != codes.Aborted {
		t.Errorf("bad token: %v, want Aborted", err)
	}
}

// TestControllerGetVolumeNotFound: volumes the driver never made, or
// deleted, are NotFound; without a credential of its own the controller
// advertises none of the RPCs that need one and refuses them.
func TestControllerGetVolumeNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newOwnServer(t)
	id := mustCreate(t, s, "pvc-1")
	if _, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: req("x").Secrets}); err != nil {
		t.Fatal(err)
	}
	never, _ := volumeid.Volume{ClusterID: "c1", FSName: "myfs", Group: "csi", Subvolume: "csi-vol-never"}.Encode()
	for _, v := range []string{id, never, "not-an-id", "cfs1:no-such-cluster:myfs:csi:x"} {
		if _, err := s.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: v}); server.Code(err) != codes.NotFound {
			t.Errorf("%s: %v, want NotFound", v, err)
		}
	}
	if _, err := s.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{}); server.Code(err) != codes.InvalidArgument {
		t.Errorf("no ID: %v, want InvalidArgument", err)
	}
	if f.Called("info") {
		t.Error("a volume without a claim cost a subvolume info")
	}

	plain, _ := newFakeServer(t)
	caps, err := plain.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps.GetCapabilities() {
		if slices.Contains(ownCapabilities, c.GetRpc().GetType()) {
			t.Errorf("advertised %v without a credential", c.GetRpc().GetType())
		}
	}
	if _, err := plain.ListVolumes(ctx, &csi.ListVolumesRequest{}); server.Code(err) != codes.FailedPrecondition {
		t.Errorf("ListVolumes without a credential: %v, want FailedPrecondition", err)
	}
}

// TestGetCapacity: the StorageClass's pool, bounded by its quota; the
// filesystem's first data pool without one.
func TestGetCapacity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newOwnServer(t)
	f.Pools = []string{"data0", "data1"}
	f.Usage = map[string]ceph.PoolUsage{
		"data0": {Stored: 1 << 30, MaxAvail: 40 << 30},
		"data1": {Stored: 1 << 30, MaxAvail: 40 << 30, Quota: 3 << 30},
	}
	params := req("x").Parameters
	for _, tt := range []struct {
		pool string
		want int64
	}{{"", 40 << 30}, {"data1", 2 << 30}} {
		p := map[string]string{"pool": tt.pool}
		for k, v := range params {
			p[k] = v
		}
		if tt.pool == "" {
			delete(p, "pool")
		}
		resp, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: p})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAvailableCapacity() != tt.want {
			t.Errorf("pool %q: %d, want %d", tt.pool, resp.GetAvailableCapacity(), tt.want)
		}
	}
	if _, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"clusterID": "c1", "fsName": "myfs", "pool": "nope"}}); server.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown pool: %v, want InvalidArgument", err)
	}
	f.Pools = append(f.Pools, "data2") // a data pool without statistics yet
	if _, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"clusterID": "c1", "fsName": "myfs", "pool": "data2"}}); server.Code(err) != codes.Unavailable {
		t.Errorf("pool without statistics: %v, want Unavailable", err)
	}
	if _, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{"fsName": "myfs"}}); server.Code(err) != codes.InvalidArgument {
		t.Errorf("no clusterID: %v, want InvalidArgument", err)
	}
	if resp, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{}); err != nil || resp.GetAvailableCapacity() != 40<<30 {
		t.Errorf("no parameters: %v, %v, want 40 GiB", resp, err)
	}
}

// TestOwnCredentialAbsent: a credential directory without a credential (an
// optional Secret that does not exist) advertises nothing that needs one.
func TestOwnCredentialAbsent(t *testing.T) {
	t.Parallel()
	s := New(testConfig(t), nil, Options{SecretDir: t.TempDir()})
	caps, err := s.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps.GetCapabilities() {
		if slices.Contains(ownCapabilities, c.GetRpc().GetType()) {
			t.Errorf("advertised %v with an empty credential directory", c.GetRpc().GetType())
		}
	}
	if _, err := s.GetCapacity(context.Background(), &csi.GetCapacityRequest{}); server.Code(err) != codes.FailedPrecondition {
		t.Errorf("GetCapacity without a credential: %v, want FailedPrecondition", err)
	}
}

// TestListCephCSIVolumes: the volumes in ceph-csi's journal are listed by
// their handles, with their condition, and ControllerGetVolume answers for
// them; a snapshot's entry is not a volume.
func TestListCephCSIVolumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, f := newOwnServer(t)
	const uuid = "bff8a308-1431-11eb-b0fd-0242ac110006"
	f.CephCSI = map[string]ceph.CephCSIEntry{
		uuid:                                   {Name: "csi-vol-" + uuid, Request: "pvc-1"},
		"cccccccc-1431-11eb-b0fd-0242ac110006": {Name: "csi-snap-x", Request: "snap-1", Source: "csi-vol-" + uuid},
	}
	handle := volumeid.CephCSI{ClusterID: "c1", LocationID: 1, UUID: uuid}.Encode()
	resp, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetEntries()); n != 1 || resp.GetEntries()[0].GetVolume().GetVolumeId() != handle {
		t.Fatalf("listed %v, want only %s", resp.GetEntries(), handle)
	}
	if h, err := s.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: handle}); err != nil ||
		len(h.GetVolumeHealth().GetHealthStatuses()) != 1 || h.GetVolumeHealth().GetHealthStatuses()[0].GetReason() != contract.ReasonSubvolumeMissing {
		t.Errorf("a journal entry without its subvolume: %v, %v, want %s", h, err, contract.ReasonSubvolumeMissing)
	}
	f.Subvolumes["myfs/grp/csi-vol-"+uuid] = &ceph.Subvolume{Size: 1 << 30, Pool: "data0", State: "complete"}
	got, err := s.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: handle})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetVolume().GetCapacityBytes() != 1<<30 {
		t.Errorf("ceph-csi volume: %v, want normal, 1 GiB", got)
	}
	// A token that is a ceph-csi handle is a position like any.
	if _, err := s.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: handle}); err != nil {
		t.Errorf("handle as token: %v", err)
	}
}

// TestOwnCredentialPerCluster: a directory named after a cluster ID holds
// that cluster's credential; the files at the top serve the others.
func TestOwnCredentialPerCluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(path, v string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "adminID"), "top")
	write(filepath.Join(dir, "adminKey"), key)
	write(filepath.Join(dir, "c2", "userID"), "second")
	write(filepath.Join(dir, "c2", "userKey"), key+"\n")
	var got []string
	connect := func(_ context.Context, cluster *config.Cluster, c contract.Credentials) (Session, error) {
		got = append(got, cluster.ClusterID+"="+c.ID)
		return fake.New(), nil
	}
	s := New(testConfig(t), connect, Options{SecretDir: dir})
	if _, err := s.ListVolumes(context.Background(), &csi.ListVolumesRequest{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c1=top", "c2=second"}; !slices.Equal(got, want) {
		t.Errorf("connected as %v, want %v", got, want)
	}
}

// TestDeleteFailedClone: a volume whose clone failed or was canceled
// behind the driver's back is deleted (forced); one still copying is
// refused, for the CO to retry.
func TestDeleteFailedClone(t *testing.T) {
	t.Parallel()
	for state, want := range map[string]codes.Code{"failed": codes.OK, "canceled": codes.OK, "in-progress": codes.FailedPrecondition} {
		t.Run(state, func(t *testing.T) {
			t.Parallel()
			s, f := newOwnServer(t)
			id := mustCreate(t, s, "pvc-1")
			vol, _ := volumeid.DecodeVolume(id)
			f.CloneStates = map[string]ceph.CloneState{vol.Subvolume: {State: state}}
			err := deleteVolume(s, id)
			if server.Code(err) != want {
				t.Fatalf("delete: %v, want %v", err, want)
			}
			if _, left := f.Subvolumes["myfs/grp/"+vol.Subvolume]; left != (want != codes.OK) {
				t.Errorf("subvolume left: %v", left)
			}
		})
	}
}
