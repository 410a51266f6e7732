package integration

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
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

// cephCalls records the driver's calls into Ceph by operation and errno.
type cephCalls struct {
	mu    sync.Mutex
	calls []string // "op errno" ("op ok" for a success)
}

func (l *cephCalls) ObserveCephCall(op string, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.calls = append(l.calls, op+" ok")
		return
	}
	l.calls = append(l.calls, op+" "+ceph.Errno(err).Error())
}

func (l *cephCalls) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// TestStalledOSD: while the only OSD does not answer, a RADOS operation
// times out after the op timeout; the driver then fetches the newest osdmap
// from the monitors (which do answer), tries once more and answers
// Unavailable; once the OSD resumes the same connection serves the call.
// (The retry is for a client routing by an old osdmap after an OSD
// restart, which a test cannot bring about on demand; a stopped OSD takes
// the same path through librados.)
func TestStalledOSD(t *testing.T) {
	c := testcluster.Fault(t)
	cfg, err := config.Load(c.ConfigFile(t))
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := cfg.Cluster(testcluster.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := contract.CredentialsFromSecrets(c.Secrets(), true)
	if err != nil {
		t.Fatal(err)
	}
	calls := &cephCalls{}
	const opTimeout = 2 * time.Second
	pool := ceph.NewPool(opTimeout, time.Minute)
	pool.Observer = calls
	t.Cleanup(pool.Close)
	ctx := context.Background()
	admin, err := pool.Connect(ctx, cluster, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Release()
	if _, err := admin.ListRecords(ctx, c.FS); err != nil {
		t.Fatalf("ListRecords on a healthy cluster: %v", err)
	}

	c.Signal(t, "osd", "STOP")
	stopped := true
	defer func() {
		if stopped {
			c.Signal(t, "osd", "CONT")
		}
	}()
	before := len(calls.list())
	start := time.Now()
	_, err = admin.ListRecords(ctx, c.FS)
	took := time.Since(start)
	if !errors.Is(err, contract.ErrUnavailable) {
		t.Fatalf("ListRecords with the OSD stopped: %v, want Unavailable", err)
	}
	stalled := calls.list()[before:]
	want := []string{"omap_read connection timed out", "osdmap_refresh ok", "omap_read connection timed out"}
	if !slices.Equal(stalled, want) {
		t.Errorf("calls into Ceph with the OSD stopped: %q, want %q", stalled, want)
	}
	t.Logf("with the OSD stopped: %v after %v (op timeout %v, retried once)", err, took.Round(time.Millisecond), opTimeout)

	c.Signal(t, "osd", "CONT")
	stopped = false
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := admin.ListRecords(ctx, c.FS)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListRecords 30 s after the OSD resumed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
