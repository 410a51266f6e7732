package node

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// A shallow volume is a snapshot mounted read-only. Ceph keeps a
// subvolume's snapshots in its directory's .snap, and ceph-fuse (Pacific)
// cannot mount a path through .snap: the staging mount is the subvolume's
// directory, read-only, and NodePublish bind-mounts the snapshot's directory
// in it (read-only too) onto the target. Everything about staging (remounts,
// the mount holder) is as for any volume.

// isShallow tells a shallow volume from its context: ours carry the
// snapshot's directory, ceph-csi's carry backingSnapshot or
// backingSnapshotID, or (when the StorageClass left backingSnapshot to its
// default) a subvolume path that is not their subvolume's: ceph-csi records
// the snapshot's subvolume's directory there.
func isShallow(volumeID string, vc map[string]string) bool {
	switch {
	case vc[contract.CtxBackingSnapshotRoot] != "", vc[contract.CtxBackingSnapshotID] != "":
		return true
	case strings.EqualFold(vc[contract.CtxBackingSnapshot], "true"):
		return true
	}
	return cephCSIShallow(volumeID, vc)
}

// cephCSIShallow recognises a shallow volume ceph-csi provisioned: a handle
// of ceph-csi's whose subvolumePath (/volumes/<group>/<subvolume>) does not
// name its own subvolumeName, which ceph-csi reserved but never created.
func cephCSIShallow(volumeID string, vc map[string]string) bool {
	if !strings.HasPrefix(volumeID, "0001-") {
		return false
	}
	p, name := vc[contract.CtxSubvolumePath], vc[contract.CtxSubvolumeName]
	if p == "" || name == "" {
		return false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == name {
			return false
		}
	}
	return true
}

// requireReadOnly refuses a writable access mode for a shallow volume.
func requireReadOnly(c *csi.VolumeCapability) error {
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:
		return nil
	}
	return contract.Invalid("access mode %s: a shallow volume (StorageClass parameter %s) is a snapshot mounted read-only; "+
		"use MULTI_NODE_READER_ONLY or SINGLE_NODE_READER_ONLY", c.GetAccessMode().GetMode(), contract.CtxBackingSnapshot)
}

// checkSnapshotRoot validates the snapshot's directory from a volume
// context: a clean relative path .snap/<snapshot>[/<dir>], which cannot
// leave the staging mount.
func checkSnapshotRoot(root string) error {
	elems := strings.Split(root, "/")
	if path.Clean(root) != root || len(elems) < 2 || len(elems) > 3 || elems[0] != ".snap" ||
		strings.ContainsAny(root, "\x00\n") || strings.Contains(root, "..") {
		return contract.Invalid("volume context: %s=%q: want .snap/<snapshot>/<directory>", contract.CtxBackingSnapshotRoot, root)
	}
	return nil
}

// snapshotSource is what NodePublish bind-mounts for a shallow volume: the
// snapshot's directory in the staging mount.
func (s *Server) snapshotSource(ctx context.Context, req *csi.NodePublishVolumeRequest) (string, error) {
	vc := req.GetVolumeContext()
	root := vc[contract.CtxBackingSnapshotRoot]
	var err error
	switch {
	case root != "":
	case vc[contract.CtxBackingSnapshotID] != "":
		root, err = staticSnapshotDir(req.GetStagingTargetPath(), vc[contract.CtxBackingSnapshotID])
	default:
		root, err = s.cephCSISnapshotRoot(ctx, req)
	}
	if err != nil {
		return "", err
	}
	if err := checkSnapshotRoot(root); err != nil {
		return "", err
	}
	src := filepath.Join(req.GetStagingTargetPath(), root)
	st, err := os.Stat(src)
	switch {
	case os.IsNotExist(err):
		return "", fmt.Errorf("%w: the snapshot's directory %s is not in the staging mount: the snapshot was deleted", contract.ErrNotFound, root)
	case err != nil:
		return "", fmt.Errorf("snapshot directory %s: %w", src, err)
	case !st.IsDir():
		return "", contract.Invalid("volume context: %s=%q is not a directory", contract.CtxBackingSnapshotRoot, root)
	}
	return src, nil
}

// cephCSISnapshotRoot finds the snapshot directory of a shallow volume
// ceph-csi made, whose context does not name it: the snapshot's name comes
// from ceph-csi's journal (read at NodeStage with the stage secret and kept
// in memory with the mount; read again with the credentials the mount
// holder gave back after a restart), and the directory is the one entry of
// .snap/<snapshot> that is not Ceph's .meta (the subvolume's uuid).
func (s *Server) cephCSISnapshotRoot(ctx context.Context, req *csi.NodePublishVolumeRequest) (string, error) {
	volumeID, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	held, ok := s.staged.lookup(staging)
	if !ok || held.volumeID != volumeID {
		return "", fmt.Errorf("%w: shallow volume %s: this node plugin did not stage it and holds no credentials to read "+
			"its snapshot in ceph-csi's journal; the kubelet stages it again once no pod on this node uses it", contract.ErrFailedPrecondition, volumeID)
	}
	snapshot := held.snapshot
	if snapshot == "" {
		if s.backingSnap == nil {
			return "", fmt.Errorf("%w: volume %s is a shallow volume of ceph-csi's; this node cannot read ceph-csi's journal", contract.ErrFailedPrecondition, volumeID)
		}
		cluster, err := s.cfg.Cluster(req.GetVolumeContext()[contract.CtxClusterID])
		if err != nil {
			return "", contract.Invalid("volume context: %v", err)
		}
		if snapshot, err = s.backingSnap(ctx, cluster, held.req.Creds, held.req.FSName, volumeID); err != nil {
			return "", fmt.Errorf("snapshot of shallow volume %s: %w", volumeID, err)
		}
		held.snapshot = snapshot
		s.staged.remember(staging, held)
	}
	return snapshotDir(staging, snapshot)
}

// staticSnapshotDir finds a static shallow volume's snapshot (ceph-csi's
// backingSnapshotID on a rootPath): the one entry of <rootPath>/.snap whose
// name holds the ID, as Ceph names a snapshot seen from a descendant of the
// directory it was taken at _<name>_<inode>.
func staticSnapshotDir(staging, id string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(staging, ".snap"))
	if err != nil {
		return "", fmt.Errorf("list the snapshots of the staging mount: %w", err)
	}
	var found []string
	for _, e := range entries {
		if strings.Contains(e.Name(), id) {
			found = append(found, e.Name())
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%w: %s=%q matches %d snapshots %v in .snap, want one", contract.ErrFailedPrecondition, contract.CtxBackingSnapshotID, id, len(found), found)
	}
	return path.Join(".snap", found[0]), nil
}

// snapshotDir returns .snap/<snapshot>/<dir>, the one directory in the
// snapshot of a v2 subvolume's directory.
func snapshotDir(staging, snapshot string) (string, error) {
	if !validSnapshotName(snapshot) {
		return "", fmt.Errorf("%w: snapshot name %q", contract.ErrInvalid, snapshot)
	}
	base := filepath.Join(staging, ".snap", snapshot)
	entries, err := os.ReadDir(base)
	if os.IsNotExist(err) {
		return "", fmt.Errorf("%w: snapshot %s is not in the staging mount: it was deleted", contract.ErrNotFound, snapshot)
	}
	if err != nil {
		return "", fmt.Errorf("read snapshot %s: %w", snapshot, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("%w: snapshot %s holds %d directories %v, want the subvolume's one", contract.ErrFailedPrecondition, snapshot, len(dirs), dirs)
	}
	return path.Join(".snap", snapshot, dirs[0]), nil
}

func validSnapshotName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00\n")
}
