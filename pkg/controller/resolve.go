package controller

import (
	"context"
	"fmt"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// volumeRef is a volume ID resolved to its subvolume. IDs of ours carry the
// names; for a volume ceph-csi provisioned ("0001-..." handle), the
// subvolume name comes from ceph-csi's journal, whose entry is kept here so
// that DeleteVolume can clean it as ceph-csi would.
type volumeRef struct {
	volumeid.Volume
	cephCSI *cephCSIRef
}

// shallow tells a shallow volume ceph-csi made: its journal entry names a
// subvolume that was never created.
func (r *volumeRef) shallow() bool {
	return r.cephCSI != nil && r.cephCSI.entry.BackingSnapshot != ""
}

type cephCSIRef struct {
	uuid, namespace string
	entry           *ceph.CephCSIEntry
}

// clusterOf returns the cluster ID in a volume or snapshot ID of either
// form; contract.ErrNotFound for anything else (CSI treats a malformed ID as an
// object that does not exist).
func clusterOf(id string) (string, error) {
	if v, err := volumeid.DecodeVolume(id); err == nil {
		return v.ClusterID, nil
	}
	if v, err := volumeid.DecodeSnapshot(id); err == nil {
		return v.ClusterID, nil
	}
	if v, err := volumeid.DecodeShallow(id); err == nil {
		return v.ClusterID, nil
	}
	if h, err := volumeid.DecodeCephCSI(id); err == nil {
		return h.ClusterID, nil
	}
	return "", fmt.Errorf("%q: malformed ID: %w", id, contract.ErrNotFound)
}

// openVolume connects to a volume's cluster with the request's secrets and
// resolves the ID of a volume that has a subvolume (not a shallow one). The
// caller releases the session.
func (s *Server) openVolume(ctx context.Context, id string, secrets map[string]string) (Session, *volumeRef, error) {
	sess, ref, err := s.openAnyVolume(ctx, id, secrets)
	if err == nil && ref.shallow() {
		sess.Release()
		return nil, nil, errShallow(id)
	}
	return sess, ref, err
}

// openAnyVolume is openVolume that also resolves ceph-csi's shallow volumes.
func (s *Server) openAnyVolume(ctx context.Context, id string, secrets map[string]string) (Session, *volumeRef, error) {
	clusterID, err := clusterOf(id)
	if err != nil {
		return nil, nil, err
	}
	sess, cluster, err := s.open(ctx, clusterID, secrets)
	if err != nil {
		return nil, nil, err
	}
	ref, err := resolveVolume(ctx, sess, cluster, id)
	if err != nil {
		sess.Release()
		return nil, nil, err
	}
	return sess, ref, nil
}

// resolveVolume resolves a volume ID of cluster; a ceph-csi handle is looked up in
// ceph-csi's journal.
func resolveVolume(ctx context.Context, journal CephCSIJournal, cluster *config.Cluster, id string) (*volumeRef, error) {
	if v, err := volumeid.DecodeVolume(id); err == nil {
		return &volumeRef{Volume: v}, nil
	}
	if _, err := volumeid.DecodeShallow(id); err == nil {
		return nil, errShallow(id)
	}
	fsName, c, err := resolveCephCSI(ctx, journal, cluster, id, ceph.CephCSIVolumes)
	if err != nil {
		return nil, err
	}

	return &volumeRef{
		Volume:  volumeid.Volume{ClusterID: cluster.ClusterID, FSName: fsName, Group: cluster.SubvolumeGroup(), Subvolume: c.entry.Name},
		cephCSI: c,
	}, nil
}

// errShallow refuses what a shallow volume cannot do. InvalidArgument, not
// FailedPrecondition: no change of state would ever let a read-only
// snapshot be expanded, snapshotted or cloned from (and csi-resizer takes
// InvalidArgument as final rather than retrying).
func errShallow(id string) error {
	return contract.Invalid("volume %q is a shallow volume (a snapshot mounted read-only, StorageClass parameter %s): "+
		"it cannot be expanded, snapshotted or cloned; restore the snapshot with %s=false for a volume that can",
		id, paramBackingSnapshot, paramBackingSnapshot)
}

// resolveCephCSI finds a ceph-csi handle's filesystem and journal entry.
func resolveCephCSI(ctx context.Context, journal CephCSIJournal, cluster *config.Cluster, id string, kind ceph.CephCSIKind) (string, *cephCSIRef, error) {
	h, err := volumeid.DecodeCephCSI(id)
	if err != nil || h.ClusterID != cluster.ClusterID {
		return "", nil, fmt.Errorf("%q: malformed ID: %w", id, contract.ErrNotFound)
	}
	fsName, err := journal.FilesystemByID(ctx, h.LocationID)
	if err != nil {
		return "", nil, fmt.Errorf("ceph-csi handle %q: %w", id, err)
	}
	ns := cephCSINamespace(cluster)
	entry, err := journal.CephCSIEntry(ctx, fsName, ns, kind, h.UUID)
	if err != nil {
		return "", nil, fmt.Errorf("ceph-csi handle %q: %w", id, err)
	}
	return fsName, &cephCSIRef{uuid: h.UUID, namespace: ns, entry: entry}, nil
}

// cephCSINamespace is the RADOS namespace of ceph-csi's journal in a
// cluster.
func cephCSINamespace(cluster *config.Cluster) string {
	if ns := cluster.CephFS.RadosNamespace; ns != "" {
		return ns
	}
	return ceph.DefaultCephCSIRNS
}

// resolveSnapshot resolves a snapshot ID of ours or of ceph-csi in cluster.
// For ceph-csi's, the journal entry comes back too.
func resolveSnapshot(ctx context.Context, journal CephCSIJournal, cluster *config.Cluster, id string) (volumeid.Snapshot, *cephCSIRef, error) {
	if snap, err := volumeid.DecodeSnapshot(id); err == nil {
		return snap, nil, nil
	}
	fsName, c, err := resolveCephCSI(ctx, journal, cluster, id, ceph.CephCSISnapshots)
	if err != nil {
		return volumeid.Snapshot{}, nil, err
	}
	return volumeid.Snapshot{
		Volume: volumeid.Volume{ClusterID: cluster.ClusterID, FSName: fsName, Group: cluster.SubvolumeGroup(), Subvolume: c.entry.Source},
		Name:   c.entry.Name,
	}, c, nil
}
