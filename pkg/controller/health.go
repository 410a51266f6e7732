package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// health tells a volume's condition (ControllerGetVolume, ListVolumes) from
// what Ceph reports of it: abnormal when its subvolume is missing, was
// removed with its snapshots retained, is a clone that failed, has used its
// quota, or lives in a data pool that is full. One `subvolume info` per
// volume; the pools' usage once per RPC.
type health struct {
	sess  Session
	pools map[string]ceph.PoolUsage // read on first need
}

func normal(format string, args ...any) *csi.VolumeCondition {
	return &csi.VolumeCondition{Message: fmt.Sprintf(format, args...)}
}

func abnormal(format string, args ...any) *csi.VolumeCondition {
	return &csi.VolumeCondition{Abnormal: true, Message: fmt.Sprintf(format, args...)}
}

// subvolume returns the volume's quota and condition.
func (h *health) subvolume(ctx context.Context, vol volumeid.Volume) (int64, *csi.VolumeCondition, error) {
	where := vol.FSName + "/" + vol.Group + "/" + vol.Subvolume
	sv, err := h.sess.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		return 0, abnormal("subvolume %s does not exist: it was removed outside the driver", where), nil
	case errors.Is(err, contract.ErrFailedPrecondition):
		// The mgr refuses `info` on a clone that is not complete (EAGAIN).
		cs, cerr := h.sess.CloneStatus(ctx, vol.FSName, vol.Group, vol.Subvolume)
		if cerr != nil {
			return 0, nil, err
		}
		switch cs.State {
		case "failed", "canceled":
			return 0, abnormal("subvolume %s is a clone that %s: %s", where, cs.State, cs.Failure), nil
		case "complete": // completed since the info
		default:
			return 0, normal("subvolume %s is a clone in state %s", where, cs.State), nil
		}
		if sv, err = h.sess.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
			return 0, nil, err
		}
	case err != nil:
		return 0, nil, err
	}
	if sv.Retained {
		return 0, abnormal("subvolume %s was removed outside the driver; only its snapshots are retained", where), nil
	}
	if sv.Size > 0 && sv.Used >= sv.Size {
		return sv.Size, abnormal("subvolume %s is at its quota: %d of %d bytes used, writes fail with EDQUOT", where, sv.Used, sv.Size), nil
	}
	if h.pools == nil {
		if h.pools, err = h.sess.PoolUsages(ctx); err != nil {
			return 0, nil, err
		}
	}
	if u, ok := h.pools[sv.Pool]; ok && u.Full() {
		return sv.Size, abnormal("data pool %s of subvolume %s is full (%d bytes stored, quota %d): writes fail with ENOSPC", sv.Pool, where, u.Stored, u.Quota), nil
	}
	return sv.Size, normal("subvolume %s: %d of %d bytes used", where, sv.Used, sv.Size), nil
}

// of returns a listed volume's size and condition.
func (h *health) of(ctx context.Context, v listed) (int64, *csi.VolumeCondition, error) {
	switch {
	case v.shallow != nil:
		return h.shallow(ctx, *v.shallow)
	case v.vol != nil:
		return h.subvolume(ctx, *v.vol)
	default:
		return h.cephCSI(ctx, v.cluster, v.id)
	}
}

// cephCSI returns the size and condition of a volume ceph-csi made, found
// through its journal (NotFound once it is gone from there).
func (h *health) cephCSI(ctx context.Context, cluster *config.Cluster, id string) (int64, *csi.VolumeCondition, error) {
	ref, err := resolveVolume(ctx, h.sess, cluster, id)
	if err != nil {
		return 0, nil, err
	}
	if ref.shallow() {
		return 0, normal("ceph-csi shallow volume (a read-only snapshot)"), nil
	}
	return h.subvolume(ctx, ref.Volume)
}

// shallow returns a shallow volume's size and condition: its reference
// exists (DeleteSnapshot refuses while it does, so the snapshot is there).
func (h *health) shallow(ctx context.Context, sh volumeid.Shallow) (int64, *csi.VolumeCondition, error) {
	rec, err := readReference(ctx, h.sess, sh)
	if err != nil {
		return 0, nil, fmt.Errorf("shallow volume %s: %w", sh.Name, err)
	}
	return rec.Size, normal("read-only snapshot %s", rec.Snapshot), nil
}
