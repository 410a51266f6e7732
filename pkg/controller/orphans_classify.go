package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// One classifier per kind of object: each returns nil for what is live (or
// gone), else the item with its status. Scan and the re-check before a
// removal call the same one.

// judge picks the status of something no live handle names.
func (o *Orphans) judge(it *OrphanItem, owned bool, whose string) *OrphanItem {
	switch {
	case o.young(it.Created):
		it.Status = StatusInProgress
		it.Reason = fmt.Sprintf("made %s ago, less than the minimum age %s: may belong to a create still running", o.now().Sub(it.Created).Round(time.Second), o.Options.MinAge)
	case owned:
		it.Status = StatusOrphan
		it.Reason = whose + ", and no live handle names it"
	case o.Options.IncludeUnclaimed:
		it.Status = StatusOrphan
		it.Reason = "neither the driver's records nor ceph-csi's journal name it (unclaimed ones included)"
	default:
		it.Status = StatusUnknown
		it.Reason = "neither the driver's records nor ceph-csi's journal name it: made by hand, by a static volume's owner or before claims; left alone"
	}
	return it
}

// subvolume classifies a subvolume; present is false for one that is gone
// or retained (removed with its snapshots kept: not a volume any more, its
// snapshots are classified on their own).
func (o *Orphans) subvolume(ctx context.Context, sess Session, idx *orphanIndex, group, sub string) (*OrphanItem, bool, error) {
	it := &OrphanItem{Kind: KindSubvolume, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: group, Subvolume: sub, src: srcSubvolume, refs: &itemRefs{}}
	clone := ""
	sv, err := sess.SubvolumeInfo(ctx, idx.fsName, group, sub)
	switch {
	case errors.Is(err, contract.ErrNotFound):
		return nil, false, nil
	case errors.Is(err, contract.ErrFailedPrecondition):
		// The mgr answers EAGAIN for a clone that is not complete.
		cs, cerr := sess.CloneStatus(ctx, idx.fsName, group, sub)
		if cerr != nil {
			return nil, false, fmt.Errorf("subvolume %s/%s: %w (clone status: %w)", group, sub, err, cerr)
		}
		if cs.State != "failed" && cs.State != "canceled" {
			it.Status, it.Reason = StatusInProgress, "a clone in state "+cs.State
			return it, true, nil
		}
		clone = "a clone that " + cs.State + "; "
	case err != nil:
		return nil, false, err
	case sv.Retained:
		return nil, false, nil
	default:
		it.Created = sv.Created
	}
	it.Handle = idx.volumeHandle(group, sub)
	it.refs.claimed = idx.claims[group+"/"+sub]
	whose := clone + "claimed by the driver"
	if uuid, ok := idx.volBySub[sub]; ok && group == idx.cluster.SubvolumeGroup() {
		j := idx.cephVols[uuid]
		it.refs.cephCSI, it.refs.uuid = j.removable(), uuid
		it.refs.handle = idx.cephCSIHandle(uuid)
		if o.Options.Handles[it.refs.handle] {
			return nil, true, nil
		}
		it.Handle = it.refs.handle
		whose = clone + "in ceph-csi's journal (request " + j.request + ")"
	}
	if o.Options.Handles[idx.volumeHandle(group, sub)] {
		return nil, true, nil
	}
	return o.judge(it, it.refs.claimed || it.refs.cephCSI != nil, whose), true, nil
}

// snapshot classifies a snapshot. It is live when its handle is, or when a
// live shallow volume reads it; a shallow volume not yet old enough keeps
// it in progress.
func (o *Orphans) snapshot(ctx context.Context, sess Session, idx *orphanIndex, group, sub, snap string) (*OrphanItem, error) {
	st, err := sess.SnapshotInfo(ctx, idx.fsName, group, sub, snap)
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it := &OrphanItem{
		Kind: KindSnapshot, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: group, Subvolume: sub, Snapshot: snap,
		Created: st.Created, src: srcSnapshot, refs: &itemRefs{},
	}
	whose := ""
	if r := idx.ownRecord(group, sub, snap); r != nil {
		it.Handle, it.refs.record, whose = r.ID, true, "recorded by the driver"
	}
	if uuid, ok := idx.snapByName[sub+"@"+snap]; ok && group == idx.cluster.SubvolumeGroup() {
		j := idx.cephSnaps[uuid]
		it.refs.cephCSI, it.refs.uuid, it.refs.handle = j.removable(), uuid, idx.cephCSIHandle(uuid)
		it.Handle, whose = it.refs.handle, "in ceph-csi's journal (request "+j.request+")"
	}
	if strings.HasPrefix(snap, cloneSourcePrefix) && idx.claims[group+"/"+sub] && whose == "" {
		whose = "a volume-to-volume clone's temporary snapshot of a claimed subvolume"
	}
	if it.Handle != "" && o.Options.SnapshotHandles[it.Handle] {
		return nil, nil
	}
	live, pending := o.shallowReaders(idx, group, sub, snap, it.refs.handle)
	switch {
	case live != "":
		return nil, nil
	case st.PendingClones:
		it.Status, it.Reason = StatusInProgress, "clones are still copying from it"
		return it, nil
	case pending != "":
		it.Status, it.Reason = StatusInProgress, "shallow volume "+pending+" reads it and may belong to a create still running"
		return it, nil
	}
	return o.judge(it, whose != "", whose), nil
}

// shallowReaders returns a live shallow volume reading a snapshot, else one
// young enough to be in progress. A reference counts only through its
// shallow volume's handle: an orphaned shallow volume keeps nothing alive.
func (o *Orphans) shallowReaders(idx *orphanIndex, group, sub, snap, cephHandle string) (live, pending string) {
	for name, ref := range idx.refs {
		if ref.Group != group || ref.Source != sub || ref.Name != snap {
			continue
		}
		h := idx.shallowHandle(name)
		switch {
		case o.Options.Handles[h]:
			return h, ""
		case o.young(time.Unix(0, ref.Created)):
			pending = h
		}
	}
	if cephHandle == "" {
		return "", pending
	}
	for uuid, j := range idx.cephVols {
		if j.entry != nil && j.entry.BackingSnapshot == cephHandle && o.Options.Handles[idx.cephCSIHandle(uuid)] {
			return idx.cephCSIHandle(uuid), ""
		}
	}
	return "", pending
}

func (idx *orphanIndex) shallowHandle(name string) string {
	h, _ := volumeid.Shallow{ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Name: name}.Encode()
	return h
}

// claim reports a claim without its subvolume as in progress: a create
// between its claim and its subvolume, or a delete between the two
// removals, whose retry ends it. A leftover claim costs a later create of
// that name one mgr command, nothing more; it is never removed here.
func (o *Orphans) claim(ctx context.Context, idx *orphanIndex, key string, exists existence) (*OrphanItem, error) {
	group, sub, _ := strings.Cut(key, "/")
	there, err := exists.subvolume(ctx, group, sub)
	if err != nil || there {
		return nil, err
	}
	h := idx.volumeHandle(group, sub)
	if o.Options.Handles[h] {
		return nil, nil // a live volume whose subvolume is missing: a health matter
	}
	return &OrphanItem{
		Status: StatusInProgress, Kind: KindClaim, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: group, Subvolume: sub,
		Handle: h, Reason: "a claim without its subvolume: a create or delete not finished; never removed", src: srcClaim, key: key,
	}, nil
}

// record reports a snapshot record whose snapshot is gone.
func (o *Orphans) record(ctx context.Context, idx *orphanIndex, name string, exists existence) (*OrphanItem, error) {
	r := idx.records[name]
	s, err := volumeid.DecodeSnapshot(r.ID)
	if err != nil || s.ClusterID != idx.cluster.ClusterID || s.FSName != idx.fsName || s.Name != name || o.Options.SnapshotHandles[r.ID] {
		return nil, nil
	}
	there, err := exists.snapshot(ctx, s.Group, s.Subvolume, s.Name)
	if err != nil || there {
		return nil, err
	}
	it := &OrphanItem{
		Kind: KindRecord, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: s.Group, Subvolume: s.Subvolume, Snapshot: s.Name,
		Handle: r.ID, Created: time.Unix(0, r.Created), src: srcRecord, key: name,
	}
	return o.judge(it, true, "a snapshot record whose snapshot is gone"), nil
}

// reference reports one of the driver's shallow volumes no live handle
// names.
func (o *Orphans) reference(idx *orphanIndex, name string) *OrphanItem {
	ref := idx.refs[name]
	h := idx.shallowHandle(name)
	if o.Options.Handles[h] {
		return nil
	}
	it := &OrphanItem{
		Kind: KindShallow, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: ref.Group, Subvolume: ref.Source, Snapshot: ref.Name,
		Handle: h, Created: time.Unix(0, ref.Created), src: srcReference, key: name,
	}
	return o.judge(it, true, "a shallow volume (a reference to snapshot "+ref.Snapshot+")")
}

// cephCSIVolume reports ceph-csi's volume journal entries whose handle is
// not live and whose subvolume is gone (those with a subvolume go with it),
// and its shallow volumes whose handle is not live. ceph-csi's journal
// keeps no time: its entries cannot be told in progress (docs/design.md).
func (o *Orphans) cephCSIVolume(ctx context.Context, idx *orphanIndex, uuid string, exists existence) (*OrphanItem, error) {
	j := idx.cephVols[uuid]
	h := idx.cephCSIHandle(uuid)
	if o.Options.Handles[h] {
		return nil, nil
	}
	it := &OrphanItem{
		Kind: KindJournal, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Handle: h, src: srcCephCSIVolume, key: uuid,
		refs: &itemRefs{cephCSI: j.removable(), uuid: uuid, handle: h},
	}
	switch {
	case j.entry == nil:
		return o.judge(it, true, "ceph-csi's volume directory names request "+j.request+", whose entry is gone"), nil
	case j.entry.BackingSnapshot != "":
		it.Kind, it.Subvolume = KindShallow, j.entry.Name
		return o.judge(it, true, "a ceph-csi shallow volume of snapshot "+j.entry.BackingSnapshot), nil
	}
	group := idx.cluster.SubvolumeGroup()
	it.Group, it.Subvolume = group, j.entry.Name
	there, err := exists.subvolume(ctx, group, j.entry.Name)
	if err != nil || there {
		return nil, err
	}
	return o.judge(it, true, "ceph-csi's journal entry of a subvolume that is gone"), nil
}

// cephCSISnapshot reports ceph-csi's snapshot journal entries whose handle
// is not live and whose snapshot is gone.
func (o *Orphans) cephCSISnapshot(ctx context.Context, idx *orphanIndex, uuid string, exists existence) (*OrphanItem, error) {
	j := idx.cephSnaps[uuid]
	h := idx.cephCSIHandle(uuid)
	if o.Options.SnapshotHandles[h] {
		return nil, nil
	}
	it := &OrphanItem{
		Kind: KindJournal, ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Handle: h, src: srcCephCSISnapshot, key: uuid,
		refs: &itemRefs{cephCSI: j.removable(), uuid: uuid, handle: h},
	}
	if j.entry == nil {
		return o.judge(it, true, "ceph-csi's snapshot directory names request "+j.request+", whose entry is gone"), nil
	}
	it.Group, it.Subvolume, it.Snapshot = idx.cluster.SubvolumeGroup(), j.entry.Source, j.entry.Name
	there, err := exists.snapshot(ctx, it.Group, it.Subvolume, it.Snapshot)
	if err != nil || there {
		return nil, err
	}
	return o.judge(it, true, "ceph-csi's journal entry of a snapshot that is gone"), nil
}
