package seed

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// rpcDeadline is what a CO gives one call here (csi-provisioner's --timeout
// is of this order once retries back off); every call must answer within it.
const rpcDeadline = time.Minute

// rpcLog counts what the calls under load answered.
type rpcLog struct {
	mu      sync.Mutex
	calls   int
	codes   map[codes.Code]int // answers that were retried
	slowest time.Duration
	kept    map[string]bool // subvolume names of volumes that must remain
	gone    map[string]bool // subvolume names of volumes deleted successfully
}

// call runs one RPC until it succeeds, as a CO would: each attempt within
// rpcDeadline; Unavailable and Aborted are retried, anything else fails.
func (l *rpcLog) call(t *testing.T, what string, rpc func(ctx context.Context) error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), rpcDeadline)
		start := time.Now()
		err := rpc(ctx)
		took := time.Since(start)
		cancel()
		l.mu.Lock()
		l.calls++
		l.slowest = max(l.slowest, took)
		code := status.Code(err)
		if err != nil {
			l.codes[code]++
		}
		l.mu.Unlock()
		switch code {
		case codes.OK:
			return
		case codes.Unavailable, codes.Aborted:
			time.Sleep(200 * time.Millisecond)
		default: // DeadlineExceeded included: the call outlived its deadline
			t.Errorf("%s: %v (after %v)", what, err, took.Round(time.Millisecond))
			return
		}
	}
}

func subvolumeOf(t *testing.T, volID string) string {
	v, err := volumeid.DecodeVolume(volID)
	if err != nil {
		t.Error(err)
	}
	return v.Subvolume
}

// subvolumeSet lists the subvolumes of the cluster's group.
func subvolumeSet(t *testing.T, c *seedCluster) map[string]bool {
	t.Helper()
	var list []struct{ Name string }
	c.CephJSON(t, &list, "fs", "subvolume", "ls", c.FS, "--group_name", c.Group)
	set := map[string]bool{}
	for _, s := range list {
		set[s.Name] = true
	}
	return set
}

func activeMgr(t *testing.T, c *seedCluster) (name string, standbys int) {
	t.Helper()
	var st struct {
		ActiveName string `json:"active_name"`
		Available  bool
		NumStandby int `json:"num_standby"`
	}
	c.CephJSON(t, &st, "mgr", "stat")
	if !st.Available {
		return "", st.NumStandby
	}
	return st.ActiveName, st.NumStandby
}

// TestMgrFailover: eight clients create volumes, snapshot them and delete
// every other one while the active mgr fails. Every call answers within its
// deadline, with success or a code a retry turns into success, and afterwards
// the group holds exactly the volumes that were kept: none leaked, none lost.
func TestMgrFailover(t *testing.T) {
	c := getSeed(t)
	drv := c.StartDriver(t, nil)
	waitFor(t, "an active mgr and a standby", func() bool {
		name, standbys := activeMgr(t, c)
		return name != "" && standbys > 0
	})
	before := subvolumeSet(t, c)
	l := &rpcLog{codes: map[codes.Code]int{}, kept: map[string]bool{}, gone: map[string]bool{}}
	stamp := time.Now().Format("150405")

	const workers = 8
	var (
		wg       sync.WaitGroup
		progress sync.Mutex
		rounds   int
		stop     = make(chan struct{})
	)
	worker := func(w int) {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("mgrfo-%s-%d-%d", stamp, w, k)
			var vol *csi.Volume
			l.call(t, "CreateVolume "+name, func(ctx context.Context) error {
				resp, err := drv.Controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
					Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20},
					VolumeCapabilities: []*csi.VolumeCapability{testcluster.RWX}, Parameters: c.Params(), Secrets: c.Secrets(),
				})
				vol = resp.GetVolume()
				return err
			})
			if vol == nil {
				return
			}
			id, sub := vol.GetVolumeId(), subvolumeOf(t, vol.GetVolumeId())
			var snapID string
			l.call(t, "CreateSnapshot of "+name, func(ctx context.Context) error {
				resp, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
					Name: name + "-snap", SourceVolumeId: id, Secrets: c.Secrets(),
				})
				snapID = resp.GetSnapshot().GetSnapshotId()
				return err
			})
			l.call(t, "DeleteSnapshot of "+name, func(ctx context.Context) error {
				_, err := drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snapID, Secrets: c.Secrets()})
				return err
			})
			if k%2 == 1 {
				l.call(t, "DeleteVolume "+name, func(ctx context.Context) error {
					_, err := drv.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets()})
					return err
				})
				l.mu.Lock()
				l.gone[sub] = true
				l.mu.Unlock()
			} else {
				l.mu.Lock()
				l.kept[sub] = true
				l.mu.Unlock()
				t.Cleanup(func() { deleteVolume(t, drv, c, id) })
			}
			progress.Lock()
			rounds++
			progress.Unlock()
		}
	}
	done := func(n int) func() bool {
		return func() bool { progress.Lock(); defer progress.Unlock(); return rounds >= n }
	}
	for w := range workers {
		wg.Add(1)
		go worker(w)
	}
	waitFor(t, "8 rounds before the failover", done(workers))

	old, _ := activeMgr(t, c)
	failedAt := time.Now()
	c.Ceph(t, "mgr", "fail", old)
	waitFor(t, "another mgr to become active", func() bool {
		name, _ := activeMgr(t, c)
		return name != "" && name != old
	})
	takeover := time.Since(failedAt)
	progress.Lock()
	after := rounds + 2*workers
	progress.Unlock()
	waitFor(t, "16 more rounds after the takeover", done(after))
	close(stop)
	wg.Wait()

	now, _ := activeMgr(t, c)
	t.Logf("mgr failover: %s failed, %s active after %v; %d calls, slowest %v, retried answers %v",
		old, now, takeover.Round(time.Millisecond), l.calls, l.slowest.Round(time.Millisecond), l.codes)

	got := subvolumeSet(t, c)
	var leaked, missing []string
	for name := range l.gone {
		if got[name] {
			leaked = append(leaked, name)
		}
	}
	for name := range l.kept {
		if !got[name] {
			missing = append(missing, name)
		}
	}
	for name := range got {
		if !before[name] && !l.kept[name] && !l.gone[name] {
			leaked = append(leaked, name) // made by a call whose answer was lost
		}
	}
	t.Logf("%d volumes kept, %d deleted; %d leaked, %d missing", len(l.kept), len(l.gone), len(leaked), len(missing))
	if len(leaked) > 0 || len(missing) > 0 {
		t.Errorf("subvolumes after the failover: leaked %v, missing %v", slices.Sorted(slices.Values(leaked)), missing)
	}
	waitFor(t, "a standby mgr again", func() bool { _, standbys := activeMgr(t, c); return standbys > 0 })
}
