package contract

// Volume context keys: everything the node needs to mount a volume without
// asking the mgr. CreateVolume writes them; NodeStageVolume reads them, also
// from volumes ceph-csi provisioned, so the names follow ceph-csi's where it
// has one.
const (
	CtxClusterID          = "clusterID"
	CtxFSName             = "fsName"
	CtxSubvolumeGroup     = "subvolumeGroup"
	CtxSubvolumeName      = "subvolumeName"
	CtxSubvolumePath      = "subvolumePath"
	CtxMounter            = "mounter"
	CtxKernelMountOptions = "kernelMountOptions"
	CtxFuseMountOptions   = "fuseMountOptions"
	// CtxRootPath is a static volume's path (ceph-csi's name for it).
	CtxRootPath = "rootPath"

	// A shallow volume (a snapshot mounted read-only) is mounted at
	// CtxSubvolumePath, read-only, and published from the snapshot's
	// directory CtxBackingSnapshotRoot (".snap/<snapshot>/<uuid>", relative
	// to it). CtxBackingSnapshotID names the snapshot; with ceph-csi's
	// CtxBackingSnapshot ("true"), it marks a shallow volume whose directory
	// the node must find (ceph-csi's).
	CtxBackingSnapshot     = "backingSnapshot"
	CtxBackingSnapshotID   = "backingSnapshotID"
	CtxBackingSnapshotRoot = "backingSnapshotRoot"
)
