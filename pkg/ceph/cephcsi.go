package ceph

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
)

// ceph-csi keeps, for each CephFS volume it provisioned, a journal in the
// filesystem's metadata pool (RADOS namespace "csi" unless configured
// otherwise): the object csi.volume.<uuid> maps the uuid of the volume handle
// to the subvolume name (key csi.imagename) and the request name (key
// csi.volname), and the object csi.volumes.default maps request names back
// (key csi.volume.<request name>).
const (
	cephCSIDirectory  = "csi.volumes.default"
	cephCSIVolumePref = "csi.volume."
	cephCSIImageKey   = "csi.imagename"
	cephCSIRequestKey = "csi.volname"
	DefaultCephCSIRNS = "csi"
)

// CephCSIVolume is what ceph-csi's journal says of one of its volumes.
type CephCSIVolume struct {
	Subvolume string
	Request   string
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
		return "", fmt.Errorf("%w: no filesystem with ID %d", errs.ErrNotFound, fscid)
	}
	return name, nil
}

// CephCSIVolume reads ceph-csi's journal entry for uuid; errs.ErrNotFound
// when there is none (the volume was deleted).
func (a *Admin) CephCSIVolume(ctx context.Context, fs, namespace, uuid string) (*CephCSIVolume, error) {
	vals, err := inMetadataPool(ctx, a, "omap_read", "read ceph-csi journal of "+uuid, fs, namespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(cephCSIVolumePref+uuid, "", "", 16)
	})
	if err != nil {
		return nil, err
	}
	v := &CephCSIVolume{Subvolume: string(vals[cephCSIImageKey]), Request: string(vals[cephCSIRequestKey])}
	if v.Subvolume == "" {
		return nil, fmt.Errorf("ceph-csi journal of %s: %w", uuid, errs.ErrNotFound)
	}
	return v, nil
}

// RemoveCephCSIVolume removes ceph-csi's journal entries for a volume whose
// subvolume is gone, as ceph-csi would have.
func (a *Admin) RemoveCephCSIVolume(ctx context.Context, fs, namespace, uuid string, v *CephCSIVolume) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "remove ceph-csi journal of "+uuid, fs, namespace, func(ioctx *rados.IOContext) (struct{}, error) {
		if v.Request != "" {
			if err := ioctx.RmOmapKeys(cephCSIDirectory, []string{cephCSIVolumePref + v.Request}); err != nil && !isNotFound(err) {
				return struct{}{}, err
			}
		}
		if err := ioctx.Delete(cephCSIVolumePref + uuid); err != nil && !isNotFound(err) {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

func isNotFound(err error) bool {
	return errors.Is(classify(err, ""), errs.ErrNotFound)
}
