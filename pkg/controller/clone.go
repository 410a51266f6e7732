package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// CloneWait is how long CreateVolume waits for a clone to complete before
// answering Aborted (the provisioner retries, and the retry picks the same
// clone up). Small clones finish within one call. The RPC's own deadline
// always wins.
const CloneWait = 30 * time.Second

// cloneSourcePrefix names the temporary snapshot a volume-to-volume clone is
// copied from; it is removed once the clone is complete.
const cloneSourcePrefix = "csi-clone-"

// cloneSource is where a new volume's data comes from: a snapshot, or a
// volume through a temporary snapshot.
type cloneSource struct {
	snap      volumeid.Snapshot
	size      int64 // the source's quota: the least the new volume may have
	temporary bool  // snap was made for this clone
	// path is the snapshot's subvolume's path when the snapshot was taken,
	// when known (a shallow volume needs it).
	path string
}

// resolveSource checks a content source and returns the snapshot to clone
// from. It is called only before the clone starts.
func (s *Server) resolveSource(ctx context.Context, sess Session, src *csi.VolumeContentSource, target volumeid.Volume, name string) (*cloneSource, error) {
	if id := src.GetSnapshot().GetSnapshotId(); id != "" {
		return s.snapshotSource(ctx, sess, target, id)
	}
	id := src.GetVolume().GetVolumeId()
	ref, err := s.sourceVolume(ctx, sess, target, id)
	if err != nil {
		return nil, err
	}
	vol := ref.Volume
	if err := sameFilesystem(vol, target); err != nil {
		return nil, err
	}
	sv, err := existing(ctx, sess, vol)
	if err != nil {
		return nil, fmt.Errorf("source volume %q: %w", id, err)
	}
	return &cloneSource{
		snap:      volumeid.Snapshot{Volume: vol, Name: volumeid.DeriveName(cloneSourcePrefix, name)},
		size:      sv.Size,
		temporary: true,
	}, nil
}

// snapshotSource checks a restore's source snapshot (ours, or one ceph-csi
// took) and returns it with the size a restore must have at least.
func (s *Server) snapshotSource(ctx context.Context, sess Session, target volumeid.Volume, id string) (*cloneSource, error) {
	cluster, err := s.sameCluster(id, target)
	if err != nil {
		return nil, err
	}
	snap, foreign, err := resolveSnapshot(ctx, sess, cluster, id)
	if err != nil {
		return nil, fmt.Errorf("source snapshot %q: %w", id, err)
	}
	if err := sameFilesystem(snap.Volume, target); err != nil {
		return nil, err
	}
	var size int64
	var srcPath string
	if foreign == nil {
		rec, err := readRecord(ctx, sess, snap)
		if err == nil && rec.ID != id {
			err = contract.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("source snapshot %q: %w", id, err)
		}
		size, srcPath = rec.Size, rec.Path
	} else {
		// Unknown (0) without mds capabilities: the clone tells. No
		// path: a shallow volume looks up its source's (recordShallow).
		size, _ = s.cephCSISnapshotSize(ctx, sess, id, snap)
	}
	if _, err := sess.SnapshotCreated(ctx, snap.FSName, snap.Group, snap.Subvolume, snap.Name); err != nil {
		return nil, fmt.Errorf("source snapshot %q: %w", id, err)
	}
	return &cloneSource{snap: snap, size: size, path: srcPath}, nil
}

// sameCluster checks that a source ID is of the target's cluster and
// returns that cluster.
func (s *Server) sameCluster(id string, target volumeid.Volume) (*config.Cluster, error) {
	clusterID, err := clusterOf(id)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if clusterID != target.ClusterID {
		return nil, contract.Invalid("source %q is in cluster %q; a clone must be in the same cluster, not %q", id, clusterID, target.ClusterID)
	}
	cluster, err := s.cfg.Cluster(clusterID)
	if err != nil {
		return nil, contract.Invalid("source %q: %v", id, err)
	}
	return cluster, nil
}

// sourceVolume resolves a clone's source volume ID (ours or ceph-csi's) on
// the target's cluster.
func (s *Server) sourceVolume(ctx context.Context, sess Session, target volumeid.Volume, id string) (*volumeRef, error) {
	cluster, err := s.sameCluster(id, target)
	if err != nil {
		return nil, err
	}
	ref, err := resolveVolume(ctx, sess, cluster, id)
	if err == nil && ref.shallow() {
		return nil, errShallow(id)
	}
	return ref, err
}

func sameFilesystem(src, target volumeid.Volume) error {
	if src.ClusterID != target.ClusterID || src.FSName != target.FSName {
		return contract.Invalid("the source is in filesystem %s/%s; a clone must be in the same filesystem, not %s/%s",
			src.ClusterID, src.FSName, target.ClusterID, target.FSName)
	}
	return nil
}

// createFromSource makes the volume a clone of a snapshot or volume and
// waits, within CloneWait and the RPC deadline, for Ceph to finish copying.
// It is idempotent: a retry finds the clone by its derived name and goes on
// waiting for it (no second clone), even after a driver restart.
func (s *Server) createFromSource(ctx context.Context, sess Session, req *csi.CreateVolumeRequest, vol volumeid.Volume, size int64, p *volumeParams) (*ceph.Subvolume, error) {
	log := klog.FromContext(ctx).WithValues("clone", vol.Subvolume)
	src := req.GetVolumeContentSource()
	st, err := sess.CloneStatus(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if errors.Is(err, contract.ErrNotFound) {
		cs, err := s.resolveSource(ctx, sess, src, vol, req.GetName())
		if err != nil {
			return nil, err
		}
		if size < cs.size {
			return nil, outOfRange("requested %d bytes, smaller than the source's %d", size, cs.size)
		}
		// A clone is a subvolume like any: claimed before it exists,
		// so that a CreateVolume of the same name without a source
		// looks at it before touching it (createOrFind).
		if _, err := sess.ClaimSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume, []byte(req.GetName())); err != nil {
			return nil, err
		}
		if cs.temporary {
			if err := sess.CreateSnapshot(ctx, cs.snap.FSName, cs.snap.Group, cs.snap.Subvolume, cs.snap.Name); err != nil {
				return nil, err
			}
		}
		if err := sess.EnsureGroup(ctx, vol.FSName, vol.Group); err != nil {
			return nil, err
		}
		err = sess.Clone(ctx, ceph.CloneSpec{
			FSName: vol.FSName, Group: cs.snap.Group, Subvolume: cs.snap.Subvolume, Snapshot: cs.snap.Name,
			TargetGroup: vol.Group, Target: vol.Subvolume, Pool: p.pool,
		})
		if err != nil && !errors.Is(err, contract.ErrAlreadyExists) {
			return nil, err
		}
		log.V(2).Info("Clone started", "source", cs.snap.Subvolume+"@"+cs.snap.Name)
		st = &ceph.CloneState{State: "pending"}
	} else if err != nil {
		return nil, err
	}
	if st, err = s.waitForClone(ctx, sess, vol, st); err != nil {
		return nil, err
	}
	switch st.State {
	case "complete":
	case "failed", "canceled":
		// Remove the remains so that the provisioner's retry starts over.
		if err := sess.ForceRemoveSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
			return nil, fmt.Errorf("clean up %s clone: %w", st.State, err)
		}
		return nil, fmt.Errorf("clone of volume %q %s (%s); removed it, a retry starts over", req.GetName(), st.State, st.Failure)
	default:
		return nil, fmt.Errorf("%w: clone of volume %q is %s; retry later", contract.ErrBusy, req.GetName(), st.State)
	}
	if v := src.GetVolume(); v != nil {
		// The temporary snapshot has served; the source volume may
		// have been deleted meanwhile (it is then retained by this snapshot).
		ref, err := s.sourceVolume(ctx, sess, vol, v.GetVolumeId())
		if err == nil {
			err = sess.RemoveSnapshot(ctx, ref.FSName, ref.Group, ref.Subvolume, volumeid.DeriveName(cloneSourcePrefix, req.GetName()))
		}
		if err != nil && !errors.Is(err, contract.ErrNotFound) {
			return nil, fmt.Errorf("remove temporary snapshot: %w", err)
		}
	}
	sv, err := sess.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if err != nil {
		return nil, err
	}
	if err := s.checkCloneOfCephCSISnapshot(ctx, sess, src, vol, sv, size); err != nil {
		return nil, err
	}
	if sv.Size != size {
		if err := sess.ResizeSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume, size); err != nil {
			return nil, err
		}
		sv.Size = size
	}
	return sv, nil
}

// checkCloneOfCephCSISnapshot refuses a restore of a snapshot ceph-csi took
// below the snapshot's size when that size could not be read before
// cloning: Ceph gives a clone the quota the snapshot recorded, so the
// complete clone's quota is that size. The clone is removed (nothing is
// left behind); with the size known beforehand this never triggers.
func (s *Server) checkCloneOfCephCSISnapshot(ctx context.Context, sess Session, src *csi.VolumeContentSource, vol volumeid.Volume, sv *ceph.Subvolume, size int64) error {
	id := src.GetSnapshot().GetSnapshotId()
	if _, err := volumeid.DecodeCephCSI(id); err != nil || sv.Size <= size {
		return nil
	}
	if err := sess.ForceRemoveSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
		return fmt.Errorf("remove the clone of snapshot %q, which is larger than requested: %w", id, err)
	}
	klog.FromContext(ctx).V(2).Info("Removed a clone larger than requested", "snapshot", id, "size", sv.Size, "requested", size)
	return outOfRange("requested %d bytes, smaller than snapshot %s's %d (the quota its clone got from it)", size, id, sv.Size)
}

// waitForClone polls the clone's state, backing off from 100 ms to 1 s,
// until it is no longer pending or in progress, or the wait is over.
func (s *Server) waitForClone(ctx context.Context, sess Session, vol volumeid.Volume, st *ceph.CloneState) (*ceph.CloneState, error) {
	wait := CloneWait
	if dl, ok := ctx.Deadline(); ok {
		// Leave time to answer before the caller gives up.
		wait = min(wait, time.Until(dl)-time.Second)
	}
	start := time.Now()
	delay := 100 * time.Millisecond
	for st.State == "pending" || st.State == "in-progress" {
		if time.Since(start)+delay > wait {
			klog.FromContext(ctx).V(2).Info("Clone not complete yet", "state", st.State, "waited", time.Since(start).Round(time.Millisecond))
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
		var err error
		if st, err = sess.CloneStatus(ctx, vol.FSName, vol.Group, vol.Subvolume); err != nil {
			return nil, err
		}
	}
	klog.FromContext(ctx).V(2).Info("Clone finished", "state", st.State, "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}
