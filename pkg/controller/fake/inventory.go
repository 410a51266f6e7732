package fake

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Created is when the fake says every subvolume and snapshot was made,
// unless SnapshotTimes says otherwise.
var Created = time.Unix(1700000000, 0)

// ListSubvolumes implements controller.Session.
func (f *Session) ListSubvolumes(_ context.Context, fsName, group string) ([]string, error) {
	if err := f.call("subvolume-ls"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.Subvolumes {
		if name, ok := strings.CutPrefix(k, fsName+"/"+group+"/"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ListSnapshots implements controller.Session.
func (f *Session) ListSnapshots(_ context.Context, fsName, group, subvolume string) ([]string, error) {
	if err := f.call("snapshot-ls"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.snapshots() {
		if name, ok := strings.CutPrefix(k, key(fsName, group, subvolume)+"@"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// SnapshotInfo implements controller.Session: made at SnapshotTimes[k] (else
// Created), with clones pending when PendingClones[k], k being
// "fs/group/subvolume@snapshot".
func (f *Session) SnapshotInfo(_ context.Context, fsName, group, subvolume, name string) (*ceph.SnapshotState, error) {
	if err := f.call("snapshot-info"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(fsName, group, subvolume) + "@" + name
	if !f.snapshots()[k] {
		return nil, fmt.Errorf("snapshot %s: %w", name, contract.ErrNotFound)
	}
	st := &ceph.SnapshotState{Created: Created, PendingClones: f.PendingClones[k]}
	if t, ok := f.SnapshotTimes[k]; ok {
		st.Created = t
	}
	return st, nil
}

// CephCSIDirectory implements controller.Session: the journal's entries of
// that kind (snapshots have a source), and the directory keys whose entry
// is gone (DanglingCephCSI).
func (f *Session) CephCSIDirectory(_ context.Context, _, _ string, kind ceph.CephCSIKind) (map[string]string, error) {
	if err := f.call("cephcsi-dir"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for uuid, e := range f.CephCSI {
		if (e.Source != "") == (kind == ceph.CephCSISnapshots) {
			out[uuid] = e.Request
		}
	}
	if kind == ceph.CephCSIVolumes {
		for uuid, req := range f.DanglingCephCSI {
			out[uuid] = req
		}
	}
	return out, nil
}
