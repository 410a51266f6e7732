package ceph

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rados"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Snapshot records are kept in an omap object in the filesystem's metadata
// pool, under the snapshot name: the mgr cannot list snapshots by name
// across subvolumes, and CSI asks exactly that (the same snapshot name for
// another source must be refused; ListSnapshots lists them all).
//
// References of shallow volumes to their snapshots live beside them, in
// the object shallow-volumes: one key per shallow volume, so that creating
// or deleting one is a single atomic omap write (no half state).
const (
	recordNamespace = "cephfs-csi"
	recordObject    = "snapshots"
	referenceObject = "shallow-volumes"
)

// inMetadataPool runs fn on filesystem fsName's metadata pool, in a RADOS
// namespace, as one bounded call (the pool is opened and closed inside it),
// retried once with the newest osdmap when librados timed it out.
func inMetadataPool[T any](ctx context.Context, a *Admin, op, what, fsName, namespace string, fn func(*rados.IOContext) (T, error)) (T, error) {
	var zero T
	info, err := a.filesystem(ctx, fsName)
	if err != nil {
		return zero, err
	}
	return retryOnStaleMap(ctx, func() (T, error) {
		return bounded(ctx, a.call(op), what, func() (T, error) {
			ioctx, err := a.conn.OpenIOContext(info.MetadataPool)
			if err != nil {
				return zero, err
			}
			defer ioctx.Destroy()
			ioctx.SetNamespace(namespace)
			return fn(ioctx)
		})
	}, a.refreshOSDMap)
}

// PutRecord stores value under key in filesystem fsName's record object.
func (a *Admin) PutRecord(ctx context.Context, fsName, key string, value []byte) error {
	return a.putOmap(ctx, fsName, recordObject, key, value)
}

// GetRecord reads the record under key; contract.ErrNotFound when absent.
func (a *Admin) GetRecord(ctx context.Context, fsName, key string) ([]byte, error) {
	return a.getOmap(ctx, fsName, recordObject, key)
}

// ListRecords returns every record of filesystem fsName.
func (a *Admin) ListRecords(ctx context.Context, fsName string) (map[string][]byte, error) {
	return a.listOmap(ctx, fsName, recordObject, "")
}

// DeleteRecord removes the record under key; a missing one is not an error.
func (a *Admin) DeleteRecord(ctx context.Context, fsName, key string) error {
	return a.deleteOmap(ctx, fsName, recordObject, key)
}

// PutReference stores a shallow volume's reference to its snapshot.
func (a *Admin) PutReference(ctx context.Context, fsName, volume string, value []byte) error {
	return a.putOmap(ctx, fsName, referenceObject, volume, value)
}

// GetReference reads a shallow volume's reference; contract.ErrNotFound
// when there is none.
func (a *Admin) GetReference(ctx context.Context, fsName, volume string) ([]byte, error) {
	return a.getOmap(ctx, fsName, referenceObject, volume)
}

// ListReferences returns the references of every shallow volume of
// filesystem fsName.
func (a *Admin) ListReferences(ctx context.Context, fsName string) (map[string][]byte, error) {
	return a.listOmap(ctx, fsName, referenceObject, "")
}

// DeleteReference removes a shallow volume's reference; a missing one is
// not an error.
func (a *Admin) DeleteReference(ctx context.Context, fsName, volume string) error {
	return a.deleteOmap(ctx, fsName, referenceObject, volume)
}

func (a *Admin) putOmap(ctx context.Context, fsName, object, key string, value []byte) error {
	_, err := inMetadataPool(ctx, a, "omap_write", "write "+object+" record "+key, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.SetOmap(object, map[string][]byte{key: value})
	})
	return err
}

func (a *Admin) getOmap(ctx context.Context, fsName, object, key string) ([]byte, error) {
	all, err := a.listOmap(ctx, fsName, object, key)
	if err != nil {
		return nil, err
	}
	v, ok := all[key]
	if !ok {
		return nil, fmt.Errorf("%s record %s: %w", object, key, contract.ErrNotFound)
	}
	return v, nil
}

func (a *Admin) listOmap(ctx context.Context, fsName, object, prefix string) (map[string][]byte, error) {
	out, err := inMetadataPool(ctx, a, "omap_read", "read "+object+" records", fsName, recordNamespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(object, "", prefix, 256)
	})
	if errors.Is(err, contract.ErrNotFound) { // no record object yet
		return map[string][]byte{}, nil
	}
	return out, err
}

func (a *Admin) deleteOmap(ctx context.Context, fsName, object, key string) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "delete "+object+" record "+key, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.RmOmapKeys(object, []string{key})
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}
