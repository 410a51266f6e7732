package seed

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// mdsState is one line of `ceph fs status`'s mdsmap.
type mdsState struct {
	Name  string
	State string
}

// mdsStates are the filesystem's MDS daemons and their states.
func mdsStates(t *testing.T, c *seedCluster) []mdsState {
	t.Helper()
	var st struct{ MDSMap []mdsState }
	c.CephJSON(t, &st, "fs", "status", c.FS)
	return st.MDSMap
}

// mdsIn is the name of the daemon in state (active, standby-replay, …), or "".
func mdsIn(t *testing.T, c *seedCluster, state string) string {
	t.Helper()
	for _, m := range mdsStates(t, c) {
		if m.State == state {
			return m.Name
		}
	}
	return ""
}

// syncWriter appends blocks to a file and fsyncs after each, until stopped:
// the client under load. It records the longest wait for one block, when it
// ended, and the SHA-256 of all it wrote.
type syncWriter struct {
	f    *os.File
	sum  hash.Hash
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	blocks    int
	err       error
	longest   time.Duration
	longestAt time.Time
	lastAt    time.Time

	phaseStart int // blocks synced when the current phase began (osd_test.go)
}

func startSyncWriter(t *testing.T, path string) *syncWriter {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := &syncWriter{f: f, sum: sha256.New(), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *syncWriter) run() {
	defer close(w.done)
	block := make([]byte, 64<<10)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			w.setErr(w.f.Close())
			return
		default:
		}
		for j := range block {
			block[j] = byte(i*31 + j)
		}
		start := time.Now()
		if _, err := w.f.Write(block); err != nil {
			w.setErr(fmt.Errorf("write of block %d: %w", i, err))
			return
		}
		if err := w.f.Sync(); err != nil {
			w.setErr(fmt.Errorf("fsync of block %d: %w", i, err))
			return
		}
		now := time.Now()
		w.mu.Lock()
		w.sum.Write(block)
		w.blocks++
		w.lastAt = now
		if d := now.Sub(start); d > w.longest {
			w.longest, w.longestAt = d, now
		}
		w.mu.Unlock()
	}
}

func (w *syncWriter) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// progress is the number of blocks synced so far and the error that stopped
// the writer, if any.
func (w *syncWriter) progress() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.blocks, w.err
}

// waitBlocks waits until n more blocks than now are synced.
func (w *syncWriter) waitBlocks(t *testing.T, n int, what string) {
	t.Helper()
	start, _ := w.progress()
	waitFor(t, what, func() bool {
		got, err := w.progress()
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
		return got >= start+n
	})
}

// finish stops the writer and returns what it wrote.
func (w *syncWriter) finish(t *testing.T) (blocks int, sum [32]byte) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	copy(sum[:], w.sum.Sum(nil))
	return w.blocks, sum
}

// TestMDSFailover: the active MDS fails while a client writes and fsyncs
// through a published volume; the standby-replay daemon takes over, the
// client pauses but sees no error and loses nothing, and the volume's stats
// stay healthy. The pause is measured and logged, not asserted.
func TestMDSFailover(t *testing.T) {
	c := getSeed(t)
	drv := c.StartDriver(t, nil)
	ctx := context.Background()
	waitFor(t, "an active MDS and a standby-replay one", func() bool {
		return mdsIn(t, c, "active") != "" && mdsIn(t, c, "standby-replay") != ""
	})

	vol := createVolume(t, drv, c, "mds-failover", c.ecParams(), nil)
	dir := c.MountVolume(t, drv, vol)
	w := startSyncWriter(t, filepath.Join(dir, "log"))
	w.waitBlocks(t, 20, "20 blocks written and synced before the failover")

	active := mdsIn(t, c, "active")
	failedAt := time.Now()
	c.Ceph(t, "mds", "fail", c.FS+":0")
	waitFor(t, "another MDS to become active", func() bool {
		now := mdsIn(t, c, "active")
		return now != "" && now != active
	})
	takeover := time.Since(failedAt)
	w.waitBlocks(t, 20, "20 blocks synced after the takeover")
	blocks, sum := w.finish(t)
	w.mu.Lock()
	pause, pauseEnd := w.longest, w.longestAt
	w.mu.Unlock()
	t.Logf("MDS failover: %s failed, %s active after %v; longest write+fsync %v (ended %v after the fail); %d blocks of 64 KiB",
		active, mdsIn(t, c, "active"), takeover.Round(time.Millisecond), pause.Round(time.Millisecond),
		pauseEnd.Sub(failedAt).Round(time.Millisecond), blocks)

	// What a new client reads is what the writer synced, byte for byte.
	again := c.MountVolume(t, drv, vol)
	if got := fileSum(t, filepath.Join(again, "log")); got != sum {
		t.Errorf("after the failover a new mount reads other bytes than the %d blocks written", blocks)
	}
	// Stats answer (a mount that does not is FailedPrecondition), and the
	// node's health check finds nothing wrong.
	if _, err := drv.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: dir}); err != nil {
		t.Fatalf("NodeGetVolumeStats after the takeover: %v", err)
	}
	health, err := drv.Node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId(), VolumePublishPath: dir})
	if err != nil {
		t.Fatalf("NodeGetVolumeHealth after the takeover: %v", err)
	}
	if entries := health.GetVolumeHealth().GetHealthStatuses(); len(entries) > 0 {
		t.Errorf("NodeGetVolumeHealth after the takeover: %v", entries)
	}

	// The failed daemon comes back as the standby the next test needs.
	waitFor(t, "a standby-replay MDS again", func() bool { return mdsIn(t, c, "standby-replay") != "" })
}
