// Package fake is an in-memory controller.FS for unit tests of failures a
// real cluster cannot be made to produce on demand.
package fake

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// FS keeps subvolumes in a map. Err, when set for an operation name
// ("info", "create", "remove", "resize", "pools", "group"), is returned by
// that operation. Block, when set, is waited on by CreateSubvolume.
type FS struct {
	mu         sync.Mutex
	Subvolumes map[string]*ceph.Subvolume
	Pools      []string
	Err        map[string]error
	Block      chan struct{}
	Calls      []string
	Snapshots  map[string]bool
	Records    map[string][]byte
	// CloneStates overrides the state CloneStatus reports, by clone name.
	CloneStates map[string]ceph.CloneState
	// CephCSI is ceph-csi's journal, by volume uuid.
	CephCSI map[string]ceph.CephCSIEntry
}

// New returns an empty filesystem with one data pool.
func New() *FS {
	return &FS{Subvolumes: map[string]*ceph.Subvolume{}, Pools: []string{"data0"}, Err: map[string]error{}}
}

func (f *FS) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, op)
	return f.Err[op]
}

func key(fs, group, name string) string { return fs + "/" + group + "/" + name }

// DataPools implements controller.FS.
func (f *FS) DataPools(context.Context, string) ([]string, error) {
	if err := f.call("pools"); err != nil {
		return nil, err
	}
	return f.Pools, nil
}

// EnsureGroup implements controller.FS.
func (f *FS) EnsureGroup(context.Context, string, string) error { return f.call("group") }

// Called reports whether op was called.
func (f *FS) Called(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.Calls {
		if c == op {
			return true
		}
	}
	return false
}

// CreateSubvolume implements controller.FS.
func (f *FS) CreateSubvolume(ctx context.Context, s ceph.SubvolumeSpec) error {
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
	f.mu.Lock()
	defer f.mu.Unlock()
	pool := s.Pool
	if pool == "" {
		pool = f.Pools[0]
	}
	f.Subvolumes[key(s.FS, s.Group, s.Name)] = &ceph.Subvolume{
		Path: fmt.Sprintf("/volumes/%s/%s/uuid", s.Group, s.Name), Size: s.Size, Pool: pool,
		Mode: s.Mode, UID: s.UID, GID: s.GID, State: "complete",
	}
	return nil
}

// SubvolumeInfo implements controller.FS.
func (f *FS) SubvolumeInfo(_ context.Context, fs, group, name string) (*ceph.Subvolume, error) {
	if err := f.call("info"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sv, ok := f.Subvolumes[key(fs, group, name)]
	if !ok {
		return nil, fmt.Errorf("subvolume %s: %w", name, contract.ErrNotFound)
	}
	cp := *sv
	return &cp, nil
}

// RemoveSubvolume implements controller.FS.
func (f *FS) RemoveSubvolume(_ context.Context, fs, group, name string) error {
	if err := f.call("remove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Subvolumes, key(fs, group, name))
	return nil
}

// ResizeSubvolume implements controller.FS.
func (f *FS) ResizeSubvolume(_ context.Context, fs, group, name string, size int64) error {
	if err := f.call("resize"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if sv, ok := f.Subvolumes[key(fs, group, name)]; ok {
		sv.Size = size
	}
	return nil
}

// Release implements controller.FS.
func (f *FS) Release() {}

// CreateSnapshot implements controller.FS.
func (f *FS) CreateSnapshot(_ context.Context, fs, group, subvolume, name string) error {
	if err := f.call("snapshot"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Subvolumes[key(fs, group, subvolume)]; !ok {
		return fmt.Errorf("subvolume %s: %w", subvolume, contract.ErrNotFound)
	}
	f.snapshots()[key(fs, group, subvolume)+"@"+name] = true
	return nil
}

func (f *FS) snapshots() map[string]bool {
	if f.Snapshots == nil {
		f.Snapshots = map[string]bool{}
	}
	return f.Snapshots
}

// SnapshotCreated implements controller.FS.
func (f *FS) SnapshotCreated(_ context.Context, fs, group, subvolume, name string) (time.Time, error) {
	if err := f.call("snapshot-info"); err != nil {
		return time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.snapshots()[key(fs, group, subvolume)+"@"+name] {
		return time.Time{}, fmt.Errorf("snapshot %s: %w", name, contract.ErrNotFound)
	}
	return time.Unix(1700000000, 0), nil
}

// RemoveSnapshot implements controller.FS.
func (f *FS) RemoveSnapshot(_ context.Context, fs, group, subvolume, name string) error {
	if err := f.call("snapshot-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snapshots(), key(fs, group, subvolume)+"@"+name)
	return nil
}

// Clone implements controller.FS: the clone completes at once unless
// CloneStates says otherwise.
func (f *FS) Clone(ctx context.Context, c ceph.CloneSpec) error {
	if err := f.call("clone"); err != nil {
		return err
	}
	return f.CreateSubvolume(ctx, ceph.SubvolumeSpec{FS: c.FS, Group: c.TargetGroup, Name: c.Target, Size: 1 << 30, Pool: c.Pool})
}

// CloneStatus implements controller.FS.
func (f *FS) CloneStatus(_ context.Context, fs, group, name string) (*ceph.CloneState, error) {
	if err := f.call("clone-status"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.Subvolumes[key(fs, group, name)]; !ok {
		return nil, fmt.Errorf("clone %s: %w", name, contract.ErrNotFound)
	}
	if st, ok := f.CloneStates[name]; ok {
		return &st, nil
	}
	return &ceph.CloneState{State: "complete"}, nil
}

// ForceRemoveSubvolume implements controller.FS.
func (f *FS) ForceRemoveSubvolume(ctx context.Context, fs, group, name string) error {
	return f.RemoveSubvolume(ctx, fs, group, name)
}

// Filesystems implements controller.FS.
func (f *FS) Filesystems(context.Context) ([]string, error) { return []string{"myfs"}, f.call("fs-ls") }

// PutRecord implements controller.FS.
func (f *FS) PutRecord(_ context.Context, fs, k string, v []byte) error {
	if err := f.call("record-put"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Records == nil {
		f.Records = map[string][]byte{}
	}
	f.Records[fs+"/"+k] = v
	return nil
}

// GetRecord implements controller.FS.
func (f *FS) GetRecord(_ context.Context, fs, k string) ([]byte, error) {
	if err := f.call("record-get"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.Records[fs+"/"+k]
	if !ok {
		return nil, fmt.Errorf("record %s: %w", k, contract.ErrNotFound)
	}
	return v, nil
}

// ListRecords implements controller.FS.
func (f *FS) ListRecords(_ context.Context, fs string) (map[string][]byte, error) {
	if err := f.call("record-list"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range f.Records {
		if name, ok := strings.CutPrefix(k, fs+"/"); ok {
			out[name] = v
		}
	}
	return out, nil
}

// DeleteRecord implements controller.FS.
func (f *FS) DeleteRecord(_ context.Context, fs, k string) error {
	if err := f.call("record-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Records, fs+"/"+k)
	return nil
}

// FilesystemByID implements controller.FS: filesystem 1 is "myfs".
func (f *FS) FilesystemByID(_ context.Context, id int64) (string, error) {
	if err := f.call("fs-dump"); err != nil {
		return "", err
	}
	if id != 1 {
		return "", fmt.Errorf("filesystem %d: %w", id, contract.ErrNotFound)
	}
	return "myfs", nil
}

// CephCSIEntry implements controller.FS from CephCSI, keyed by uuid.
func (f *FS) CephCSIEntry(_ context.Context, _, _ string, _ ceph.CephCSIKind, uuid string) (*ceph.CephCSIEntry, error) {
	if err := f.call("cephcsi-read"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.CephCSI[uuid]
	if !ok {
		return nil, fmt.Errorf("journal of %s: %w", uuid, contract.ErrNotFound)
	}
	return &v, nil
}

// RemoveCephCSIEntry implements controller.FS.
func (f *FS) RemoveCephCSIEntry(_ context.Context, _, _ string, _ ceph.CephCSIKind, uuid string, _ *ceph.CephCSIEntry) error {
	if err := f.call("cephcsi-rm"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.CephCSI, uuid)
	return nil
}
