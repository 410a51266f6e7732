package controller

import (
	"context"
	"fmt"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/errs"
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

type cephCSIRef struct {
	uuid, namespace string
	entry           *ceph.CephCSIVolume
}

// clusterOfVolume returns the cluster ID in a volume ID of either form;
// errs.ErrNotFound for anything else (CSI treats a malformed ID as a volume
// that does not exist).
func clusterOfVolume(id string) (string, error) {
	if v, err := volumeid.DecodeVolume(id); err == nil {
		return v.ClusterID, nil
	}
	if h, err := volumeid.DecodeCephCSI(id); err == nil {
		return h.ClusterID, nil
	}
	return "", fmt.Errorf("volume %q: malformed ID: %w", id, errs.ErrNotFound)
}

// openVolume connects to a volume's cluster with the request's secrets and
// resolves the ID. The caller releases the FS.
func (s *Server) openVolume(ctx context.Context, id string, secrets map[string]string) (FS, *volumeRef, error) {
	clusterID, err := clusterOfVolume(id)
	if err != nil {
		return nil, nil, err
	}
	fs, cluster, err := s.open(ctx, clusterID, secrets)
	if err != nil {
		return nil, nil, err
	}
	ref, err := s.resolveVolume(ctx, fs, cluster, id)
	if err != nil {
		fs.Release()
		return nil, nil, err
	}
	return fs, ref, nil
}

// resolveVolume resolves a volume ID of a cluster fs is connected to.
func (s *Server) resolveVolume(ctx context.Context, fs FS, cluster *config.Cluster, id string) (*volumeRef, error) {
	if v, err := volumeid.DecodeVolume(id); err == nil {
		return &volumeRef{Volume: v}, nil
	}
	h, err := volumeid.DecodeCephCSI(id)
	if err != nil || h.ClusterID != cluster.ClusterID {
		return nil, fmt.Errorf("volume %q: malformed ID: %w", id, errs.ErrNotFound)
	}
	fsName, err := fs.FilesystemByID(ctx, h.LocationID)
	if err != nil {
		return nil, fmt.Errorf("ceph-csi volume %q: %w", id, err)
	}
	ns := cluster.CephFS.RadosNamespace
	if ns == "" {
		ns = ceph.DefaultCephCSIRNS
	}
	entry, err := fs.CephCSIVolume(ctx, fsName, ns, h.UUID)
	if err != nil {
		return nil, fmt.Errorf("ceph-csi volume %q: %w", id, err)
	}
	group := cluster.CephFS.SubvolumeGroup
	if group == "" {
		group = defaultGroup
	}
	return &volumeRef{
		Volume:  volumeid.Volume{ClusterID: cluster.ClusterID, FSName: fsName, Group: group, Subvolume: entry.Subvolume},
		cephCSI: &cephCSIRef{uuid: h.UUID, namespace: ns, entry: entry},
	}, nil
}
