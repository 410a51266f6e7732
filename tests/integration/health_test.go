package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// TestCephCSIVolumeListed: through the driver's socket, with the
// controller's own credential, a volume ceph-csi made is listed by its
// handle and healthy; once its subvolume is removed behind the driver's
// back it is abnormal in ListVolumes and ControllerGetVolume; once deleted
// (the journal entry with it) it is no longer listed.
func TestCephCSIVolumeListed(t *testing.T) {
	c := testcluster.Get(t)
	own := t.TempDir()
	for k, v := range c.Secrets() {
		if err := os.WriteFile(filepath.Join(own, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	drv := c.StartDriver(t, func(o *driver.Options) { o.ControllerSecretDir = own })
	ctx := context.Background()
	handle, _, vc := legacyVolume(t, c, "pvc-listed-"+time.Now().Format("150405000"))

	listed := func() (*csi.ListVolumesResponse_Entry, bool) {
		t.Helper()
		var token string
		for {
			resp, err := drv.Controller.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 3, StartingToken: token})
			if err != nil {
				t.Fatalf("ListVolumes: %v", err)
			}
			for _, e := range resp.GetEntries() {
				if e.GetVolume().GetVolumeId() == handle {
					return e, true
				}
			}
			if token = resp.GetNextToken(); token == "" {
				return nil, false
			}
		}
	}
	e, ok := listed()
	if !ok || e.GetVolume().GetCapacityBytes() != 104857600 {
		t.Fatalf("ceph-csi volume in ListVolumes: %v (listed %v), want it healthy with 100 MiB", e, ok)
	}

	if h := controllerHealth(t, drv, handle); len(h) != 0 {
		t.Errorf("healthy ceph-csi volume: %v, want no entry", h)
	}

	c.Ceph(t, "fs", "subvolume", "rm", c.FS, vc["subvolumeName"], "--group_name", c.Group)
	if _, ok := listed(); !ok {
		t.Errorf("after its subvolume was removed: not listed; its journal entry says it should exist")
	}
	if h := controllerHealth(t, drv, handle); len(h) != 1 || h[0].GetReason() != contract.ReasonSubvolumeMissing || !strings.Contains(h[0].GetMessage(), "does not exist") {
		t.Errorf("ControllerGetVolumeHealth: %v, want %s, does not exist", h, contract.ReasonSubvolumeMissing)
	}

	if _, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: handle, Secrets: c.Secrets()}); err != nil {
		t.Fatal(err)
	}
	if e, ok := listed(); ok {
		t.Errorf("deleted ceph-csi volume still listed: %v", e)
	}
}

// controllerHealth returns ControllerGetVolumeHealth's entries for id.
func controllerHealth(t *testing.T, drv *testcluster.Clients, id string) []*csi.VolumeHealth_VolumeHealthEntry {
	t.Helper()
	resp, err := drv.Controller.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
	if err != nil {
		t.Fatalf("ControllerGetVolumeHealth %s: %v", id, err)
	}
	return resp.GetVolumeHealth().GetHealthStatuses()
}

// TestQuotaExceededCondition: a volume filled to its quota through a real
// ceph-fuse mount is DEGRADED QuotaExceeded in ControllerGetVolumeHealth and
// in NodeGetVolumeHealth.
func TestQuotaExceededCondition(t *testing.T) {
	needRoot(t)
	c := testcluster.Get(t)
	own := t.TempDir()
	for k, v := range c.Secrets() {
		if err := os.WriteFile(filepath.Join(own, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	drv := c.StartDriver(t, func(o *driver.Options) { o.ControllerSecretDir = own })
	ctx := context.Background()
	vol := createVolume(t, drv, c, "quota-full", 4<<20, nil)
	dir := c.MountVolume(t, drv, vol)

	// Write until the client refuses (EDQUOT), then flush what was taken.
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < 16; i++ {
		if _, err := f.Write(chunk); err != nil {
			break
		}
		_ = f.Sync()
	}
	_ = f.Sync()
	_ = f.Close()

	// The subvolume's size (rbytes) reaches the MDS as the client flushes.
	var h []*csi.VolumeHealth_VolumeHealthEntry
	for range 120 {
		if h = controllerHealth(t, drv, vol.GetVolumeId()); len(h) != 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("controller: %v", h)
	if len(h) != 1 || h[0].GetStatus() != csi.VolumeHealthErrorType_DEGRADED || h[0].GetReason() != contract.ReasonQuotaExceeded ||
		!strings.Contains(h[0].GetMessage(), "at its quota") {
		t.Fatalf("volume filled to its quota: %v, want DEGRADED %s, at its quota", h, contract.ReasonQuotaExceeded)
	}
	resp, err := drv.Node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId(), VolumePublishPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node: %v", resp.GetVolumeHealth())
	if h := resp.GetVolumeHealth().GetHealthStatuses(); len(h) != 1 || h[0].GetReason() != contract.ReasonQuotaExceeded {
		t.Errorf("NodeGetVolumeHealth of a volume at its quota: %v, want DEGRADED %s", h, contract.ReasonQuotaExceeded)
	}
}
