package ceph

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// ceph-csi keeps a journal in the filesystem's metadata pool (RADOS
// namespace "csi" unless configured otherwise). For each volume, the object
// csi.volume.<uuid> maps the uuid of the handle to the subvolume name (key
// csi.imagename) and the request name (csi.volname); csi.volumes.default maps
// request names back (key csi.volume.<request name>). Snapshots have the same
// shape under csi.snap.<uuid> (csi.imagename, csi.snapname, and csi.source:
// the source subvolume) and csi.snaps.default.
//
// A shallow volume (ceph-csi's "snapshot-backed volume") has a journal entry
// like any volume, naming a subvolume that was never created, plus the
// handle of its snapshot under csi.volume.backingsnapshotid. ceph-csi counts
// the shallow volumes of a snapshot in a "reftracker" object,
// rt-backingsnapshot-<snapshot handle>, whose omap keys are the handles
// holding a reference (the snapshot's own among them).
const DefaultCephCSIRNS = "csi"

// CephCSIKind selects ceph-csi's volume or snapshot journal.
type CephCSIKind struct {
	directory, objectPrefix, requestKey string
}

// ceph-csi's two journals.
var (
	CephCSIVolumes   = CephCSIKind{"csi.volumes.default", "csi.volume.", "csi.volname"}
	CephCSISnapshots = CephCSIKind{"csi.snaps.default", "csi.snap.", "csi.snapname"}
)

const (
	cephCSINameKey            = "csi.imagename"
	cephCSISourceKey          = "csi.source"
	cephCSIBackingSnapshotKey = "csi.volume.backingsnapshotid"
	cephCSIRefTrackerPrefix   = "rt-backingsnapshot-"
)

// CephCSIEntry is what ceph-csi's journal says of one volume or snapshot.
type CephCSIEntry struct {
	Name    string // the subvolume, or the snapshot
	Request string // the CSI request name
	Source  string // snapshots: the source subvolume
	// BackingSnapshot is, for a shallow volume, its snapshot's handle.
	BackingSnapshot string
}

// FilesystemByID returns the name of the filesystem with ID fscid (cached).
func (a *Admin) FilesystemByID(ctx context.Context, fscid int64) (string, error) {
	a.cache.mu.Lock()
	name, ok := a.cache.fsByID[fscid]
	a.cache.mu.Unlock()
	if ok {
		return name, nil
	}
	idents, err := bounded(ctx, a.call("fs_dump"), "list filesystem IDs", a.fsa.EnumerateVolumes)
	if err != nil {
		return "", err
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	a.cache.fsByID = make(map[int64]string, len(idents))
	for _, v := range idents {
		a.cache.fsByID[v.ID] = v.Name
	}
	if name, ok = a.cache.fsByID[fscid]; !ok {
		return "", fmt.Errorf("%w: no filesystem with ID %d", contract.ErrNotFound, fscid)
	}
	return name, nil
}

// FilesystemID returns the ID (fscid) of filesystem fsName (cached).
func (a *Admin) FilesystemID(ctx context.Context, fsName string) (int64, error) {
	find := func() (int64, bool) {
		a.cache.mu.Lock()
		defer a.cache.mu.Unlock()
		for id, name := range a.cache.fsByID {
			if name == fsName {
				return id, true
			}
		}
		return 0, false
	}
	if id, ok := find(); ok {
		return id, nil
	}
	// Fills the cache; -1 is no filesystem's ID.
	if _, err := a.FilesystemByID(ctx, -1); err != nil && !errors.Is(err, contract.ErrNotFound) {
		return 0, err
	}
	if id, ok := find(); ok {
		return id, nil
	}
	return 0, fmt.Errorf("%w: no filesystem %q", contract.ErrNotFound, fsName)
}

// CephCSIVolumeUUIDs lists the uuids of the volumes in ceph-csi's journal of
// filesystem fsName (the values of its directory object); none when
// ceph-csi never made one there.
func (a *Admin) CephCSIVolumeUUIDs(ctx context.Context, fsName, namespace string) ([]string, error) {
	vals, err := inMetadataPool(ctx, a, "omap_read", "list ceph-csi's volumes", fsName, namespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(CephCSIVolumes.directory, "", CephCSIVolumes.objectPrefix, 256)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		out = append(out, string(v))
	}
	return out, nil
}

// CephCSIEntry reads ceph-csi's journal entry for uuid; contract.ErrNotFound
// when there is none (the volume or snapshot was deleted).
func (a *Admin) CephCSIEntry(ctx context.Context, fsName, namespace string, kind CephCSIKind, uuid string) (*CephCSIEntry, error) {
	vals, err := inMetadataPool(ctx, a, "omap_read", "read ceph-csi journal of "+uuid, fsName, namespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(kind.objectPrefix+uuid, "", "", 16)
	})
	if err != nil {
		return nil, err
	}
	e := &CephCSIEntry{
		Name: string(vals[cephCSINameKey]), Request: string(vals[kind.requestKey]), Source: string(vals[cephCSISourceKey]),
		BackingSnapshot: string(vals[cephCSIBackingSnapshotKey]),
	}
	if e.Name == "" {
		return nil, fmt.Errorf("ceph-csi journal of %s: %w", uuid, contract.ErrNotFound)
	}
	return e, nil
}

// RemoveCephCSIEntry removes ceph-csi's journal entries for a volume or
// snapshot that is gone, as ceph-csi would have.
func (a *Admin) RemoveCephCSIEntry(ctx context.Context, fsName, namespace string, kind CephCSIKind, uuid string, e *CephCSIEntry) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "remove ceph-csi journal of "+uuid, fsName, namespace, func(ioctx *rados.IOContext) (struct{}, error) {
		if e.Request != "" {
			if err := ioctx.RmOmapKeys(kind.directory, []string{kind.objectPrefix + e.Request}); err != nil && !isNotFound(err) {
				return struct{}{}, err
			}
		}
		if err := ioctx.Delete(kind.objectPrefix + uuid); err != nil && !isNotFound(err) {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

// CephCSIShallowVolumes lists the handles that ceph-csi's reftracker says
// hold a reference to a snapshot, besides the snapshot itself: its shallow
// volumes, some of which may have been deleted since by this driver (which
// does not write ceph-csi's reftracker; callers check the journal).
func (a *Admin) CephCSIShallowVolumes(ctx context.Context, fsName, namespace, snapshotHandle string) ([]string, error) {
	vals, err := inMetadataPool(ctx, a, "omap_read", "read ceph-csi reftracker of "+snapshotHandle, fsName, namespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(cephCSIRefTrackerPrefix+snapshotHandle, "", "", 256)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range vals {
		if k != snapshotHandle {
			out = append(out, k)
		}
	}
	return out, nil
}

// RemoveCephCSIRefTracker removes ceph-csi's reftracker of a snapshot that
// is gone; a missing one is not an error.
func (a *Admin) RemoveCephCSIRefTracker(ctx context.Context, fsName, namespace, snapshotHandle string) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "remove ceph-csi reftracker of "+snapshotHandle, fsName, namespace, func(ioctx *rados.IOContext) (struct{}, error) {
		if err := ioctx.Delete(cephCSIRefTrackerPrefix + snapshotHandle); err != nil && !isNotFound(err) {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

func isNotFound(err error) bool {
	return errors.Is(classify(err, ""), contract.ErrNotFound)
}
