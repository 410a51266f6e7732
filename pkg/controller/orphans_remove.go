package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// Results of a removal.
const (
	ResultRemoved = "removed"
	resultSkipped = "skipped: "
	resultFailed  = "failed: "
)

// removalRank orders removals so that nothing removed is still named by
// what stays: shallow volumes before the snapshots they read, snapshots
// before their subvolumes (a subvolume goes with --retain-snapshots all the
// same), the records and journal entries left over last.
var removalRank = map[string]int{KindShallow: 0, KindSnapshot: 1, KindSubvolume: 2, KindRecord: 3, KindJournal: 4}

// Remove removes the orphans among items (those Scan returned), each after
// classifying it again from what Ceph says at that moment: one that is live,
// in progress, gone or changed since (another creation time) is skipped.
// Every orphan gets its Result; the others none. It returns how many
// removals failed.
func (o *Orphans) Remove(ctx context.Context, items []OrphanItem) int {
	order := make([]int, 0, len(items))
	for i := range items {
		if items[i].Status == StatusOrphan {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return removalRank[items[order[a]].Kind] < removalRank[items[order[b]].Kind] })
	sessions := map[string]Session{}
	defer func() {
		for _, s := range sessions {
			s.Release()
		}
	}()
	failed := 0
	for _, i := range order {
		it := &items[i]
		sess, ok := sessions[it.ClusterID]
		if !ok {
			cluster, err := o.Config.Cluster(it.ClusterID)
			if err == nil {
				sess, err = o.Connect(ctx, cluster)
			}
			if err != nil {
				it.Result = resultFailed + err.Error()
				failed++
				continue
			}
			sessions[it.ClusterID] = sess
		}
		now, err := o.recheck(ctx, sess, it)
		switch {
		case err != nil:
			it.Result = resultFailed + "re-check: " + err.Error()
			failed++
		case now == nil:
			it.Result = resultSkipped + "gone or live since the listing"
		case now.Status != StatusOrphan || now.Kind != it.Kind || now.Handle != it.Handle || !now.Created.Equal(it.Created):
			it.Result = resultSkipped + "changed since the listing: " + now.Status + ", " + now.Reason
		default:
			if err := o.remove(ctx, sess, now); err != nil {
				it.Result = resultFailed + err.Error()
				failed++
				continue
			}
			it.Result = ResultRemoved
		}
	}
	return failed
}

// recheck classifies an item again from a fresh index and Ceph's answers.
func (o *Orphans) recheck(ctx context.Context, sess Session, it *OrphanItem) (*OrphanItem, error) {
	cluster, err := o.Config.Cluster(it.ClusterID)
	if err != nil {
		return nil, err
	}
	idx, err := readIndex(ctx, sess, cluster, it.FSName)
	if err != nil {
		return nil, err
	}
	ex := asked(sess, it.FSName)
	switch it.src {
	case srcSubvolume:
		now, _, err := o.subvolume(ctx, sess, idx, it.Group, it.Subvolume)
		return now, err
	case srcSnapshot:
		return o.snapshot(ctx, sess, idx, it.Group, it.Subvolume, it.Snapshot)
	case srcRecord:
		if idx.records[it.key] == nil {
			return nil, nil
		}
		return o.record(ctx, idx, it.key, ex)
	case srcReference:
		if idx.refs[it.key] == nil {
			return nil, nil
		}
		return o.reference(idx, it.key), nil
	case srcCephCSIVolume:
		if idx.cephVols[it.key] == nil {
			return nil, nil
		}
		return o.cephCSIVolume(ctx, idx, it.key, ex)
	case srcCephCSISnapshot:
		if idx.cephSnaps[it.key] == nil {
			return nil, nil
		}
		return o.cephCSISnapshot(ctx, idx, it.key, ex)
	}
	return nil, fmt.Errorf("%w: %s is never removed", contract.ErrFailedPrecondition, it.Kind)
}

// remove removes an orphan with what names it: a subvolume with its claim
// and ceph-csi's journal entry (after it, as DeleteVolume does), a snapshot
// with its record or journal entry and reftracker.
func (o *Orphans) remove(ctx context.Context, sess Session, it *OrphanItem) error {
	cluster, err := o.Config.Cluster(it.ClusterID)
	if err != nil {
		return err
	}
	ns := cephCSINamespace(cluster)
	fs := it.FSName
	switch it.src {
	case srcSubvolume:
		vol := volumeid.Volume{ClusterID: it.ClusterID, FSName: fs, Group: it.Group, Subvolume: it.Subvolume}
		if err := removeSubvolume(ctx, sess, vol); err != nil {
			return err
		}
		if it.refs.claimed {
			if err := sess.DropSubvolumeClaim(ctx, fs, it.Group, it.Subvolume); err != nil {
				return fmt.Errorf("subvolume removed, but not its claim: %w", err)
			}
		}
		if it.refs.cephCSI != nil {
			if err := sess.RemoveCephCSIEntry(ctx, fs, ns, ceph.CephCSIVolumes, it.refs.uuid, it.refs.cephCSI); err != nil {
				return fmt.Errorf("subvolume removed, but not ceph-csi's journal entry: %w", err)
			}
		}
	case srcSnapshot:
		if err := sess.RemoveSnapshot(ctx, fs, it.Group, it.Subvolume, it.Snapshot); err != nil {
			if errors.Is(err, contract.ErrFailedPrecondition) {
				return fmt.Errorf("clones are copying from it: %w", err)
			}
			return err
		}
		if it.refs.record {
			if err := sess.DeleteRecord(ctx, fs, it.Snapshot); err != nil {
				return fmt.Errorf("snapshot removed, but not its record: %w", err)
			}
		}
		if it.refs.cephCSI != nil {
			return removeCephCSISnapshot(ctx, sess, fs, ns, it)
		}
	case srcRecord:
		return sess.DeleteRecord(ctx, fs, it.key)
	case srcReference:
		return sess.DeleteReference(ctx, fs, it.key)
	case srcCephCSIVolume:
		return sess.RemoveCephCSIEntry(ctx, fs, ns, ceph.CephCSIVolumes, it.refs.uuid, it.refs.cephCSI)
	case srcCephCSISnapshot:
		return removeCephCSISnapshot(ctx, sess, fs, ns, it)
	default:
		return fmt.Errorf("%w: %s is never removed", contract.ErrFailedPrecondition, it.Kind)
	}
	return nil
}

func removeCephCSISnapshot(ctx context.Context, sess Session, fs, ns string, it *OrphanItem) error {
	if err := sess.RemoveCephCSIEntry(ctx, fs, ns, ceph.CephCSISnapshots, it.refs.uuid, it.refs.cephCSI); err != nil {
		return fmt.Errorf("ceph-csi's journal entry: %w", err)
	}
	if err := sess.RemoveCephCSIRefTracker(ctx, fs, ns, it.refs.handle); err != nil {
		return fmt.Errorf("ceph-csi's reftracker: %w", err)
	}
	return nil
}
