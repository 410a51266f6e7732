// Package fake is an in-memory controller.Session for unit tests of failures a
// real cluster cannot be made to produce on demand.
package fake

import (
	"sync"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
)

// Session keeps subvolumes in a map. Err, when set for an operation name
// ("info", "create", "remove", "resize", "pools", "group", "metadata", …), is returned by
// that operation. Block, when set, is waited on by CreateSubvolume.
type Session struct {
	mu         sync.Mutex
	Subvolumes map[string]*ceph.Subvolume
	Pools      []string
	Err        map[string]error
	Block      chan struct{}
	Calls      []string
	Snapshots  map[string]bool
	// SnapshotQuotas: each snapshot's source quota when it was taken.
	SnapshotQuotas map[string]int64
	Records        map[string][]byte
	// Claims are the subvolume claims, by "fs/group/subvolume".
	Claims     map[string][]byte
	References map[string][]byte
	// CloneStates overrides the state CloneStatus reports, by clone name.
	CloneStates map[string]ceph.CloneState
	// CephCSI is ceph-csi's journal, by volume uuid.
	CephCSI map[string]ceph.CephCSIEntry
	// Metadata is what was recorded, by "fs/group/subvolume" and
	// "fs/group/subvolume@snapshot".
	Metadata map[string]map[string]string
	// DanglingCephCSI are keys of ceph-csi's volume directory (uuid →
	// request) whose entry is gone.
	DanglingCephCSI map[string]string
	// SnapshotTimes and PendingClones, by "fs/group/subvolume@snapshot",
	// are what SnapshotInfo reports.
	SnapshotTimes map[string]time.Time
	PendingClones map[string]bool
	// Usage is what PoolUsages reports, by pool (nil: see PoolUsages).
	Usage map[string]ceph.PoolUsage
}

// New returns an empty filesystem with one data pool.
func New() *Session {
	return &Session{Subvolumes: map[string]*ceph.Subvolume{}, Pools: []string{"data0"}, Err: map[string]error{}}
}

func (f *Session) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, op)
	return f.Err[op]
}

func key(fsName, group, name string) string { return fsName + "/" + group + "/" + name }

// Called reports whether op was called.
func (f *Session) Called(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.Calls {
		if c == op {
			return true
		}
	}
	return false
}

// Release implements controller.Session.
func (f *Session) Release() {}
