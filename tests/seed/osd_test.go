package seed

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOSDRestart: an OSD is killed (SIGKILL, as a crash or the OOM killer
// would) under a client writing and fsyncing through a published volume,
// then started again; or it falls silent (SIGSTOP: its connections stay
// open, as when its host vanishes from the network, so only the peers'
// heartbeats tell) and comes back (SIGCONT). Replicated size 3 / min_size 2 and EC 2+1 / min_size 2
// both serve with one OSD of three down, so the client may pause while the
// mon marks the OSD down but sees no error; after the restart the PGs
// recover to active+clean, and a fresh mount reads exactly what was synced.
// Pauses and recovery are measured and logged, not asserted.
func TestOSDRestart(t *testing.T) {
	c := getSeed(t)
	drv := c.StartDriver(t, nil)
	pools := []struct {
		name   string
		params map[string]string
		silent bool // paused, not killed
	}{
		{"replicated", c.Params(), false}, // the filesystem's default data pool
		{"ec", c.ecParams(), false},
		{"replicated, silent", c.Params(), true},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			waitClean(t, c, "every OSD up and every PG active+clean before the kill")
			// The mgr purges a deleted subvolume's data in the background:
			// hundreds of MiB here, which would still be shrinking the pool's
			// `stored` while the next test (TestECDataPool of a next run on
			// the same cluster) measures its growth. Registered first, so it
			// runs after the deletion.
			var pool string
			var stored int64
			t.Cleanup(func() {
				if pool == "" {
					return
				}
				start := time.Now()
				waitFor(t, "the deleted volume's data purged from "+pool, func() bool { return poolStored(t, c, pool) <= stored })
				t.Logf("%s: the deleted volume's data was purged %v after its deletion", pool, time.Since(start).Round(time.Second))
			})
			vol := createVolume(t, drv, c, "osd-restart-"+p.name, p.params, nil)
			dir := c.MountVolume(t, drv, vol)
			pool = xattr(t, dir, "ceph.dir.layout.pool")
			stored = poolStored(t, c, pool)
			file := filepath.Join(dir, "log")
			w := startSyncWriter(t, file)
			w.waitBlocks(t, 20, "20 blocks written and synced before the kill")

			// The acting primary of the object being appended to: the
			// write in flight there waits for a new primary to peer.
			osd := primaryOf(t, c, pool, currentObject(t, file, w))
			daemon := "osd." + strconv.Itoa(osd)
			stop, start, stopped := "daemon-kill", "daemon-start", "killed"
			if p.silent {
				stop, start, stopped = "daemon-pause", "daemon-resume", "paused"
			}
			restarted := false
			t.Cleanup(func() { // never leave the next test an OSD short
				if !restarted {
					c.clusterSh(t, start, daemon)
				}
			})

			w.phase() // the longest wait counts from the stop on
			stoppedAt := time.Now()
			c.clusterSh(t, stop, daemon)
			waitFor(t, daemon+" marked down", func() bool { return !osdUp(t, c, osd) })
			markedDown := time.Since(stoppedAt)
			w.waitBlocks(t, 50, "50 blocks synced with "+daemon+" down")
			down := w.phase()

			startedAt := time.Now()
			c.clusterSh(t, start, daemon)
			restarted = true
			waitFor(t, daemon+" up", func() bool { return osdUp(t, c, osd) })
			up := time.Since(startedAt)
			waitClean(t, c, "every PG active+clean after "+daemon+" restarted")
			recovery := time.Since(startedAt)
			recovering := w.phase()
			w.waitBlocks(t, 20, "20 blocks synced after the recovery")
			after := w.phase()
			blocks, sum := w.finish(t)

			t.Logf("%s: %s %s (acting primary of the object in writing): marked down after %v; %s. "+
				"Restarted: up after %v, every PG active+clean after %v; %s. Then %s. %d blocks of 64 KiB in all",
				pool, stopped, daemon, markedDown.Round(time.Millisecond), down.since(stoppedAt),
				up.Round(time.Millisecond), recovery.Round(time.Millisecond), recovering.since(startedAt),
				after.since(startedAt), blocks)

			// What a new client reads, from the recovered OSDs, is what the
			// writer synced, byte for byte.
			again := c.MountVolume(t, drv, vol)
			if got := fileSum(t, filepath.Join(again, "log")); got != sum {
				t.Errorf("after the OSD restart a new mount reads other bytes than the %d blocks written", blocks)
			}
		})
	}
}

// writerPhase is what the writer did between two calls of phase.
type writerPhase struct {
	blocks    int
	longest   time.Duration // the longest write+fsync of one block
	longestAt time.Time     // when it ended
}

func (p writerPhase) since(t0 time.Time) string {
	if p.blocks == 0 {
		return "no block synced"
	}
	return fmt.Sprintf("%d blocks synced, the longest write+fsync %v (ended +%v)",
		p.blocks, p.longest.Round(time.Millisecond), p.longestAt.Sub(t0).Round(time.Millisecond))
}

// phase ends the writer's current phase and starts the next: it returns the
// blocks synced and the longest wait since the last call.
func (w *syncWriter) phase() writerPhase {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := writerPhase{blocks: w.blocks - w.phaseStart, longest: w.longest, longestAt: w.longestAt}
	w.phaseStart, w.longest, w.longestAt = w.blocks, 0, time.Time{}
	return p
}

// currentObject names the RADOS object the writer appends to now:
// `<inode in hex>.<object index as 8 hex digits>` (one stripe per object,
// the default layout).
func currentObject(t *testing.T, file string, w *syncWriter) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	objectSize, err := strconv.ParseInt(xattr(t, file, "ceph.file.layout.object_size"), 10, 64)
	if err != nil || objectSize <= 0 {
		t.Fatalf("ceph.file.layout.object_size of %s: %q, %v", file, xattr(t, file, "ceph.file.layout.object_size"), err)
	}
	blocks, _ := w.progress()
	return fmt.Sprintf("%x.%08x", st.Ino, int64(blocks)*64<<10/objectSize)
}

// primaryOf is the acting primary OSD of an object.
func primaryOf(t *testing.T, c *seedCluster, pool, object string) int {
	t.Helper()
	var m struct {
		Acting        []int
		ActingPrimary int `json:"acting_primary"`
	}
	c.CephJSON(t, &m, "osd", "map", pool, object)
	if !slices.Contains(m.Acting, m.ActingPrimary) {
		t.Fatalf("osd map %s %s: primary %d not in the acting set %v", pool, object, m.ActingPrimary, m.Acting)
	}
	return m.ActingPrimary
}

// osdStates maps each OSD's id to whether the osdmap has it up, and gives
// the latest epoch from which one of them is up (its restart's, if any).
func osdStates(t *testing.T, c *seedCluster) (up map[int]bool, upFrom int) {
	t.Helper()
	var dump struct {
		OSDs []struct {
			OSD    int
			Up     int
			UpFrom int `json:"up_from"`
		}
	}
	c.CephJSON(t, &dump, "osd", "dump")
	up = map[int]bool{}
	for _, o := range dump.OSDs {
		up[o.OSD] = o.Up == 1
		upFrom = max(upFrom, o.UpFrom)
	}
	return up, upFrom
}

func osdUp(t *testing.T, c *seedCluster, id int) bool {
	t.Helper()
	up, _ := osdStates(t, c)
	return up[id]
}

// pgSummary counts the PGs by state ("9 active+undersized+degraded, 24
// active+clean") and says whether every one is active+clean as reported
// by its primary at osdmap epoch since or later. The mgr aggregates the
// OSDs' reports, seconds apart: without the epoch, states reported before
// an OSD's restart would pass for the recovered ones.
func pgSummary(t *testing.T, c *seedCluster, since int) (string, bool) {
	t.Helper()
	var dump struct {
		PGStats []struct {
			State         string
			ReportedEpoch int `json:"reported_epoch"`
		} `json:"pg_stats"`
	}
	c.CephJSON(t, &dump, "pg", "dump", "pgs")
	count := map[string]int{}
	clean := len(dump.PGStats) > 0
	for _, pg := range dump.PGStats {
		state := pg.State
		if pg.ReportedEpoch < since {
			state += " (reported before epoch " + strconv.Itoa(since) + ")"
		}
		count[state]++
		if state != "active+clean" {
			clean = false
		}
	}
	parts := make([]string, 0, len(count))
	for state, n := range count {
		parts = append(parts, fmt.Sprintf("%d %s", n, state))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", "), clean
}

// waitClean waits until every OSD is up and every PG active+clean, logging
// each new summary of their states on the way.
func waitClean(t *testing.T, c *seedCluster, what string) {
	t.Helper()
	start, last := time.Now(), ""
	logNew := func(s string) {
		if s != last {
			t.Logf("+%v: %s", time.Since(start).Round(time.Millisecond), s)
			last = s
		}
	}
	waitFor(t, what, func() bool {
		up, upFrom := osdStates(t, c)
		for id, ok := range up {
			if !ok {
				logNew(fmt.Sprintf("osd.%d down", id))
				return false
			}
		}
		summary, clean := pgSummary(t, c, upFrom)
		logNew(summary)
		return clean
	})
}
