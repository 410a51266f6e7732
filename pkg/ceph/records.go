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
const (
	recordNamespace = "cephfs-csi"
	recordObject    = "snapshots"
)

// inMetadataPool runs fn on filesystem fsName's metadata pool, in a RADOS
// namespace, as one bounded call (the pool is opened and closed inside it).
func inMetadataPool[T any](ctx context.Context, a *Admin, op, what, fsName, namespace string, fn func(*rados.IOContext) (T, error)) (T, error) {
	var zero T
	info, err := a.filesystem(ctx, fsName)
	if err != nil {
		return zero, err
	}
	return bounded(ctx, a.call(op), what, func() (T, error) {
		ioctx, err := a.conn.OpenIOContext(info.MetadataPool)
		if err != nil {
			return zero, err
		}
		defer ioctx.Destroy()
		ioctx.SetNamespace(namespace)
		return fn(ioctx)
	})
}

// PutRecord stores value under key in filesystem fsName's record object.
func (a *Admin) PutRecord(ctx context.Context, fsName, key string, value []byte) error {
	_, err := inMetadataPool(ctx, a, "omap_write", "write snapshot record "+key, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.SetOmap(recordObject, map[string][]byte{key: value})
	})
	return err
}

// GetRecord reads the record under key; contract.ErrNotFound when absent.
func (a *Admin) GetRecord(ctx context.Context, fsName, key string) ([]byte, error) {
	all, err := a.listRecords(ctx, fsName, key)
	if err != nil {
		return nil, err
	}
	v, ok := all[key]
	if !ok {
		return nil, fmt.Errorf("snapshot record %s: %w", key, contract.ErrNotFound)
	}
	return v, nil
}

// ListRecords returns every record of filesystem fsName.
func (a *Admin) ListRecords(ctx context.Context, fsName string) (map[string][]byte, error) {
	return a.listRecords(ctx, fsName, "")
}

func (a *Admin) listRecords(ctx context.Context, fsName, prefix string) (map[string][]byte, error) {
	out, err := inMetadataPool(ctx, a, "omap_read", "read snapshot records", fsName, recordNamespace, func(ioctx *rados.IOContext) (map[string][]byte, error) {
		return ioctx.GetAllOmapValues(recordObject, "", prefix, 256)
	})
	if errors.Is(err, contract.ErrNotFound) { // no record object yet
		return map[string][]byte{}, nil
	}
	return out, err
}

// DeleteRecord removes the record under key; a missing one is not an error.
func (a *Admin) DeleteRecord(ctx context.Context, fsName, key string) error {
	_, err := inMetadataPool(ctx, a, "omap_rm", "delete snapshot record "+key, fsName, recordNamespace, func(ioctx *rados.IOContext) (struct{}, error) {
		return struct{}{}, ioctx.RmOmapKeys(recordObject, []string{key})
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}
