package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// The orphan report (`cephfs-csi orphans`, pkg/orphans) lists what the
// driver, or ceph-csi before it, left in the cluster that no live volume or
// snapshot handle accounts for: the operator passes the handles Kubernetes
// holds (PersistentVolumes, VolumeSnapshotContents), and everything the
// driver's records say it made that none of them names is an orphan. Only
// what the records prove the driver (or ceph-csi's journal) made can be an
// orphan; anything that may be half-way through a create is reported in
// progress, never removed. docs/design.md, "Orphans", gives the rules.

// Orphan statuses.
const (
	// StatusOrphan: made by the driver or ceph-csi, named by no live handle.
	StatusOrphan = "orphan"
	// StatusInProgress: may be part of a create or delete that has not
	// finished (younger than MinAge, a clone still copying, a claim without
	// its subvolume); never removed.
	StatusInProgress = "in-progress"
	// StatusUnknown: in a group the driver uses, but neither claimed by it
	// nor in ceph-csi's journal (a static volume, a subvolume made by hand
	// or by a version before claims); removed only with IncludeUnclaimed,
	// which makes it an orphan.
	StatusUnknown = "unknown"
)

// Orphan kinds.
const (
	KindSubvolume = "subvolume"       // with its claim or ceph-csi journal entry
	KindSnapshot  = "snapshot"        // with its record or ceph-csi journal entry
	KindShallow   = "shallow-volume"  // a reference, or ceph-csi's journal entry
	KindClaim     = "claim"           // a claim without its subvolume
	KindRecord    = "snapshot-record" // a record without its snapshot
	KindJournal   = "journal-entry"   // ceph-csi's entry without its object
)

// OrphanOptions say what is live and where to look.
type OrphanOptions struct {
	// Handles are the live volume handles (PersistentVolumes'), ours and
	// ceph-csi's, shallow volumes included; SnapshotHandles the live
	// snapshot handles (VolumeSnapshotContents').
	Handles, SnapshotHandles map[string]bool
	// AllowEmpty lets Handles be empty: without it an empty list, which
	// would make every volume an orphan, is refused.
	AllowEmpty bool
	// MinAge: anything younger is in progress.
	MinAge time.Duration
	// Now is the time ages are measured from (zero: the clock).
	Now time.Time
	// Clusters, Filesystems and Groups restrict the report (empty: all of
	// the config; every filesystem of each cluster; the cluster config's
	// group and those the driver's records name).
	Clusters, Filesystems, Groups []string
	// IncludeUnclaimed reports StatusUnknown subvolumes and snapshots as
	// orphans.
	IncludeUnclaimed bool
}

// OrphanItem is one line of the report.
type OrphanItem struct {
	Status    string    `json:"status"`
	Kind      string    `json:"kind"`
	ClusterID string    `json:"clusterID"`
	FSName    string    `json:"fsName"`
	Group     string    `json:"group,omitempty"`
	Subvolume string    `json:"subvolume,omitempty"`
	Snapshot  string    `json:"snapshot,omitempty"`
	Handle    string    `json:"handle,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Reason    string    `json:"reason"`
	// Result is what --delete did: "removed", "skipped: …" or the error.
	Result string `json:"result,omitempty"`

	src  source // which classifier made it, for the re-check
	key  string // the record's, reference's or journal entry's key
	refs *itemRefs
}

// itemRefs is what removing an item takes besides the object itself.
type itemRefs struct {
	claimed bool
	record  bool               // a snapshot whose record is its own
	cephCSI *ceph.CephCSIEntry // its ceph-csi journal entry
	uuid    string             // of cephCSI
	handle  string             // of cephCSI
}

type source int

const (
	srcSubvolume source = iota + 1
	srcSnapshot
	srcClaim
	srcRecord
	srcReference
	srcCephCSIVolume
	srcCephCSISnapshot
)

// Orphans takes stock of the configured clusters.
type Orphans struct {
	Config *config.Config
	// Connect opens a session on a cluster with the report's credential.
	Connect func(ctx context.Context, cluster *config.Cluster) (Session, error)
	Options OrphanOptions
}

func (o *Orphans) now() time.Time {
	if o.Options.Now.IsZero() {
		return time.Now()
	}
	return o.Options.Now
}

// young tells whether something made at t may still be part of a create.
func (o *Orphans) young(t time.Time) bool {
	return !t.IsZero() && o.now().Sub(t) < o.Options.MinAge
}

// Scan lists the orphans, and what is in progress or unknown, sorted by
// status, cluster, filesystem, group, subvolume, snapshot and kind.
func (o *Orphans) Scan(ctx context.Context) ([]OrphanItem, error) {
	if len(o.Options.Handles) == 0 && !o.Options.AllowEmpty {
		return nil, contract.Invalid("no live volume handle given: every volume would be an orphan; pass the PersistentVolumes' handles, or allow an empty list explicitly")
	}
	clusters, err := o.clusters()
	if err != nil {
		return nil, err
	}
	var out []OrphanItem
	for _, cluster := range clusters {
		items, err := o.scanCluster(ctx, cluster)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cluster.ClusterID, err)
		}
		out = append(out, items...)
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out, nil
}

func less(a, b OrphanItem) bool {
	ka := []string{a.Status, a.ClusterID, a.FSName, a.Group, a.Subvolume, a.Snapshot, a.Kind, a.Handle}
	kb := []string{b.Status, b.ClusterID, b.FSName, b.Group, b.Subvolume, b.Snapshot, b.Kind, b.Handle}
	return slices.Compare(ka, kb) < 0
}

func (o *Orphans) clusters() ([]*config.Cluster, error) {
	if len(o.Options.Clusters) == 0 {
		return o.Config.Clusters(), nil
	}
	var out []*config.Cluster
	for _, id := range o.Options.Clusters {
		c, err := o.Config.Cluster(id)
		if err != nil {
			return nil, contract.Invalid("cluster %q: %v", id, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (o *Orphans) scanCluster(ctx context.Context, cluster *config.Cluster) ([]OrphanItem, error) {
	sess, err := o.Connect(ctx, cluster)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	names, err := o.filesystems(ctx, sess)
	if err != nil {
		return nil, err
	}
	var out []OrphanItem
	for _, fsName := range names {
		items, err := o.scanFilesystem(ctx, sess, cluster, fsName)
		if err != nil {
			return nil, fmt.Errorf("filesystem %q: %w", fsName, err)
		}
		out = append(out, items...)
	}
	return out, nil
}

func (o *Orphans) filesystems(ctx context.Context, sess Session) ([]string, error) {
	all, err := sess.Filesystems(ctx)
	if err != nil || len(o.Options.Filesystems) == 0 {
		return all, err
	}
	for _, name := range o.Options.Filesystems {
		if !slices.Contains(all, name) {
			return nil, contract.Invalid("filesystem %q does not exist (the cluster has %v)", name, all)
		}
	}
	return o.Options.Filesystems, nil
}

// scanFilesystem lists every subvolume and snapshot of the groups the
// driver uses, then what its records and ceph-csi's journal name that is
// not there.
func (o *Orphans) scanFilesystem(ctx context.Context, sess Session, cluster *config.Cluster, fsName string) ([]OrphanItem, error) {
	idx, err := readIndex(ctx, sess, cluster, fsName)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{} // "group/subvolume" not retained, "group/subvolume@snapshot"
	var out []OrphanItem
	add := func(it *OrphanItem) {
		if it != nil && o.inScope(idx, it.Group) {
			out = append(out, *it)
		}
	}
	for _, group := range idx.groups(o.Options.Groups) {
		if !o.inScope(idx, group) {
			continue
		}
		subs, err := sess.ListSubvolumes(ctx, fsName, group)
		if err != nil {
			return nil, err
		}
		for _, sub := range subs {
			it, present, err := o.subvolume(ctx, sess, idx, group, sub)
			if err != nil {
				return nil, err
			}
			seen[group+"/"+sub] = present
			add(it)
			snaps, err := sess.ListSnapshots(ctx, fsName, group, sub)
			if err != nil {
				return nil, err
			}
			for _, snap := range snaps {
				it, err := o.snapshot(ctx, sess, idx, group, sub, snap)
				if err != nil {
					return nil, err
				}
				seen[group+"/"+sub+"@"+snap] = true
				add(it)
			}
		}
	}
	listed := existence{
		subvolume: func(_ context.Context, group, sub string) (bool, error) { return seen[group+"/"+sub], nil },
		snapshot: func(_ context.Context, group, sub, snap string) (bool, error) {
			return seen[group+"/"+sub+"@"+snap], nil
		},
	}
	for _, key := range idx.claimKeys() {
		it, err := o.claim(ctx, idx, key, listed)
		if err != nil {
			return nil, err
		}
		add(it)
	}
	for name := range idx.records {
		it, err := o.record(ctx, idx, name, listed)
		if err != nil {
			return nil, err
		}
		add(it)
	}
	for name := range idx.refs {
		add(o.reference(idx, name))
	}
	for uuid := range idx.cephVols {
		it, err := o.cephCSIVolume(ctx, idx, uuid, listed)
		if err != nil {
			return nil, err
		}
		add(it)
	}
	for uuid := range idx.cephSnaps {
		it, err := o.cephCSISnapshot(ctx, idx, uuid, listed)
		if err != nil {
			return nil, err
		}
		add(it)
	}
	return out, nil
}

// inScope tells whether a group is in the report's scope; "" (a journal
// entry that names nothing) counts as the cluster config's group, ceph-csi's.
func (o *Orphans) inScope(idx *orphanIndex, group string) bool {
	if group == "" {
		group = idx.cluster.SubvolumeGroup()
	}
	return len(o.Options.Groups) == 0 || slices.Contains(o.Options.Groups, group)
}

// existence answers whether a subvolume (not retained) or a snapshot is
// there: from the listing in Scan, from Ceph in the re-check.
type existence struct {
	subvolume func(ctx context.Context, group, sub string) (bool, error)
	snapshot  func(ctx context.Context, group, sub, snap string) (bool, error)
}

// asked asks Ceph.
func asked(sess Session, fsName string) existence {
	return existence{
		subvolume: func(ctx context.Context, group, sub string) (bool, error) {
			sv, err := sess.SubvolumeInfo(ctx, fsName, group, sub)
			switch {
			case errors.Is(err, contract.ErrNotFound):
				return false, nil
			case errors.Is(err, contract.ErrFailedPrecondition): // a clone not complete
				return true, nil
			case err != nil:
				return false, err
			}
			return !sv.Retained, nil
		},
		snapshot: func(ctx context.Context, group, sub, snap string) (bool, error) {
			_, err := sess.SnapshotInfo(ctx, fsName, group, sub, snap)
			if errors.Is(err, contract.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
	}
}
