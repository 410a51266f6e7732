package controller

import (
	"context"
	"errors"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
)

// Subvolume and snapshot metadata. With --extra-create-metadata,
// csi-provisioner adds the PVC's name and namespace and the PV's name to
// CreateVolume's parameters, and csi-snapshotter the VolumeSnapshot's name
// and namespace and the VolumeSnapshotContent's name to CreateSnapshot's.
// They are recorded on the subvolume or snapshot ("fs subvolume [snapshot]
// metadata set") under the same keys, with the cluster name under ceph-csi's
// key, so that an operator's tooling written for ceph-csi's --setmetadata
// finds a subvolume's PVC from the Ceph side.
//
// Recording is best effort: a failure is logged and the RPC succeeds. The
// subvolume or snapshot is complete and usable without its labels, and its
// name already derives from the request; failing the RPC would turn a
// missing label into a PVC that never binds, or leave a subvolume behind
// for a CO that gives up.

// metaClusterName is ceph-csi's key for its --clustername.
const metaClusterName = "csi.ceph.com/cluster/name"

var (
	volumeMetaKeys   = []string{sidecarPrefix + "pvc/name", sidecarPrefix + "pvc/namespace", sidecarPrefix + "pv/name"}
	snapshotMetaKeys = []string{sidecarPrefix + "volumesnapshot/name", sidecarPrefix + "volumesnapshot/namespace", sidecarPrefix + "volumesnapshotcontent/name"}
)

// metadataFor picks what to record from a request's parameters: the
// sidecar's keys that are present, and the cluster name when set. Nil when
// recording is off or there is nothing to record.
func (s *Server) metadataFor(params map[string]string, keys []string) map[string]string {
	if !s.opts.SetMetadata {
		return nil
	}
	md := map[string]string{}
	for _, k := range keys {
		if v := params[k]; v != "" {
			md[k] = v
		}
	}
	if s.opts.ClusterName != "" {
		md[metaClusterName] = s.opts.ClusterName
	}
	if len(md) == 0 {
		return nil
	}
	return md
}

// recordMetadata runs set (a metadata call for md) and logs its failure.
func recordMetadata(ctx context.Context, md map[string]string, what string, set func(map[string]string) error) {
	if md == nil {
		return
	}
	log := klog.FromContext(ctx)
	switch err := set(md); {
	case err == nil:
		log.V(4).Info("Recorded metadata", "on", what, "metadata", md)
	case errors.Is(err, ceph.ErrMetadataUnsupported):
		log.V(4).Info("Metadata not recorded: the cluster does not support it", "on", what)
	default:
		log.Error(err, "Metadata not recorded; the object itself is complete", "on", what, "metadata", md)
	}
}
