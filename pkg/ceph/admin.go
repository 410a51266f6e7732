package ceph

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ceph/go-ceph/cephfs/admin"
	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Admin runs CephFS administration commands on one pooled connection. Every
// call is bounded by its context.
type Admin struct {
	conn    *rados.Conn
	slots   chan struct{} // the connection's in-flight calls
	observe Observer
	fsa     *admin.FSAdmin
	cache   *clusterCache
	release func()
}

// call describes one call on this connection for bounded.
func (a *Admin) call(op string) call {
	return call{slots: a.slots, op: op, observe: a.observe}
}

// Release returns the connection to the pool.
func (a *Admin) Release() { a.release() }

// clusterCache holds what rarely changes in a cluster, so that a CreateVolume
// costs no mgr round trip for it after the first.
type clusterCache struct {
	mu     sync.Mutex
	fs     map[string]admin.FSPoolInfo
	fsByID map[int64]string
	groups map[string]bool // "fs/group" known to exist
}

// SubvolumeSpec is what a subvolume is created with.
type SubvolumeSpec struct {
	FS, Group, Name string
	Size            int64
	Pool            string // data pool; empty = the filesystem's default
	Mode            int    // 0 = Ceph's default
	UID, GID        int
}

// Subvolume is what the cluster reports of an existing subvolume.
type Subvolume struct {
	Path     string
	Size     int64 // 0 = no quota
	Pool     string
	Mode     int
	UID, GID int
	State    string
	Retained bool // deleted with its snapshots kept
}

// DataPools returns the data pools of filesystem fs (cached).
func (a *Admin) DataPools(ctx context.Context, fs string) ([]string, error) {
	info, err := a.filesystem(ctx, fs)
	if err != nil {
		return nil, err
	}
	return info.DataPools, nil
}

func (a *Admin) filesystem(ctx context.Context, fs string) (admin.FSPoolInfo, error) {
	a.cache.mu.Lock()
	info, ok := a.cache.fs[fs]
	a.cache.mu.Unlock()
	if ok {
		return info, nil
	}
	if _, err := a.Filesystems(ctx); err != nil {
		return admin.FSPoolInfo{}, err
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	if info, ok = a.cache.fs[fs]; !ok {
		return admin.FSPoolInfo{}, fmt.Errorf("%w: filesystem %q does not exist in the cluster", contract.ErrInvalid, fs)
	}
	return info, nil
}

// EnsureGroup creates subvolume group group in fs unless it is known to
// exist.
func (a *Admin) EnsureGroup(ctx context.Context, fs, group string) error {
	k := fs + "/" + group
	a.cache.mu.Lock()
	known := a.cache.groups[k]
	a.cache.mu.Unlock()
	if known {
		return nil
	}
	// Idempotent in the mgr: creating an existing group succeeds.
	_, err := bounded(ctx, a.call("subvolumegroup_create"), fmt.Sprintf("create subvolume group %s/%s", fs, group), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolumeGroup(fs, group, nil)
	})
	if err != nil {
		return err
	}
	a.cache.mu.Lock()
	a.cache.groups[k] = true
	a.cache.mu.Unlock()
	return nil
}

// forgetGroup drops a group from the cache after the cluster said it is gone.
func (a *Admin) forgetGroup(fs, group string) {
	a.cache.mu.Lock()
	delete(a.cache.groups, fs+"/"+group)
	a.cache.mu.Unlock()
}

// CreateSubvolume creates a subvolume. Ceph's create is idempotent and
// re-applies size and ownership to an existing subvolume, so callers look the
// subvolume up first.
func (a *Admin) CreateSubvolume(ctx context.Context, s SubvolumeSpec) error {
	opts := &admin.SubVolumeOptions{
		Size:       admin.ByteCount(s.Size),
		Uid:        s.UID,
		Gid:        s.GID,
		Mode:       s.Mode,
		PoolLayout: s.Pool,
	}
	_, err := bounded(ctx, a.call("subvolume_create"), fmt.Sprintf("create subvolume %s/%s/%s", s.FS, s.Group, s.Name), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolume(s.FS, s.Group, s.Name, opts)
	})
	if errors.Is(err, contract.ErrNotFound) {
		// The group was removed behind our back.
		a.forgetGroup(s.FS, s.Group)
	}
	return err
}

// SubvolumeInfo describes a subvolume; contract.ErrNotFound when it does not
// exist.
func (a *Admin) SubvolumeInfo(ctx context.Context, fs, group, name string) (*Subvolume, error) {
	info, err := bounded(ctx, a.call("subvolume_info"), fmt.Sprintf("subvolume info %s/%s/%s", fs, group, name), func() (*admin.SubVolumeInfo, error) {
		return a.fsa.SubVolumeInfo(fs, group, name)
	})
	if err != nil {
		return nil, err
	}
	sv := &Subvolume{
		Path:     info.Path,
		Pool:     info.DataPool,
		Mode:     info.Mode,
		UID:      info.Uid,
		GID:      info.Gid,
		State:    string(info.State),
		Retained: info.State == admin.StateSnapRetained,
	}
	if q, ok := info.BytesQuota.(admin.ByteCount); ok {
		sv.Size = int64(q)
	}
	return sv, nil
}

// SubvolumePath returns the path of a subvolume from the filesystem root.
func (a *Admin) SubvolumePath(ctx context.Context, fs, group, name string) (string, error) {
	return bounded(ctx, a.call("subvolume_getpath"), fmt.Sprintf("get path of subvolume %s/%s/%s", fs, group, name), func() (string, error) {
		return a.fsa.SubVolumePath(fs, group, name)
	})
}

// RemoveSubvolume deletes a subvolume. Its snapshots, if any, are retained
// (Ceph's --retain-snapshots), so that they outlive their source volume as
// CSI expects; Ceph purges the subvolume when its last snapshot goes.
// A subvolume that does not exist is not an error.
func (a *Admin) RemoveSubvolume(ctx context.Context, fs, group, name string) error {
	_, err := bounded(ctx, a.call("subvolume_rm"), fmt.Sprintf("remove subvolume %s/%s/%s", fs, group, name), func() (struct{}, error) {
		return struct{}{}, a.fsa.RemoveSubVolumeWithFlags(fs, group, name, admin.SubVolRmFlags{RetainSnapshots: true})
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// ResizeSubvolume sets a subvolume's quota.
func (a *Admin) ResizeSubvolume(ctx context.Context, fs, group, name string, size int64) error {
	_, err := bounded(ctx, a.call("subvolume_resize"), fmt.Sprintf("resize subvolume %s/%s/%s", fs, group, name), func() (*admin.SubVolumeResizeResult, error) {
		return a.fsa.ResizeSubVolume(fs, group, name, admin.ByteCount(size), true)
	})
	return err
}
