package controller

import (
	"context"
	"sync"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// The size of a snapshot is the quota its source had when it was taken:
// what CreateSnapshot answered (ceph-csi answers the same), what a restore
// must have at least, and what Ceph gives a clone of it. Snapshots of ours
// keep it in their record. ceph-csi keeps it nowhere but in the snapshot
// itself, whose copy of the data directory carries the quota of that moment
// (ceph.SnapshotQuota); the source's current quota is not it, as the source
// may have been expanded since.

// snapshotSizes remembers the sizes read from ceph-csi's snapshots, by
// snapshot ID, for the process's life: a snapshot never changes, and
// reading one costs a CephFS mount.
type snapshotSizes struct {
	mu   sync.Mutex
	byID map[string]int64
}

// cephCSISnapshotSize returns the size of a snapshot ceph-csi took, and
// whether it could be read: it needs a user with mds capabilities (Rook's
// provisioner has none), else the size is unknown, reported as 0 (CSI's
// "unspecified"), and a restore learns it from the clone (createFromSource).
func (s *Server) cephCSISnapshotSize(ctx context.Context, sess Session, id string, snap volumeid.Snapshot) (int64, bool) {
	s.snapSizes.mu.Lock()
	size, ok := s.snapSizes.byID[id]
	s.snapSizes.mu.Unlock()
	if ok {
		return size, true
	}
	size, err := sess.SnapshotQuota(ctx, snap.FSName, snap.Group, snap.Subvolume, snap.Name)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("The size of ceph-csi's snapshot is unknown: reading it needs a user with mds capabilities",
			"snapshot", id, "reason", err.Error())
		return 0, false
	}
	s.snapSizes.mu.Lock()
	defer s.snapSizes.mu.Unlock()
	if s.snapSizes.byID == nil {
		s.snapSizes.byID = map[string]int64{}
	}
	s.snapSizes.byID[id] = size
	return size, true
}
