package driver

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestMallocArenasLimitedAtStart(t *testing.T) {
	t.Parallel()
	want := 2
	if os.Getenv("MALLOC_ARENA_MAX") != "" || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "glibc.malloc.arena_max") {
		want = 0 // the operator's choice is kept
	}
	if got := MallocArenas(); got != want {
		t.Errorf("MallocArenas() = %d, want %d", got, want)
	}
}

// The release runs once RPCs stop, not after each, and not after stop.
func TestReleaserWaitsForQuiet(t *testing.T) {
	t.Parallel()
	released := make(chan struct{}, 10)
	r := newReleaser(time.Millisecond, func() { released <- struct{}{} })
	select {
	case <-released:
		t.Fatal("released before any RPC")
	default:
	}
	for range 3 {
		r.busy()
	}
	<-released
	r.busy()
	r.stop()
	// A release already running when stop came is harmless; none is
	// scheduled after it.
	if len(released) > 1 {
		t.Fatalf("%d releases after one burst", len(released))
	}
}

func TestResidentKiB(t *testing.T) {
	t.Parallel()
	if kib := residentKiB(); kib <= 0 {
		t.Fatalf("residentKiB() = %d", kib)
	}
}

// releaseMemory runs without a cluster or RPCs (it only asks Go and glibc).
func TestReleaseMemory(t *testing.T) {
	t.Parallel()
	releaseMemory()
}
