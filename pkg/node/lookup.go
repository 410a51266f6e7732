package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

// The node asks the cluster only for what a volume context may leave out,
// and only when it must mount: through functions the driver injects, so
// that the node links no Ceph library.

// PathLookup asks the mgr for a subvolume's path. The node needs it only for
// volumes whose context lacks the path: those ceph-csi provisioned before it
// recorded the path there.
type PathLookup func(ctx context.Context, cluster *config.Cluster, creds contract.Credentials, fsName, group, subvolume string) (string, error)

// FilesystemLookup lists a cluster's CephFS filesystems. The node needs it
// only for static volumes whose context names no filesystem (ceph-csi
// accepts them since v3.11).
type FilesystemLookup func(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) ([]string, error)

// SnapshotLookup reads, in ceph-csi's journal, the name of the snapshot
// behind a shallow volume ceph-csi made (whose context does not name it).
type SnapshotLookup func(ctx context.Context, cluster *config.Cluster, creds contract.Credentials, fsName, volumeID string) (string, error)

// soleFilesystems remembers, per cluster ID, the name of a cluster's only
// filesystem, for the process's life: a static volume without fsName meant
// that one, and still does if another is added later. Clusters with several
// are asked again each time, so removing the extra one is enough.
type soleFilesystems struct {
	mu     sync.Mutex
	byName map[string]string
}

func (c *soleFilesystems) get(clusterID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.byName[clusterID]
	return name, ok
}

func (c *soleFilesystems) put(clusterID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]string{}
	}
	c.byName[clusterID] = name
}

// complete fills in what mountRequest left to the cluster: the filesystem
// first (a legacy path lookup needs it), then the path.
func (s *Server) complete(ctx context.Context, vc map[string]string, mreq *mounter.Request) error {
	cluster, err := s.cfg.Cluster(vc[contract.CtxClusterID])
	if err != nil {
		return contract.Invalid("volume context: %v", err)
	}
	if mreq.FSName == "" {
		if mreq.FSName, err = s.soleFilesystem(ctx, cluster, mreq.Creds); err != nil {
			return err
		}
	}
	if mreq.Path == "" {
		if mreq.Path, err = s.lookupPath(ctx, cluster, vc, mreq); err != nil {
			return err
		}
	}
	return nil
}

// soleFilesystem is the filesystem a static volume without fsName mounts:
// the cluster's only one. With several, which one the PV meant is not
// known (Ceph's clients would take the cluster's default, which may not be
// the one whose path the PV gives), so the volume is refused until its
// context names one: the request lacks a field this cluster needs, hence
// InvalidArgument, and the fix is in the PV.
func (s *Server) soleFilesystem(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) (string, error) {
	if name, ok := s.sole.get(cluster.ClusterID); ok {
		return name, nil
	}
	names, err := s.filesystems(ctx, cluster, creds)
	if err != nil {
		return "", fmt.Errorf("list the filesystems of cluster %q for a volume context without %q: %w", cluster.ClusterID, contract.CtxFSName, err)
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("%w: cluster %q has no CephFS filesystem", contract.ErrFailedPrecondition, cluster.ClusterID)
	case 1:
		s.sole.put(cluster.ClusterID, names[0])
		return names[0], nil
	}
	names = slices.Sorted(slices.Values(names))
	return "", contract.Invalid("volume context: %q is required: cluster %q has %d filesystems (%s), and a static volume "+
		"without it is mounted only from a cluster's only one; add %s: <name> to the PV's volumeAttributes",
		contract.CtxFSName, cluster.ClusterID, len(names), strings.Join(names, ", "), contract.CtxFSName)
}

// lookupPath asks the mgr, with the node's credentials, for the path of the
// subvolume a legacy volume context names: the only mgr call a node makes.
func (s *Server) lookupPath(ctx context.Context, cluster *config.Cluster, vc map[string]string, mreq *mounter.Request) (string, error) {
	group := vc[contract.CtxSubvolumeGroup]
	if group == "" {
		group = cluster.SubvolumeGroup()
	}
	name := vc[contract.CtxSubvolumeName]
	path, err := s.subvolumePath(ctx, cluster, mreq.Creds, mreq.FSName, group, name)
	if err != nil {
		return "", fmt.Errorf("path of subvolume %s/%s: %w", group, name, err)
	}
	// The mgr's answer goes to a mount command too.
	return contract.CleanPath(fmt.Sprintf("the path of subvolume %s/%s", group, name), path)
}
