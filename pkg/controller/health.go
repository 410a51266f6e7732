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

// health tells a volume's adverse condition (ControllerGetVolumeHealth,
// ControllerListVolumeHealth) from what Ceph reports of it: its subvolume
// missing or removed with its snapshots retained, a clone that failed, its
// quota used up, its data pool full. One `subvolume info` per volume; the
// pools' usage once per RPC.
type health struct {
	sess  Session
	pools map[string]ceph.PoolUsage // read on first need
}

// condition is an adverse condition of a volume; nil: none is known.
type condition = csi.VolumeHealth_VolumeHealthEntry

func adverse(status csi.VolumeHealthErrorType, reason, format string, args ...any) *condition {
	return &condition{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func inaccessible(reason, format string, args ...any) *condition {
	return adverse(csi.VolumeHealthErrorType_INACCESSIBLE, reason, format, args...)
}

func degraded(reason, format string, args ...any) *condition {
	return adverse(csi.VolumeHealthErrorType_DEGRADED, reason, format, args...)
}

// subvolume returns the volume's quota and condition.
func (h *health) subvolume(ctx context.Context, vol volumeid.Volume) (int64, *condition, error) {
	where := vol.FSName + "/" + vol.Group + "/" + vol.Subvolume
	sv, err := h.sess.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		return 0, inaccessible(contract.ReasonSubvolumeMissing, "subvolume %s does not exist: it was removed outside the driver", where), nil
	case errors.Is(err, contract.ErrFailedPrecondition):
		// The mgr refuses `info` on a clone that is not complete (EAGAIN).
		cs, cerr := h.sess.CloneStatus(ctx, vol.FSName, vol.Group, vol.Subvolume)
		if cerr != nil {
			return 0, nil, err
		}
		switch cs.State {
		case "failed", "canceled":
			return 0, inaccessible(contract.ReasonCloneFailed, "subvolume %s is a clone that %s: %s", where, cs.State, cs.Failure), nil
		case "complete": // completed since the info
		default:
			return 0, nil, nil // a clone in progress is not yet mountable, but not unwell
		}
		if sv, err = h.sess.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
			return 0, nil, err
		}
	case err != nil:
		return 0, nil, err
	}
	if sv.Retained {
		return 0, inaccessible(contract.ReasonSubvolumeMissing, "subvolume %s was removed outside the driver; only its snapshots are retained", where), nil
	}
	if sv.Size > 0 && sv.Used >= sv.Size {
		return sv.Size, degraded(contract.ReasonQuotaExceeded, "subvolume %s is at its quota: %d of %d bytes used, writes fail with EDQUOT", where, sv.Used, sv.Size), nil
	}
	if h.pools == nil {
		if h.pools, err = h.sess.PoolUsages(ctx); err != nil {
			return 0, nil, err
		}
	}
	if u, ok := h.pools[sv.Pool]; ok && u.Full() {
		return sv.Size, degraded(contract.ReasonPoolFull, "data pool %s of subvolume %s is full (%d bytes stored, quota %d): writes fail with ENOSPC", sv.Pool, where, u.Stored, u.Quota), nil
	}
	return sv.Size, nil, nil
}

// of returns a listed volume's size and condition.
func (h *health) of(ctx context.Context, v listed) (int64, *condition, error) {
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
func (h *health) cephCSI(ctx context.Context, cluster *config.Cluster, id string) (int64, *condition, error) {
	ref, err := resolveVolume(ctx, h.sess, cluster, id)
	if err != nil {
		return 0, nil, err
	}
	if ref.shallow() {
		return 0, nil, nil // ceph-csi's shallow volume: a read-only snapshot
	}
	return h.subvolume(ctx, ref.Volume)
}

// shallow returns a shallow volume's size and condition: its reference
// exists (DeleteSnapshot refuses while it does, so the snapshot is there).
func (h *health) shallow(ctx context.Context, sh volumeid.Shallow) (int64, *condition, error) {
	rec, err := readReference(ctx, h.sess, sh)
	if err != nil {
		return 0, nil, fmt.Errorf("shallow volume %s: %w", sh.Name, err)
	}
	return rec.Size, nil, nil
}
