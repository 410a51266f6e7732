package ceph

import (
	"context"
	"fmt"
	"sync"

	"github.com/ceph/go-ceph/cephfs/admin"
	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Admin runs CephFS administration commands on one pooled connection. Every
// call is bounded by its context.
type Admin struct {
	conn *rados.Conn
	// mgr sends the mgr commands the driver builds itself (Clone,
	// CloneStatus); it is conn, and a replay of captured answers in tests.
	mgr     admin.RadosCommander
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
	id     string // the cluster's ID in the config
	mu     sync.Mutex
	fsName map[string]admin.FSPoolInfo
	fsByID map[int64]string
	groups map[string]bool // "fs/group" known to exist
	// noMetadata: the mgr lacks the subvolume metadata commands.
	noMetadata bool
}

// DataPools returns the data pools of filesystem fsName (cached).
func (a *Admin) DataPools(ctx context.Context, fsName string) ([]string, error) {
	info, err := a.filesystem(ctx, fsName)
	if err != nil {
		return nil, err
	}
	return info.DataPools, nil
}

func (a *Admin) filesystem(ctx context.Context, fsName string) (admin.FSPoolInfo, error) {
	a.cache.mu.Lock()
	info, ok := a.cache.fsName[fsName]
	a.cache.mu.Unlock()
	if ok {
		return info, nil
	}
	if _, err := a.Filesystems(ctx); err != nil {
		return admin.FSPoolInfo{}, err
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	if info, ok = a.cache.fsName[fsName]; !ok {
		return admin.FSPoolInfo{}, fmt.Errorf("%w: filesystem %q does not exist in the cluster", contract.ErrInvalid, fsName)
	}
	return info, nil
}

// EnsureGroup creates subvolume group group in fsName unless it is known to
// exist.
func (a *Admin) EnsureGroup(ctx context.Context, fsName, group string) error {
	k := fsName + "/" + group
	a.cache.mu.Lock()
	known := a.cache.groups[k]
	a.cache.mu.Unlock()
	if known {
		return nil
	}
	// Idempotent in the mgr: creating an existing group succeeds.
	_, err := bounded(ctx, a.call("subvolumegroup_create"), fmt.Sprintf("create subvolume group %s/%s", fsName, group), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolumeGroup(fsName, group, nil)
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
func (a *Admin) forgetGroup(fsName, group string) {
	a.cache.mu.Lock()
	delete(a.cache.groups, fsName+"/"+group)
	a.cache.mu.Unlock()
}

// Filesystems lists the cluster's filesystems (cached with their pools).
func (a *Admin) Filesystems(ctx context.Context) ([]string, error) {
	list, err := bounded(ctx, a.call("fs_ls"), "list filesystems", a.fsa.ListFileSystems)
	if err != nil {
		return nil, err
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	a.cache.fsName = make(map[string]admin.FSPoolInfo, len(list))
	names := make([]string, 0, len(list))
	for _, f := range list {
		a.cache.fsName[f.Name] = f
		names = append(names, f.Name)
	}
	return names, nil
}
