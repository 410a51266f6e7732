package controller_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// newOwnController is newController with a credential of the controller's
// own (a Secret's files), as deploy/csi mounts it.
func newOwnController(t *testing.T, c *testcluster.Cluster) *controller.Server {
	t.Helper()
	dir := t.TempDir()
	for k, v := range c.Secrets() {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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
	}, controller.Options{SecretDir: dir})
}

// TestVolumeHealth: on the embedded cluster, a volume whose subvolume is
// removed behind the driver's back, and one whose data pool fills up, are
// adverse in ControllerGetVolumeHealth and ControllerListVolumeHealth, and GetCapacity reports
// the full pool as 0. The pool is the test's own, so that its quota
// disturbs no other test.
func TestVolumeHealth(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	pool := fmt.Sprintf("%s-health-%d", c.FS, time.Now().UnixNano()%100000)
	c.Ceph(t, "osd", "pool", "create", pool, "8", "8")
	c.Ceph(t, "fs", "add_data_pool", c.FS, pool)
	t.Cleanup(func() {
		c.Ceph(t, "osd", "pool", "set-quota", pool, "max_bytes", "0")
		c.Ceph(t, "fs", "rm_data_pool", c.FS, pool)
		c.Ceph(t, "osd", "pool", "rm", pool, pool, "--yes-i-really-really-mean-it")
	})
	s := newOwnController(t, c)

	create := func(name string, extra map[string]string) string {
		resp, err := s.CreateVolume(ctx, createReq(c, name, 1<<30, extra))
		if err != nil {
			t.Fatal(err)
		}
		id := resp.GetVolume().GetVolumeId()
		t.Cleanup(func() {
			if _, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets()}); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		})
		return id
	}
	gone := create("health-gone", nil)
	full := create("health-full", map[string]string{"pool": pool})

	// condition is a volume's one adverse entry, nil when it has none.
	condition := func(id string) *csi.VolumeHealth_VolumeHealthEntry {
		t.Helper()
		resp, err := s.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
		if err != nil {
			t.Fatalf("ControllerGetVolumeHealth %s: %v", id, err)
		}
		if e := resp.GetVolumeHealth().GetHealthStatuses(); len(e) > 0 {
			return e[0]
		}
		return nil
	}
	listed := func() map[string]*csi.VolumeHealth_VolumeHealthEntry {
		t.Helper()
		resp, err := s.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*csi.VolumeHealth_VolumeHealthEntry{}
		for _, e := range resp.GetEntries() {
			out[e.GetVolumeId()] = e.GetHealthStatuses()[0]
		}
		return out
	}
	capacity := func(extra map[string]string) int64 {
		t.Helper()
		params := c.Params()
		for k, v := range extra {
			params[k] = v
		}
		// A new pool has no statistics until the mgr has them
		// (Unavailable; seen with Reef).
		for range 120 {
			resp, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: params})
			if err == nil {
				return resp.GetAvailableCapacity()
			}
			if server.Code(err) != codes.Unavailable {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatal("GetCapacity: no statistics for the pool")
		return 0
	}

	for _, id := range []string{gone, full} {
		if cond := condition(id); cond != nil {
			t.Fatalf("%s before any harm: %v", id, cond)
		}
		if cond, ok := listed()[id]; ok {
			t.Fatalf("ControllerListVolumeHealth before any harm: %s listed with %v", id, cond)
		}
	}
	if capacity(map[string]string{"pool": pool}) <= 0 {
		t.Fatal("GetCapacity of an empty pool is 0")
	}

	vol, err := volumeid.DecodeVolume(gone)
	if err != nil {
		t.Fatal(err)
	}
	c.Ceph(t, "fs", "subvolume", "rm", vol.FSName, vol.Subvolume, "--group_name", vol.Group)
	if cond := condition(gone); cond.GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE ||
		cond.GetReason() != contract.ReasonSubvolumeMissing || !strings.Contains(cond.GetMessage(), "does not exist") {
		t.Errorf("removed subvolume: %v, want INACCESSIBLE %s, does not exist", cond, contract.ReasonSubvolumeMissing)
	}
	if cond := listed()[gone]; cond.GetReason() != contract.ReasonSubvolumeMissing {
		t.Errorf("removed subvolume in ControllerListVolumeHealth: %v, want %s", cond, contract.ReasonSubvolumeMissing)
	}

	// An object in the pool, then a quota below it: the pool is full once
	// the OSD has reported its statistics (every few seconds).
	obj := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(obj, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", pool, "put", "filler", obj).CombinedOutput(); err != nil {
		t.Fatalf("rados put: %v\n%s", err, out)
	}
	c.Ceph(t, "osd", "pool", "set-quota", pool, "max_bytes", "4096")
	var cond *csi.VolumeHealth_VolumeHealthEntry
	for range 120 {
		if cond = condition(full); cond != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if cond.GetStatus() != csi.VolumeHealthErrorType_DEGRADED || cond.GetReason() != contract.ReasonPoolFull || !strings.Contains(cond.GetMessage(), "is full") {
		t.Fatalf("volume in a pool over its quota: %v, want DEGRADED %s, full", cond, contract.ReasonPoolFull)
	}
	if got := capacity(map[string]string{"pool": pool}); got != 0 {
		t.Errorf("GetCapacity of the full pool: %d, want 0", got)
	}
	if capacity(nil) <= 0 {
		t.Error("GetCapacity of the default pool is 0")
	}
	c.Ceph(t, "osd", "pool", "set-quota", pool, "max_bytes", "0")
	if out, err := exec.Command("rados", "-c", c.Conf, "-p", pool, "rm", "filler").CombinedOutput(); err != nil {
		t.Errorf("rados rm: %v\n%s", err, out)
	}
}
