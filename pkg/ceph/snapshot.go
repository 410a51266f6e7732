package ceph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"
	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// CreateSnapshot snapshots a subvolume; an existing snapshot of that name is
// not an error.
func (a *Admin) CreateSnapshot(ctx context.Context, fs, group, subvolume, name string) error {
	_, err := bounded(ctx, a.call("snapshot_create"), fmt.Sprintf("create snapshot %s of subvolume %s/%s/%s", name, fs, group, subvolume), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolumeSnapshot(fs, group, subvolume, name)
	})
	if errors.Is(err, contract.ErrAlreadyExists) {
		return nil
	}
	return err
}

// SnapshotCreated returns when a snapshot was taken (contract.ErrNotFound when
// it does not exist).
func (a *Admin) SnapshotCreated(ctx context.Context, fs, group, subvolume, name string) (time.Time, error) {
	info, err := bounded(ctx, a.call("snapshot_info"), fmt.Sprintf("snapshot info %s of subvolume %s/%s/%s", name, fs, group, subvolume), func() (*admin.SubVolumeSnapshotInfo, error) {
		return a.fsa.SubVolumeSnapshotInfo(fs, group, subvolume, name)
	})
	if err != nil {
		return time.Time{}, err
	}
	return info.CreatedAt.Time, nil
}

// RemoveSnapshot deletes a snapshot; a missing one is not an error. A
// snapshot with clones in progress gives contract.ErrFailedPrecondition.
func (a *Admin) RemoveSnapshot(ctx context.Context, fs, group, subvolume, name string) error {
	_, err := bounded(ctx, a.call("snapshot_rm"), fmt.Sprintf("remove snapshot %s of subvolume %s/%s/%s", name, fs, group, subvolume), func() (struct{}, error) {
		return struct{}{}, a.fsa.RemoveSubVolumeSnapshot(fs, group, subvolume, name)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// CloneSpec is a clone of a snapshot into a new subvolume.
type CloneSpec struct {
	FS                         string
	Group, Subvolume, Snapshot string // the source
	TargetGroup, Target        string
	Pool                       string // empty: the source's pool
}

// Clone starts an asynchronous clone (the mgr copies the data in the
// background; CloneStatus follows it).
func (a *Admin) Clone(ctx context.Context, c CloneSpec) error {
	// go-ceph v0.37.0 sends the source group as target_group_name; the
	// command is built here so that TargetGroup is honoured.
	cmd := map[string]string{
		"prefix":            "fs subvolume snapshot clone",
		"vol_name":          c.FS,
		"group_name":        c.Group,
		"sub_name":          c.Subvolume,
		"snap_name":         c.Snapshot,
		"target_sub_name":   c.Target,
		"target_group_name": c.TargetGroup,
		"format":            "json",
	}
	if c.Pool != "" {
		cmd["pool_layout"] = c.Pool
	}
	buf, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	_, err = bounded(ctx, a.call("clone"), fmt.Sprintf("clone snapshot %s of %s/%s/%s to %s/%s", c.Snapshot, c.FS, c.Group, c.Subvolume, c.TargetGroup, c.Target), func() (struct{}, error) {
		_, status, err := a.conn.MgrCommand([][]byte{buf})
		if err != nil && status != "" {
			err = fmt.Errorf("%w: %s", err, status)
		}
		return struct{}{}, err
	})
	return err
}

// CloneState is what the mgr reports of a clone.
type CloneState struct {
	State   string // pending, in-progress, complete, failed, canceled
	Failure string
}

// CloneStatus reports a clone's state; contract.ErrNotFound when there is no
// subvolume of that name.
func (a *Admin) CloneStatus(ctx context.Context, fs, group, name string) (*CloneState, error) {
	st, err := bounded(ctx, a.call("clone_status"), fmt.Sprintf("clone status %s/%s/%s", fs, group, name), func() (*admin.CloneStatus, error) {
		return a.fsa.CloneStatus(fs, group, name)
	})
	if err != nil {
		return nil, err
	}
	cs := &CloneState{State: string(st.State)}
	if f := st.GetFailure(); f != nil {
		cs.Failure = f.Errno + ": " + f.ErrStr
	}
	return cs, nil
}

// ForceRemoveSubvolume deletes a subvolume in any state (a failed or
// canceled clone); a missing one is not an error.
func (a *Admin) ForceRemoveSubvolume(ctx context.Context, fs, group, name string) error {
	_, err := bounded(ctx, a.call("subvolume_force_rm"), fmt.Sprintf("force-remove subvolume %s/%s/%s", fs, group, name), func() (struct{}, error) {
		return struct{}{}, a.fsa.ForceRemoveSubVolume(fs, group, name)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// Snapshot records are kept in an omap object in the filesystem's metadata
// pool, under the snapshot name: the mgr cannot list snapshots by name
// across subvolumes, and CSI asks exactly that (the same snapshot name for
// another source must be refused; ListSnapshots lists them all).
const (
	recordNamespace = "cephfs-csi"
	recordObject    = "snapshots"
)

// inMetadataPool runs fn on filesystem fs's metadata pool, in a RADOS
// namespace, as one bounded call (the pool is opened and closed inside it).
func inMetadataPool[T any](ctx context.Context, a *Admin, op, what, fs, namespace string, fn func(*rados.IOContext) (T, error)) (T, error) {
	var zero T
	info, err := a.filesystem(ctx, fs)
	if err != nil {
		return zero, err
	}
	return bounded(ctx, a.call(op), what, func() (T, error) {
		ioctx, err := a.conn.OpenIOContext(info.MetadataPool)
		if err != nil {
			return zero, err
		}
		defer ioctx.Destroy()
		ioctx.SetNamespace(namespace)
		return fn(ioctx)
	})
}

// PutRecord stores value under key in filesystem fs's record object.
func (a *Admin) PutRecord(ctx context.Context, fs, key string, value []byte) error {
	_, err := inMetadataPool(ctx, a, "omap_write", "write snapshot record "+key, fs, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.SetOmap(recordObject, map[string][]byte{key: value})
	})
	return err
}

// GetRecord reads the record under key; contract.ErrNotFound when absent.
func (a *Admin) GetRecord(ctx context.Context, fs, key string) ([]byte, error) {
	all, err := a.listRecords(ctx, fs, key)
	if err != nil {
		return nil, err
	}
	v, ok := all[key]
	if !ok {
		return nil, fmt.Errorf("snapshot record %s: %w", key, contract.ErrNotFound)
	}
	return v, nil
}

// ListRecords returns every record of filesystem fs.
func (a *Admin) ListRecords(ctx context.Context, fs string) (map[string][]byte, error) {
	return a.listRecords(ctx, fs, "")
}

func (a *Admin) listRecords(ctx context.Context, fs, prefix string) (map[string][]byte, error) {
	out, err := inMetadataPool(ctx, a, "omap_read", "read snapshot records", fs, recordNamespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(recordObject, "", prefix, 256)
	})
	if errors.Is(err, contract.ErrNotFound) { // no record object yet
		return map[string][]byte{}, nil
	}
	return out, err
}

// DeleteRecord removes the record under key; a missing one is not an error.
func (a *Admin) DeleteRecord(ctx context.Context, fs, key string) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "delete snapshot record "+key, fs, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.RmOmapKeys(recordObject, []string{key})
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// Filesystems lists the cluster's filesystems (cached with their pools).
func (a *Admin) Filesystems(ctx context.Context) ([]string, error) {
	list, err := bounded(ctx, a.call("fs_ls"), "list filesystems", a.fsa.ListFileSystems)
	if err != nil {
		return nil, err
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	a.cache.fs = make(map[string]admin.FSPoolInfo, len(list))
	names := make([]string, 0, len(list))
	for _, f := range list {
		a.cache.fs[f.Name] = f
		names = append(names, f.Name)
	}
	return names, nil
}
