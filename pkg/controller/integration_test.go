package controller_test

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// newController returns a controller on the embedded cluster.
func newController(t *testing.T) (*controller.Server, *testcluster.Cluster) {
	t.Helper()
	c := testcluster.Get(t)
	cfg, err := config.Load(c.ConfigFile(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := ceph.NewPool(10*time.Second, time.Minute)
	t.Cleanup(pool.Close)
	return controller.New(cfg, func(ctx context.Context, cl *config.Cluster, cr contract.Credentials) (controller.Session, error) {
		a, err := pool.Connect(ctx, cl, cr)
		if err != nil {
			return nil, err
		}
		return a, nil
	}, controller.Options{SetMetadata: true}), c
}

func mountCap() []*csi.VolumeCapability {
	return []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}}
}

func createReq(c *testcluster.Cluster, name string, size int64, extra map[string]string) *csi.CreateVolumeRequest {
	params := c.Params()
	for k, v := range extra {
		params[k] = v
	}
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: mountCap(),
		Parameters:         params,
		Secrets:            c.Secrets(),
	}
}

type subvolumeInfo struct {
	BytesQuota int64  `json:"bytes_quota"`
	DataPool   string `json:"data_pool"`
	Path       string `json:"path"`
	Mode       int    `json:"mode"`
	UID        int    `json:"uid"`
	GID        int    `json:"gid"`
}

func info(t *testing.T, c *testcluster.Cluster, volID string) subvolumeInfo {
	t.Helper()
	v, err := volumeid.DecodeVolume(volID)
	if err != nil {
		t.Fatal(err)
	}
	var si subvolumeInfo
	c.CephJSON(t, &si, "fs", "subvolume", "info", v.FSName, v.Subvolume, "--group_name", v.Group)
	return si
}

func deleteVolume(t *testing.T, s *controller.Server, c *testcluster.Cluster, id string) {
	t.Helper()
	if _, err := s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets()}); err != nil {
		t.Fatalf("DeleteVolume(%s): %v", id, err)
	}
}

func TestCreateDeleteVolume(t *testing.T) {
	s, c := newController(t)
	ctx := context.Background()
	name := "pvc-" + t.Name() + time.Now().Format("150405.000")

	resp, err := s.CreateVolume(ctx, createReq(c, name, 100<<20, nil))
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	vol := resp.GetVolume()
	si := info(t, c, vol.GetVolumeId())
	if si.BytesQuota != 100<<20 || vol.GetCapacityBytes() != 100<<20 {
		t.Errorf("quota = %d, capacity = %d, want %d", si.BytesQuota, vol.GetCapacityBytes(), 100<<20)
	}
	if got := vol.GetVolumeContext()[contract.CtxSubvolumePath]; got != si.Path {
		t.Errorf("volume context path %q, Ceph says %q", got, si.Path)
	}
	if vol.GetVolumeContext()[contract.CtxFSName] != c.FS || vol.GetVolumeContext()[contract.CtxClusterID] != testcluster.ClusterID {
		t.Errorf("volume context = %v", vol.GetVolumeContext())
	}

	again, err := s.CreateVolume(ctx, createReq(c, name, 100<<20, nil))
	if err != nil || again.GetVolume().GetVolumeId() != vol.GetVolumeId() {
		t.Fatalf("retry = %v, %v; want the same volume %s", again, err, vol.GetVolumeId())
	}
	if _, err := s.CreateVolume(ctx, createReq(c, name, 200<<20, nil)); server.Code(err) != codes.AlreadyExists {
		t.Fatalf("same name, other size: %v, want AlreadyExists", err)
	}
	if _, err := s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: vol.GetVolumeId(), VolumeCapabilities: mountCap(), Secrets: c.Secrets(),
	}); err != nil {
		t.Errorf("ValidateVolumeCapabilities: %v", err)
	}

	deleteVolume(t, s, c, vol.GetVolumeId())
	deleteVolume(t, s, c, vol.GetVolumeId())
	if _, err := s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: vol.GetVolumeId(), VolumeCapabilities: mountCap(), Secrets: c.Secrets(),
	}); server.Code(err) != codes.NotFound {
		t.Errorf("ValidateVolumeCapabilities after delete: %v, want NotFound", err)
	}
}

func TestCreateVolumeOptions(t *testing.T) {
	s, c := newController(t)
	ctx := context.Background()
	name := "pvc-opts-" + time.Now().Format("150405.000")
	resp, err := s.CreateVolume(ctx, createReq(c, name, 0, map[string]string{
		"pool": c.FS + "-data1", "subvolumeGroup": "other", "mode": "0770", "uid": "1000", "gid": "2000",
		"volumeNamePrefix": "test-",
	}))
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	id := resp.GetVolume().GetVolumeId()
	defer deleteVolume(t, s, c, id)
	si := info(t, c, id)
	if si.BytesQuota != controller.DefaultSize || si.DataPool != c.FS+"-data1" || si.Mode&0o7777 != 0o770 || si.UID != 1000 || si.GID != 2000 {
		t.Errorf("subvolume = %+v", si)
	}
	v, _ := volumeid.DecodeVolume(id)
	if v.Group != "other" || v.Subvolume[:5] != "test-" {
		t.Errorf("volume ID %q", id)
	}
}

func TestCreateVolumeBadInput(t *testing.T) {
	s, c := newController(t)
	ctx := context.Background()
	wrongKey := c.Secrets()
	wrongKey["adminKey"] = "AQBzV1FnAAAAABAAx7tS0cLsO9fcQ4rN1f0XWQ=="
	tests := []struct {
		name string
		req  *csi.CreateVolumeRequest
		want codes.Code
	}{
		{"unknown pool", createReq(c, "bad-pool", 0, map[string]string{"pool": "nope"}), codes.InvalidArgument},
		{"unknown filesystem", createReq(c, "bad-fs", 0, map[string]string{"fsName": "nofs"}), codes.InvalidArgument},
		{"no secrets", func() *csi.CreateVolumeRequest { r := createReq(c, "x", 0, nil); r.Secrets = nil; return r }(), codes.InvalidArgument},
		{"wrong key", func() *csi.CreateVolumeRequest { r := createReq(c, "x", 0, nil); r.Secrets = wrongKey; return r }(), codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.CreateVolume(ctx, tt.req); server.Code(err) != tt.want {
				t.Errorf("code = %v (%v), want %v", server.Code(err), err, tt.want)
			}
		})
	}
}

func TestConcurrentCreateOneName(t *testing.T) {
	s, c := newController(t)
	name := "pvc-race-" + time.Now().Format("150405.000")
	const n = 20
	var wg sync.WaitGroup
	ids := make([]string, n)
	codesSeen := make([]codes.Code, n)
	for i := range n {
		wg.Go(func() {
			resp, err := s.CreateVolume(context.Background(), createReq(c, name, 50<<20, nil))
			codesSeen[i] = server.Code(err)
			ids[i] = resp.GetVolume().GetVolumeId()
		})
	}
	wg.Wait()
	var id string
	for i := range n {
		switch codesSeen[i] {
		case codes.OK:
			if id != "" && ids[i] != id {
				t.Fatalf("two IDs for one name: %s and %s", id, ids[i])
			}
			id = ids[i]
		case codes.Aborted:
		default:
			t.Fatalf("call %d: unexpected code %v", i, codesSeen[i])
		}
	}
	if id == "" {
		resp, err := s.CreateVolume(context.Background(), createReq(c, name, 50<<20, nil))
		if err != nil {
			t.Fatal(err)
		}
		id = resp.GetVolume().GetVolumeId()
	}
	defer deleteVolume(t, s, c, id)
	if n := c.CountSubvolumes(t, id); n != 1 {
		t.Fatalf("%d subvolumes for %s", n, id)
	}
}

func TestExpandVolume(t *testing.T) {
	s, c := newController(t)
	ctx := context.Background()
	resp, err := s.CreateVolume(ctx, createReq(c, "pvc-expand-"+time.Now().Format("150405.000"), 100<<20, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	defer deleteVolume(t, s, c, id)
	exp, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 300 << 20}, Secrets: c.Secrets(),
	})
	if err != nil || exp.GetCapacityBytes() != 300<<20 || exp.GetNodeExpansionRequired() {
		t.Fatalf("expand = %v, %v", exp, err)
	}
	if q := info(t, c, id).BytesQuota; q != 300<<20 {
		t.Errorf("quota after expand = %d", q)
	}
	if _, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 100 << 20}, Secrets: c.Secrets(),
	}); server.Code(err) != codes.OutOfRange {
		t.Errorf("shrink: %v, want OutOfRange", err)
	}
}

// rados runs the rados CLI on the cluster's metadata pool, in the driver's
// namespace, with stdin as its input; it returns the error instead of
// failing (a missing object is an answer).
func rados(c *testcluster.Cluster, stdin string, args ...string) (string, error) {
	cmd := exec.Command("rados", append([]string{"-c", c.Conf, "-p", c.FS + "-metadata", "--namespace", "cephfs-csi"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCreateVolumeClaim: the claim that spares a first CreateVolume the
// mgr's "does it exist?" is there while the volume is; a request of the same
// name for other properties is refused without touching the subvolume
// (Ceph's create would have changed its quota, mode and owner); a claim
// left by an attempt that stopped before create is completed; and
// DeleteVolume removes the claim.
func TestCreateVolumeClaim(t *testing.T) {
	s, c := newController(t)
	ctx := context.Background()
	name := "pvc-claim-" + time.Now().Format("150405.000")
	props := map[string]string{"mode": "0750", "uid": "10"}
	resp, err := s.CreateVolume(ctx, createReq(c, name, 100<<20, props))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	v, _ := volumeid.DecodeVolume(id)
	claim := "claim/" + v.Group + "/" + v.Subvolume
	if out, err := rados(c, "", "get", claim, "-"); err != nil || out != name {
		t.Fatalf("claim %s: %q, %v; want the request name", claim, out, err)
	}
	for _, other := range []struct {
		what  string
		size  int64
		props map[string]string
	}{
		{"size", 200 << 20, props},
		{"mode", 100 << 20, map[string]string{"mode": "0700", "uid": "10"}},
		{"owner", 100 << 20, map[string]string{"mode": "0750", "uid": "11"}},
	} {
		if _, err := s.CreateVolume(ctx, createReq(c, name, other.size, other.props)); server.Code(err) != codes.AlreadyExists {
			t.Errorf("same name, other %s: %v, want AlreadyExists", other.what, err)
		}
	}
	if si := info(t, c, id); si.BytesQuota != 100<<20 || si.Mode&0o7777 != 0o750 || si.UID != 10 {
		t.Errorf("the refused requests changed the subvolume: %+v", si)
	}
	deleteVolume(t, s, c, id)
	if out, err := rados(c, "", "stat", claim); err == nil {
		t.Errorf("claim left after DeleteVolume: %s", out)
	}

	// An attempt that stopped between its claim and create.
	name2 := name + "-b"
	claim2 := "claim/" + v.Group + "/" + volumeid.DeriveName("csi-vol-", name2)
	if out, err := rados(c, name2, "put", claim2, "-"); err != nil {
		t.Fatalf("rados put: %v\n%s", err, out)
	}
	resp, err = s.CreateVolume(ctx, createReq(c, name2, 100<<20, nil))
	if err != nil {
		t.Fatalf("CreateVolume after a stopped attempt: %v", err)
	}
	id2 := resp.GetVolume().GetVolumeId()
	if si := info(t, c, id2); si.BytesQuota != 100<<20 || si.Path != resp.GetVolume().GetVolumeContext()[contract.CtxSubvolumePath] {
		t.Errorf("subvolume %+v, answer %v", si, resp.GetVolume())
	}
	deleteVolume(t, s, c, id2)
	if out, err := rados(c, "", "stat", claim2); err == nil {
		t.Errorf("claim left after DeleteVolume: %s", out)
	}
}
