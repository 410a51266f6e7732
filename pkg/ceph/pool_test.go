package ceph

import (
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
)

// A connection replaced because all its slots were taken is never handed
// out again: it is closed once its calls are back, not after IdleTimeout,
// and never while a call is still in librados.
func TestPoolClosesReplacedConnections(t *testing.T) {
	t.Parallel()
	conn := func() *rados.Conn {
		c, err := rados.NewConn() // never connected: Shutdown is a no-op
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pc := func(key string, retired bool, users, calls int) *pooledConn {
		c := &pooledConn{conn: conn(), slots: make(chan struct{}, 2), users: users, lastUsed: time.Now(), key: key, retired: retired}
		for range calls {
			c.slots <- struct{}{}
		}
		return c
	}
	live := pc("live", false, 0, 0)
	abandoned := pc("abandoned", true, 0, 1) // a call the cluster has not answered
	drained := pc("drained", true, 1, 0)
	p := &Pool{IdleTimeout: time.Hour, conns: map[string]*pooledConn{"live": live, "abandoned": abandoned, "drained": drained}}
	has := func(key string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.conns[key] != nil
	}

	p.release(drained) // its last handle: closed a moment later
	for deadline := time.Now().Add(time.Minute); has("drained"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drained replaced connection was never closed")
		}
	}
	if !has("live") || !has("abandoned") {
		t.Fatalf("closed more than the drained replaced connection: %v", p.conns)
	}

	<-abandoned.slots // the late answer arrives
	p.closeIdle(neverIdle)
	if has("abandoned") {
		t.Error("a replaced connection with no call left was kept")
	}
	if !has("live") {
		t.Error("a connection in use, idle for less than IdleTimeout, was closed")
	}
}
