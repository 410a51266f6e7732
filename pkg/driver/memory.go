package driver

/*
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// 1 when the constructor below capped glibc's malloc arenas.
static int cephfs_csi_arenas_limited;

// Runs before the Go runtime starts its first thread: glibc gives every
// thread its own arena at its first malloc (up to the limit), so a cap set
// later leaves the arenas made by then in use.
__attribute__((constructor)) static void cephfs_csi_limit_arenas(void) {
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (tunables != NULL && strstr(tunables, "glibc.malloc.arena_max") != NULL)) {
		return; // the operator's choice
	}
	cephfs_csi_arenas_limited = mallopt(M_ARENA_MAX, 2);
}

static int cephfs_csi_arenas(void) { return cephfs_csi_arenas_limited ? 2 : 0; }
*/
import "C"

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// MallocArenas is the number of glibc malloc arenas the process was
// limited to at its start (0: not limited, the operator set
// MALLOC_ARENA_MAX or the glibc.malloc.arena_max tunable).
//
// glibc's default is eight arenas per core, and every thread gets one of its
// own at its first malloc while there are fewer: every Go thread that ever
// ran a librados call (one per call in flight) and every librados thread.
// Each arena keeps what was freed in it, so after the benchmark the driver's
// arenas (up to 16 on 2 cores) held 18.7 MiB; two held 4 MiB (docs/design.md, "Memory"). A node with more cores allows more
// arenas. librados calls wait on the network, not on malloc: two arenas cost
// no latency that the benchmark could see.
func MallocArenas() int { return int(C.cephfs_csi_arenas()) }

// releaseQuiet is how long the driver must have answered no RPC before it
// hands back to the system what a burst of calls left free.
const releaseQuiet = 2 * time.Second

// releaser returns free memory to the system once RPCs stopped for a
// while: Go keeps freed heap pages for a few minutes and glibc keeps freed
// chunks in its arenas, so without it the driver stays at the size of its
// busiest moment. Doing it only when quiet costs no RPC any latency.
type releaser struct {
	quiet time.Duration
	mu    sync.Mutex
	timer *time.Timer
}

func newReleaser(quiet time.Duration, release func()) *releaser {
	r := &releaser{quiet: quiet}
	r.timer = time.AfterFunc(quiet, release)
	r.timer.Stop()
	return r
}

// busy says an RPC was answered: the release waits for quiet again.
func (r *releaser) busy() {
	r.mu.Lock()
	r.timer.Reset(r.quiet)
	r.mu.Unlock()
}

func (r *releaser) stop() {
	r.mu.Lock()
	r.timer.Stop()
	r.mu.Unlock()
}

// releaseMemory returns Go's free heap pages (after a collection) and
// glibc's free arena pages (librados' allocations) to the system.
func releaseMemory() {
	log := klog.V(4).Enabled()
	var before int64
	if log {
		before = residentKiB()
	}
	start := time.Now()
	debug.FreeOSMemory()
	C.malloc_trim(0)
	if log {
		klog.V(4).InfoS("Returned free memory to the system", "rssKiB", before, "afterKiB", residentKiB(), "took", time.Since(start))
	}
}

// residentKiB is this process's resident set size (VmRSS), 0 if unknown.
func residentKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// releasingObserver tells the releaser of every answered RPC.
type releasingObserver struct {
	server.Observer
	r *releaser
}

func (o releasingObserver) ObserveRPC(method string, code codes.Code, d time.Duration) {
	o.Observer.ObserveRPC(method, code, d)
	o.r.busy()
}
