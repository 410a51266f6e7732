package ceph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"
	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// What the orphan report (pkg/controller, orphans.go) reads to take stock of
// a filesystem: the subvolumes of a group, the snapshots of a subvolume, and
// ceph-csi's journal directories. The CSI RPCs never list: names derive
// from requests.

// ListSubvolumes lists the subvolumes of a group, those removed with their
// snapshots retained included (Pacific 16.2.15 lists them); none when the
// group does not exist.
func (a *Admin) ListSubvolumes(ctx context.Context, fsName, group string) ([]string, error) {
	names, err := bounded(ctx, a.call("subvolume_ls"), fmt.Sprintf("list subvolumes of %s/%s", fsName, group), func() ([]string, error) {
		return a.fsa.ListSubVolumes(fsName, group)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	return names, err
}

// ListSnapshots lists the snapshots of a subvolume (also of one removed with
// its snapshots retained); none when the subvolume does not exist.
func (a *Admin) ListSnapshots(ctx context.Context, fsName, group, subvolume string) ([]string, error) {
	names, err := bounded(ctx, a.call("snapshot_ls"), fmt.Sprintf("list snapshots of %s/%s/%s", fsName, group, subvolume), func() ([]string, error) {
		return a.fsa.ListSubVolumeSnapshots(fsName, group, subvolume)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	return names, err
}

// SnapshotState is what `fs subvolume snapshot info` says of a snapshot.
type SnapshotState struct {
	Created time.Time
	// PendingClones: clones are still copying from it (the mgr refuses
	// to remove it until they are done).
	PendingClones bool
}

// SnapshotInfo describes a snapshot; contract.ErrNotFound when it does not
// exist.
func (a *Admin) SnapshotInfo(ctx context.Context, fsName, group, subvolume, name string) (*SnapshotState, error) {
	info, err := bounded(ctx, a.call("snapshot_info"), fmt.Sprintf("snapshot info %s of subvolume %s/%s/%s", name, fsName, group, subvolume), func() (*admin.SubVolumeSnapshotInfo, error) {
		return a.fsa.SubVolumeSnapshotInfo(fsName, group, subvolume, name)
	})
	if err != nil {
		return nil, err
	}
	return &SnapshotState{Created: info.CreatedAt.Time, PendingClones: info.HasPendingClones == "yes"}, nil
}

// CephCSIDirectory reads ceph-csi's directory object of a journal
// (csi.volumes.default or csi.snaps.default): uuid → request name. None
// when ceph-csi never made anything there.
func (a *Admin) CephCSIDirectory(ctx context.Context, fsName, namespace string, kind CephCSIKind) (map[string]string, error) {
	vals, err := inMetadataPool(ctx, a, "omap_read", "read ceph-csi's directory "+kind.directory, fsName, namespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(kind.directory, "", kind.objectPrefix, 256)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		out[string(v)] = strings.TrimPrefix(k, kind.objectPrefix)
	}
	return out, nil
}
