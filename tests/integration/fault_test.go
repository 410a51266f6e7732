package integration

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

func probeReady(t *testing.T, drv *testcluster.Clients) bool {
	t.Helper()
	resp, err := drv.Identity.Probe(context.Background(), &csi.ProbeRequest{})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	return resp.GetReady().GetValue()
}

// TestProbeFollowsMonitor: Probe says not-ready while the mon is down and
// ready again once it is back.
func TestProbeFollowsMonitor(t *testing.T) {
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	info, err := drv.Identity.GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil || info.GetName() == "" {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	if !probeReady(t, drv) {
		t.Fatal("not ready on a healthy cluster")
	}
	c.Run(t, "mon-stop")
	restarted := false
	defer func() {
		if !restarted {
			c.Run(t, "mon-start")
		}
	}()
	if probeReady(t, drv) {
		t.Fatal("ready while the mon is stopped")
	}
	c.Run(t, "mon-start")
	restarted = true
	deadline := time.Now().Add(30 * time.Second)
	for !probeReady(t, drv) {
		if time.Now().After(deadline) {
			t.Fatal("still not ready 30 s after the mon restarted")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStalledMgr: while the mgr does not answer, CreateVolume ends at the
// RPC deadline with DeadlineExceeded instead of hanging; the late answers
// that arrive once the mgr resumes do no harm (Pacific's librados corrupts
// its heap when its own op timeout fires, so the driver must not use it),
// and the driver serves the retry.
func TestStalledMgr(t *testing.T) {
	c := testcluster.Fault(t)
	drv := c.StartDriver(t, nil)
	req := &csi.CreateVolumeRequest{
		Name:               "stalled-mgr-" + time.Now().Format("150405.000"),
		CapacityRange:      &csi.CapacityRange{RequiredBytes: 64 << 20},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)},
		Parameters:         c.Params(),
		Secrets:            c.Secrets(),
	}
	// Warm the connection so that the stall hits mgr commands, not connect.
	if _, err := drv.Controller.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: "cfs1:" + testcluster.ClusterID + ":" + c.FS + ":csi:none", VolumeCapabilities: req.VolumeCapabilities, Secrets: c.Secrets(),
	}); status.Code(err) != codes.NotFound {
		t.Fatalf("warm-up: %v", err)
	}
	c.Signal(t, "mgr", "STOP")
	stopped := true
	defer func() {
		if stopped {
			c.Signal(t, "mgr", "CONT")
		}
	}()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, err := drv.Controller.CreateVolume(ctx, req)
		cancel()
		// A retry may still find the first call's handler holding the
		// volume's lock: Aborted is the right answer then.
		if c := status.Code(err); c != codes.DeadlineExceeded && (i == 0 || c != codes.Aborted) {
			t.Fatalf("CreateVolume %d with a stalled mgr: %v, want DeadlineExceeded", i, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("CreateVolume took %s past a 2 s deadline", took)
		}
	}
	c.Signal(t, "mgr", "CONT")
	stopped = false

	var resp *csi.CreateVolumeResponse
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		resp, err = drv.Controller.CreateVolume(context.Background(), req)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateVolume after the mgr resumed: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets())
	// Give late replies time to land, then use the connection again.
	time.Sleep(2 * time.Second)
	if _, err := drv.Controller.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{
		VolumeId: resp.GetVolume().GetVolumeId(), Secrets: c.Secrets(),
	}); err != nil {
		t.Fatalf("delete again: %v", err)
	}
}
