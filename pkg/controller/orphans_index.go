package controller

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// orphanIndex is what a filesystem's records say: the driver's claims,
// snapshot records and shallow references, and ceph-csi's journal. RADOS
// reads only (one per journal entry besides), no mgr command; the report
// reads it once per filesystem, and again before each removal.
type orphanIndex struct {
	cluster *config.Cluster
	fsName  string
	ns      string // ceph-csi's namespace
	fscid   int64  // for ceph-csi's handles; read only when its journal has entries
	claims  map[string]bool
	records map[string]*snapshotRecord // by record key (the snapshot's name)
	refs    map[string]*shallowRecord  // by shallow volume name
	// ceph-csi's journal, by uuid; entry nil: the directory names a uuid
	// whose entry is gone.
	cephVols, cephSnaps map[string]*journalEntry
	volBySub            map[string]string // subvolume → uuid (the config's group)
	snapByName          map[string]string // "subvolume@snapshot" → uuid
}

type journalEntry struct {
	request string
	entry   *ceph.CephCSIEntry
}

// removable is what RemoveCephCSIEntry needs: the entry, with the
// directory's request name when the entry lacks it or is gone.
func (j *journalEntry) removable() *ceph.CephCSIEntry {
	e := ceph.CephCSIEntry{Request: j.request}
	if j.entry != nil {
		e = *j.entry
		if e.Request == "" {
			e.Request = j.request
		}
	}
	return &e
}

func readIndex(ctx context.Context, sess Session, cluster *config.Cluster, fsName string) (*orphanIndex, error) {
	idx := &orphanIndex{
		cluster: cluster, fsName: fsName, ns: cephCSINamespace(cluster),
		claims: map[string]bool{}, records: map[string]*snapshotRecord{}, refs: map[string]*shallowRecord{},
		volBySub: map[string]string{}, snapByName: map[string]string{},
	}
	claims, err := sess.ListClaims(ctx, fsName)
	if err != nil {
		return nil, err
	}
	for _, c := range claims {
		idx.claims[c.Group+"/"+c.Subvolume] = true
	}
	recs, err := sess.ListRecords(ctx, fsName)
	if err != nil {
		return nil, err
	}
	for name, data := range recs {
		r, err := decodeRecord(data)
		if err != nil {
			klog.FromContext(ctx).Info("Skipping an unreadable snapshot record", "name", name, "reason", err.Error())
			continue
		}
		idx.records[name] = r
	}
	refs, err := sess.ListReferences(ctx, fsName)
	if err != nil {
		return nil, err
	}
	for name, data := range refs {
		var rec shallowRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			klog.FromContext(ctx).Info("Skipping an unreadable shallow volume reference", "name", name, "reason", err.Error())
			continue
		}
		idx.refs[name] = &rec
	}
	if idx.cephVols, err = readJournal(ctx, sess, fsName, idx.ns, ceph.CephCSIVolumes); err != nil {
		return nil, err
	}
	if idx.cephSnaps, err = readJournal(ctx, sess, fsName, idx.ns, ceph.CephCSISnapshots); err != nil {
		return nil, err
	}
	for uuid, j := range idx.cephVols {
		if j.entry != nil && j.entry.BackingSnapshot == "" {
			idx.volBySub[j.entry.Name] = uuid
		}
	}
	for uuid, j := range idx.cephSnaps {
		if j.entry != nil {
			idx.snapByName[j.entry.Source+"@"+j.entry.Name] = uuid
		}
	}
	if len(idx.cephVols)+len(idx.cephSnaps) > 0 {
		if idx.fscid, err = sess.FilesystemID(ctx, fsName); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

func readJournal(ctx context.Context, sess Session, fsName, ns string, kind ceph.CephCSIKind) (map[string]*journalEntry, error) {
	dir, err := sess.CephCSIDirectory(ctx, fsName, ns, kind)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*journalEntry, len(dir))
	for uuid, request := range dir {
		e, err := sess.CephCSIEntry(ctx, fsName, ns, kind, uuid)
		switch {
		case errors.Is(err, contract.ErrNotFound):
			e = nil
		case err != nil:
			return nil, err
		}
		out[uuid] = &journalEntry{request: request, entry: e}
	}
	return out, nil
}

// groups are the subvolume groups to list: only, when given, those; else
// the cluster config's (ceph-csi's and the driver's default) and those the
// driver's records name (a StorageClass may name another).
func (idx *orphanIndex) groups(only []string) []string {
	if len(only) > 0 {
		return only
	}
	set := map[string]bool{idx.cluster.SubvolumeGroup(): true}
	for k := range idx.claims {
		g, _, _ := strings.Cut(k, "/")
		set[g] = true
	}
	for _, r := range idx.records {
		if s, err := volumeid.DecodeSnapshot(r.ID); err == nil {
			set[s.Group] = true
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

func (idx *orphanIndex) claimKeys() []string {
	out := make([]string, 0, len(idx.claims))
	for k := range idx.claims {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// cephCSIHandle is the handle ceph-csi gave the object of a journal uuid.
func (idx *orphanIndex) cephCSIHandle(uuid string) string {
	return volumeid.CephCSI{ClusterID: idx.cluster.ClusterID, LocationID: idx.fscid, UUID: uuid}.Encode()
}

// volumeHandle is the handle of one of the driver's subvolumes ("" when the
// names make none).
func (idx *orphanIndex) volumeHandle(group, sub string) string {
	id, _ := volumeid.Volume{ClusterID: idx.cluster.ClusterID, FSName: idx.fsName, Group: group, Subvolume: sub}.Encode()
	return id
}

// ownRecord returns the driver's record of a snapshot, when the record
// under its name is this snapshot's (the name may since have been taken for
// another source).
func (idx *orphanIndex) ownRecord(group, sub, snap string) *snapshotRecord {
	r, ok := idx.records[snap]
	if !ok {
		return nil
	}
	s, err := volumeid.DecodeSnapshot(r.ID)
	if err != nil || s.ClusterID != idx.cluster.ClusterID || s.FSName != idx.fsName || s.Group != group || s.Subvolume != sub || s.Name != snap {
		return nil
	}
	return r
}
