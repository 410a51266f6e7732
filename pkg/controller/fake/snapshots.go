package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// CreateSnapshot implements controller.Session.
func (f *Session) CreateSnapshot(_ context.Context, fsName, group, subvolume, name string) error {
	if err := f.call("snapshot"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Subvolumes[key(fsName, group, subvolume)]; !ok {
		return fmt.Errorf("subvolume %s: %w", subvolume, contract.ErrNotFound)
	}
	k := key(fsName, group, subvolume) + "@" + name
	if !f.snapshots()[k] {
		f.quotas()[k] = f.Subvolumes[key(fsName, group, subvolume)].Size
	}
	f.snapshots()[k] = true
	return nil
}

func (f *Session) snapshots() map[string]bool {
	if f.Snapshots == nil {
		f.Snapshots = map[string]bool{}
	}
	return f.Snapshots
}

// SnapshotCreated implements controller.Session.
func (f *Session) SnapshotCreated(_ context.Context, fsName, group, subvolume, name string) (time.Time, error) {
	if err := f.call("snapshot-info"); err != nil {
		return time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.snapshots()[key(fsName, group, subvolume)+"@"+name] {
		return time.Time{}, fmt.Errorf("snapshot %s: %w", name, contract.ErrNotFound)
	}
	return time.Unix(1700000000, 0), nil
}

// RemoveSnapshot implements controller.Session.
func (f *Session) RemoveSnapshot(_ context.Context, fsName, group, subvolume, name string) error {
	if err := f.call("snapshot-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snapshots(), key(fsName, group, subvolume)+"@"+name)
	if sv, ok := f.Subvolumes[key(fsName, group, subvolume)]; ok && sv.Retained {
		f.removeRetaining(key(fsName, group, subvolume)) // the last snapshot purges it
	}
	return nil
}

// Clone implements controller.Session: the clone completes at once unless
// CloneStates says otherwise, with the snapshot's quota, as Ceph gives it.
func (f *Session) Clone(_ context.Context, c ceph.CloneSpec) error {
	if err := f.call("clone"); err != nil {
		return err
	}
	f.mu.Lock()
	size, ok := f.quotas()[key(c.FSName, c.Group, c.Subvolume)+"@"+c.Snapshot]
	f.mu.Unlock()
	if !ok {
		size = 1 << 30
	}
	f.put(ceph.SubvolumeSpec{FSName: c.FSName, Group: c.TargetGroup, Name: c.Target, Size: size, Pool: c.Pool})
	return nil
}

// CloneStatus implements controller.Session.
func (f *Session) CloneStatus(_ context.Context, fsName, group, name string) (*ceph.CloneState, error) {
	if err := f.call("clone-status"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Subvolumes[key(fsName, group, name)]; !ok {
		return nil, fmt.Errorf("clone %s: %w", name, contract.ErrNotFound)
	}
	if st, ok := f.CloneStates[name]; ok {
		return &st, nil
	}
	return &ceph.CloneState{State: "complete"}, nil
}

// SnapshotQuota implements controller.Session: the source's quota when the
// snapshot was taken (Err["snapshot-quota"] makes it fail).
func (f *Session) SnapshotQuota(_ context.Context, fsName, group, subvolume, name string) (int64, error) {
	if err := f.call("snapshot-quota"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.quotas()[key(fsName, group, subvolume)+"@"+name]
	if !ok {
		return 0, fmt.Errorf("snapshot %s: %w", name, contract.ErrNotFound)
	}
	return q, nil
}

func (f *Session) quotas() map[string]int64 {
	if f.SnapshotQuotas == nil {
		f.SnapshotQuotas = map[string]int64{}
	}
	return f.SnapshotQuotas
}
