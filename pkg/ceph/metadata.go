package ceph

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ceph/go-ceph/cephfs/admin"
	"k8s.io/klog/v2"
)

// ErrMetadataUnsupported: the cluster's mgr has no "fs subvolume metadata"
// commands (they came with Quincy and were backported to Pacific; 16.2.15
// has both the subvolume and the snapshot ones).
var ErrMetadataUnsupported = errors.New("this Ceph cluster does not support subvolume metadata")

// SetSubvolumeMetadata records each key=value of md on a subvolume ("fs
// subvolume metadata set", one mgr command per key, in key order; setting
// a key again replaces its value).
func (a *Admin) SetSubvolumeMetadata(ctx context.Context, fsName, group, name string, md map[string]string) error {
	return a.setMetadata(ctx, md, "subvolume_metadata_set", fmt.Sprintf("subvolume %s/%s/%s", fsName, group, name), func(k, v string) error {
		return a.fsa.SetMetadata(fsName, group, name, k, v)
	})
}

// SetSnapshotMetadata records each key=value of md on a subvolume snapshot
// ("fs subvolume snapshot metadata set").
func (a *Admin) SetSnapshotMetadata(ctx context.Context, fsName, group, subvolume, snapshot string, md map[string]string) error {
	return a.setMetadata(ctx, md, "snapshot_metadata_set", fmt.Sprintf("snapshot %s of subvolume %s/%s/%s", snapshot, fsName, group, subvolume), func(k, v string) error {
		return a.fsa.SetSnapshotMetadata(fsName, group, subvolume, snapshot, k, v)
	})
}

// setMetadata sets md's keys one by one. A cluster found without metadata
// commands is remembered, with one warning, and not asked again until the
// driver restarts.
func (a *Admin) setMetadata(ctx context.Context, md map[string]string, op, what string, set func(k, v string) error) error {
	a.cache.mu.Lock()
	unsupported := a.cache.noMetadata
	a.cache.mu.Unlock()
	if unsupported {
		return ErrMetadataUnsupported
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		_, err := bounded(ctx, a.call(op), fmt.Sprintf("set metadata %s on %s", k, what), func() (struct{}, error) {
			err := set(k, md[k])
			var ni admin.NotImplementedError
			if errors.As(err, &ni) {
				// Not an EINVAL of the caller's: the command is missing.
				return struct{}{}, fmt.Errorf("%w (%s)", ErrMetadataUnsupported, ni.Status())
			}
			return struct{}{}, err
		})
		if errors.Is(err, ErrMetadataUnsupported) {
			a.cache.mu.Lock()
			first := !a.cache.noMetadata
			a.cache.noMetadata = true
			a.cache.mu.Unlock()
			if first {
				klog.Warningf("Cluster %q: volumes and snapshots are made without metadata (logged once): %v", a.cache.id, err)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
