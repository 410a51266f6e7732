package controller

import (
	"context"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// What the controller asks of a Ceph cluster, one interface per role, so
// that a function (and a test fake) deals with the role it needs only.
// *ceph.Admin implements all of them.

// Subvolumes creates, describes, resizes and removes subvolumes.
type Subvolumes interface {
	DataPools(ctx context.Context, fsName string) ([]string, error)
	EnsureGroup(ctx context.Context, fsName, group string) error
	CreateSubvolume(ctx context.Context, s ceph.SubvolumeSpec) error
	SubvolumeInfo(ctx context.Context, fsName, group, name string) (*ceph.Subvolume, error)
	SubvolumePath(ctx context.Context, fsName, group, name string) (string, error)
	ResizeSubvolume(ctx context.Context, fsName, group, name string, size int64) error
	RemoveSubvolume(ctx context.Context, fsName, group, name string) error
	ForceRemoveSubvolume(ctx context.Context, fsName, group, name string) error
}

// Claims marks a subvolume name as taken before the subvolume is made, and
// frees it once the subvolume is removed (see createOrFind).
type Claims interface {
	ClaimSubvolume(ctx context.Context, fsName, group, name string, value []byte) (bool, error)
	DropSubvolumeClaim(ctx context.Context, fsName, group, name string) error
	ListClaims(ctx context.Context, fsName string) ([]ceph.Claim, error)
	SubvolumeClaimed(ctx context.Context, fsName, group, name string) (bool, error)
}

// Usage reads the pools' statistics (capacity and volume health; see
// capacity.go).
type Usage interface {
	PoolUsages(ctx context.Context) (map[string]ceph.PoolUsage, error)
}

// Snapshots takes and removes subvolume snapshots and clones them into new
// subvolumes.
type Snapshots interface {
	CreateSnapshot(ctx context.Context, fsName, group, subvolume, name string) error
	SnapshotCreated(ctx context.Context, fsName, group, subvolume, name string) (time.Time, error)
	SnapshotQuota(ctx context.Context, fsName, group, subvolume, name string) (int64, error)
	RemoveSnapshot(ctx context.Context, fsName, group, subvolume, name string) error
	Clone(ctx context.Context, c ceph.CloneSpec) error
	CloneStatus(ctx context.Context, fsName, group, name string) (*ceph.CloneState, error)
}

// SnapshotRecords keeps the driver's snapshot records, one store per
// filesystem (see snapshot.go).
type SnapshotRecords interface {
	Filesystems(ctx context.Context) ([]string, error)
	PutRecord(ctx context.Context, fsName, key string, value []byte) error
	GetRecord(ctx context.Context, fsName, key string) ([]byte, error)
	ListRecords(ctx context.Context, fsName string) (map[string][]byte, error)
	DeleteRecord(ctx context.Context, fsName, key string) error
}

// References keeps the references shallow volumes hold on their snapshots,
// one store per filesystem (see shallow.go).
type References interface {
	PutReference(ctx context.Context, fsName, volume string, value []byte) error
	GetReference(ctx context.Context, fsName, volume string) ([]byte, error)
	ListReferences(ctx context.Context, fsName string) (map[string][]byte, error)
	DeleteReference(ctx context.Context, fsName, volume string) error
}

// CephCSIJournal reads and cleans ceph-csi's journal, for the volumes and
// snapshots ceph-csi made, and reads which shallow volumes it counted on a
// snapshot.
type CephCSIJournal interface {
	FilesystemByID(ctx context.Context, fscid int64) (string, error)
	FilesystemID(ctx context.Context, fsName string) (int64, error)
	CephCSIVolumeUUIDs(ctx context.Context, fsName, namespace string) ([]string, error)
	CephCSIEntry(ctx context.Context, fsName, namespace string, kind ceph.CephCSIKind, uuid string) (*ceph.CephCSIEntry, error)
	RemoveCephCSIEntry(ctx context.Context, fsName, namespace string, kind ceph.CephCSIKind, uuid string, e *ceph.CephCSIEntry) error
	CephCSIShallowVolumes(ctx context.Context, fsName, namespace, snapshotHandle string) ([]string, error)
	RemoveCephCSIRefTracker(ctx context.Context, fsName, namespace, snapshotHandle string) error
}

// Metadata labels subvolumes and snapshots with key-value pairs (the names
// of the Kubernetes objects behind them; see metadata.go).
type Metadata interface {
	SetSubvolumeMetadata(ctx context.Context, fsName, group, name string, md map[string]string) error
	SetSnapshotMetadata(ctx context.Context, fsName, group, subvolume, snapshot string, md map[string]string) error
}

// Inventory lists what a filesystem holds, for the orphan report
// (orphans.go); no RPC lists subvolumes or snapshots.
type Inventory interface {
	ListSubvolumes(ctx context.Context, fsName, group string) ([]string, error)
	ListSnapshots(ctx context.Context, fsName, group, subvolume string) ([]string, error)
	SnapshotInfo(ctx context.Context, fsName, group, subvolume, name string) (*ceph.SnapshotState, error)
	CephCSIDirectory(ctx context.Context, fsName, namespace string, kind ceph.CephCSIKind) (map[string]string, error)
}

// Session is one RPC's connection to a cluster as one CephX user: every
// role, released when the RPC is done.
type Session interface {
	Subvolumes
	Claims
	Snapshots
	SnapshotRecords
	References
	CephCSIJournal
	Metadata
	Usage
	Inventory
	Release()
}

// Connector opens a Session on a cluster with the given credentials. Tests
// give a fake for failures a real cluster cannot be made to produce.
type Connector func(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) (Session, error)
