package fake

import (
	"context"
	"fmt"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// DataPools implements controller.Session.
func (f *Session) DataPools(context.Context, string) ([]string, error) {
	if err := f.call("pools"); err != nil {
		return nil, err
	}
	return f.Pools, nil
}

// EnsureGroup implements controller.Session.
func (f *Session) EnsureGroup(context.Context, string, string) error { return f.call("group") }

// CreateSubvolume implements controller.Session.
func (f *Session) CreateSubvolume(ctx context.Context, s ceph.SubvolumeSpec) error {
	if f.Block != nil {
		f.call("create-blocked")
		select {
		case <-f.Block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := f.call("create"); err != nil {
		return err
	}
	f.put(s)
	return nil
}

// put makes a subvolume as Ceph's create or a complete clone would.
func (f *Session) put(s ceph.SubvolumeSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pool := s.Pool
	if pool == "" {
		pool = f.Pools[0]
	}
	f.Subvolumes[key(s.FSName, s.Group, s.Name)] = &ceph.Subvolume{
		Path: fmt.Sprintf("/volumes/%s/%s/uuid", s.Group, s.Name), Size: s.Size, Pool: pool,
		Mode: s.Mode, UID: s.UID, GID: s.GID, State: "complete", Created: Created,
	}
}

// SubvolumeInfo implements controller.Session.
func (f *Session) SubvolumeInfo(_ context.Context, fsName, group, name string) (*ceph.Subvolume, error) {
	if err := f.call("info"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sv, ok := f.Subvolumes[key(fsName, group, name)]
	if !ok {
		return nil, fmt.Errorf("subvolume %s: %w", name, contract.ErrNotFound)
	}
	if st, ok := f.CloneStates[name]; ok && st.State != "complete" {
		// As Ceph: EAGAIN for a clone that is not complete.
		return nil, fmt.Errorf("subvolume %s is a clone in state %s: %w", name, st.State, contract.ErrFailedPrecondition)
	}
	cp := *sv
	return &cp, nil
}

// SubvolumePath implements controller.Session.
func (f *Session) SubvolumePath(ctx context.Context, fsName, group, name string) (string, error) {
	if err := f.call("getpath"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sv, ok := f.Subvolumes[key(fsName, group, name)]
	if !ok || sv.Retained {
		return "", fmt.Errorf("subvolume %s: %w", name, contract.ErrNotFound)
	}
	return sv.Path, nil
}

// ClaimSubvolume implements controller.Session.
func (f *Session) ClaimSubvolume(_ context.Context, fsName, group, name string, value []byte) (bool, error) {
	if err := f.call("claim"); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Claims[key(fsName, group, name)]; ok {
		return false, nil
	}
	if f.Claims == nil {
		f.Claims = map[string][]byte{}
	}
	f.Claims[key(fsName, group, name)] = value
	return true, nil
}

// DropSubvolumeClaim implements controller.Session.
func (f *Session) DropSubvolumeClaim(_ context.Context, fsName, group, name string) error {
	if err := f.call("claim-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Claims, key(fsName, group, name))
	return nil
}

// RemoveSubvolume implements controller.Session.
// As Ceph, it refuses a clone that is not complete (EAGAIN).
func (f *Session) RemoveSubvolume(_ context.Context, fsName, group, name string) error {
	if err := f.call("remove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Subvolumes[key(fsName, group, name)]; ok {
		if st, ok := f.CloneStates[name]; ok && st.State != "complete" {
			return fmt.Errorf("subvolume %s is not ready for operation rm: %w", name, contract.ErrFailedPrecondition)
		}
	}
	f.removeRetaining(key(fsName, group, name))
	return nil
}

// removeRetaining removes a subvolume as --retain-snapshots does: one with
// snapshots stays, retained, until its last snapshot goes.
func (f *Session) removeRetaining(k string) {
	for s := range f.Snapshots {
		if strings.HasPrefix(s, k+"@") {
			if sv, ok := f.Subvolumes[k]; ok {
				f.Subvolumes[k] = &ceph.Subvolume{Retained: true, State: "snapshot-retained", Size: sv.Size}
			}
			return
		}
	}
	delete(f.Subvolumes, k)
}

// ResizeSubvolume implements controller.Session.
func (f *Session) ResizeSubvolume(_ context.Context, fsName, group, name string, size int64) error {
	if err := f.call("resize"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if sv, ok := f.Subvolumes[key(fsName, group, name)]; ok {
		sv.Size = size
	}
	return nil
}

// ForceRemoveSubvolume implements controller.Session.
func (f *Session) ForceRemoveSubvolume(_ context.Context, fsName, group, name string) error {
	if err := f.call("remove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Subvolumes, key(fsName, group, name))
	return nil
}
