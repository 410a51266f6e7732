package ceph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// SubvolumeSpec is what a subvolume is created with.
type SubvolumeSpec struct {
	FSName, Group, Name string
	Size                int64
	Pool                string // data pool; empty = the filesystem's default
	Mode                int    // 0 = Ceph's default
	UID, GID            int
}

// Subvolume is what the cluster reports of an existing subvolume.
type Subvolume struct {
	Path     string
	Size     int64 // 0 = no quota
	Used     int64 // bytes in the subvolume (its recursive size)
	Pool     string
	Mode     int
	UID, GID int
	State    string
	Retained bool // deleted with its snapshots kept
	// Created is Ceph's created_at (zero for a retained subvolume, whose
	// info has none).
	Created time.Time
}

// CreateSubvolume creates a subvolume. Ceph's create succeeds on an existing
// subvolume and applies the spec's quota, pool, mode and owner to it
// (Pacific 16.2.15: a second create with other values changes all four, one
// without a mode resets it to 755), so callers make sure first that none
// exists, or that it matches (claims.go).
func (a *Admin) CreateSubvolume(ctx context.Context, s SubvolumeSpec) error {
	opts := &admin.SubVolumeOptions{
		Size:       admin.ByteCount(s.Size),
		Uid:        s.UID,
		Gid:        s.GID,
		Mode:       s.Mode,
		PoolLayout: s.Pool,
	}
	_, err := bounded(ctx, a.call("subvolume_create"), fmt.Sprintf("create subvolume %s/%s/%s", s.FSName, s.Group, s.Name), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolume(s.FSName, s.Group, s.Name, opts)
	})
	if errors.Is(err, contract.ErrNotFound) {
		// The group was removed behind our back.
		a.forgetGroup(s.FSName, s.Group)
	}
	return err
}

// ErrIncomplete is SubvolumeInfo's answer for a subvolume whose directory
// exists without its metadata and attributes: `info` fails ENODATA on the
// layout xattr. A create that the active mgr began and a new one finished
// after a failover leaves that (the new mgr takes the directory for a v1
// subvolume; TestMgrFailover); creating it again applies the attributes.
// It is Unavailable at the RPC boundary: the CO's retry of CreateVolume
// repairs it.
var ErrIncomplete = fmt.Errorf("%w: the subvolume is incomplete (its create was interrupted)", contract.ErrUnavailable)

// SubvolumeInfo describes a subvolume; contract.ErrNotFound when it does not
// exist, ErrIncomplete when it exists without its attributes.
func (a *Admin) SubvolumeInfo(ctx context.Context, fsName, group, name string) (*Subvolume, error) {
	info, err := bounded(ctx, a.call("subvolume_info"), fmt.Sprintf("subvolume info %s/%s/%s", fsName, group, name), func() (*admin.SubVolumeInfo, error) {
		return a.fsa.SubVolumeInfo(fsName, group, name)
	})
	if Errno(err) == syscall.ENODATA {
		return nil, fmt.Errorf("subvolume info %s/%s/%s: %w: %w", fsName, group, name, ErrIncomplete, err)
	}
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
		Used:     int64(info.BytesUsed),
		Created:  info.CreatedAt.Time,
	}
	if q, ok := info.BytesQuota.(admin.ByteCount); ok {
		sv.Size = int64(q)
	}
	return sv, nil
}

// SubvolumePath returns the path of a subvolume from the filesystem root.
func (a *Admin) SubvolumePath(ctx context.Context, fsName, group, name string) (string, error) {
	return bounded(ctx, a.call("subvolume_getpath"), fmt.Sprintf("get path of subvolume %s/%s/%s", fsName, group, name), func() (string, error) {
		return a.fsa.SubVolumePath(fsName, group, name)
	})
}

// RemoveSubvolume deletes a subvolume. Its snapshots, if any, are retained
// (Ceph's --retain-snapshots), so that they outlive their source volume as
// CSI expects; Ceph purges the subvolume when its last snapshot goes.
// A v1 (legacy) subvolume cannot retain them: it is removed plainly, which
// Ceph refuses while it has snapshots. A subvolume that does not exist is
// not an error.
func (a *Admin) RemoveSubvolume(ctx context.Context, fsName, group, name string) error {
	what := fmt.Sprintf("remove subvolume %s/%s/%s", fsName, group, name)
	_, err := bounded(ctx, a.call("subvolume_rm"), what, func() (struct{}, error) {
		return struct{}{}, a.fsa.RemoveSubVolumeWithFlags(fsName, group, name, admin.SubVolRmFlags{RetainSnapshots: true})
	})
	if noSnapshotRetention(err) {
		_, err = bounded(ctx, a.call("subvolume_rm"), what, func() (struct{}, error) {
			return struct{}{}, a.fsa.RemoveSubVolume(fsName, group, name)
		})
	}
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// noSnapshotRetention tells Ceph's answer to --retain-snapshots on a v1
// subvolume: EINVAL "subvolume '…' does not support snapshot retention on
// delete" (Pacific 16.2.15). Besides subvolumes made before Nautilus' v2, a
// create resent by librados to a new active mgr after a failover makes one:
// the new mgr finds the directory the old one made without its .meta and
// takes it for a legacy subvolume (TestMgrFailover, DEVELOPERS.md).
func noSnapshotRetention(err error) bool {
	return errors.Is(err, contract.ErrInvalid) && strings.Contains(err.Error(), "snapshot retention")
}

// ResizeSubvolume sets a subvolume's quota.
func (a *Admin) ResizeSubvolume(ctx context.Context, fsName, group, name string, size int64) error {
	_, err := bounded(ctx, a.call("subvolume_resize"), fmt.Sprintf("resize subvolume %s/%s/%s", fsName, group, name), func() (*admin.SubVolumeResizeResult, error) {
		return a.fsa.ResizeSubVolume(fsName, group, name, admin.ByteCount(size), true)
	})
	return err
}

// ForceRemoveSubvolume deletes a subvolume in any state (a failed or
// canceled clone); a missing one is not an error.
func (a *Admin) ForceRemoveSubvolume(ctx context.Context, fsName, group, name string) error {
	_, err := bounded(ctx, a.call("subvolume_force_rm"), fmt.Sprintf("force-remove subvolume %s/%s/%s", fsName, group, name), func() (struct{}, error) {
		return struct{}{}, a.fsa.ForceRemoveSubVolume(fsName, group, name)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// Snapshot records are kept in an omap object in the filesystem's metadata
// pool, under the snapshot name: the mgr cannot list snapshots by name
