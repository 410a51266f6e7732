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
	f.snapshots()[key(fsName, group, subvolume)+"@"+name] = true
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
	return nil
}

// Clone implements controller.Session: the clone completes at once unless
// CloneStates says otherwise.
func (f *Session) Clone(ctx context.Context, c ceph.CloneSpec) error {
	if err := f.call("clone"); err != nil {
		return err
	}
	return f.CreateSubvolume(ctx, ceph.SubvolumeSpec{FSName: c.FSName, Group: c.TargetGroup, Name: c.Target, Size: 1 << 30, Pool: c.Pool})
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
