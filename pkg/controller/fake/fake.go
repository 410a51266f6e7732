// Package fake is an in-memory controller.FS for unit tests of failures a
// real cluster cannot be made to produce on demand.
package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
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
		return nil, fmt.Errorf("subvolume %s: %w", name, errs.ErrNotFound)
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
