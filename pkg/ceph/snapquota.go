package ceph

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"syscall"

	"github.com/ceph/go-ceph/cephfs"
)

// SnapshotQuota returns the quota a subvolume had when snapshot name was
// taken; 0 when it had none. A CephFS snapshot keeps the directory's
// extended attributes as they were, so the snapshot's copy of the
// subvolume's data directory still carries ceph.quota.max_bytes of that
// moment (the mgr reads the same attribute to give a clone its quota).
// Where that directory is depends on the subvolume's layout:
//
//	v2 (Octopus and later): <base>/.snap/<snap>/<uuid>, the data directory
//	                         being <base>/<uuid>, beside <base>/.meta
//	v1:                      <base>/.snap/<snap>
//
// with <base> = /volumes/<group>/<subvolume>. The uuid in the snapshot is
// the one of the data directory when the snapshot was taken, so it is read
// from the snapshot itself.
//
// Reading it needs a CephFS mount (libcephfs, on this connection), which the
// MDS allows only to a user with mds capabilities: Rook's provisioner user
// has none and gets contract.ErrPermission.
func (a *Admin) SnapshotQuota(ctx context.Context, fsName, group, subvolume, name string) (int64, error) {
	base := path.Join("/volumes", group, subvolume)
	what := fmt.Sprintf("read the quota of snapshot %s of subvolume %s/%s/%s", name, fsName, group, subvolume)
	return bounded(ctx, a.call("snapshot_quota"), what, func() (int64, error) {
		m, err := cephfs.CreateFromRados(a.conn)
		if err != nil {
			return 0, err
		}
		defer m.Release()
		if err := m.SelectFilesystem(fsName); err != nil {
			return 0, err
		}
		if err := m.MountWithRoot(base); err != nil {
			return 0, err
		}
		defer m.Unmount()
		dir, err := snapshotDataDir(m, name)
		if err != nil {
			return 0, err
		}
		v, err := m.GetXattr(dir, "ceph.quota.max_bytes")
		if Errno(err) == syscall.ENODATA {
			return 0, nil // no quota
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", dir, err)
		}
		q, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: quota %q: %w", dir, v, err)
		}
		return q, nil
	})
}

// snapshotDataDir finds, below a mount of the subvolume's base, the
// snapshot's copy of the data directory: the one directory beside .meta
// (layout v2), else the snapshot itself (v1, which has no .meta).
func snapshotDataDir(m *cephfs.MountInfo, name string) (string, error) {
	snap := "/.snap/" + name
	d, err := m.OpenDir(snap)
	if err != nil {
		return "", fmt.Errorf("%s: %w", snap, err)
	}
	defer d.Close()
	var dirs []string
	meta := false
	for {
		e, err := d.ReadDir()
		if err != nil {
			return "", fmt.Errorf("%s: %w", snap, err)
		}
		if e == nil {
			break
		}
		switch {
		case e.Name() == ".meta":
			meta = true
		case e.Name() == "." || e.Name() == "..":
		case e.DType() == cephfs.DTypeDir:
			dirs = append(dirs, e.Name())
		}
	}
	if !meta {
		return snap, nil
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("%s: want one data directory beside .meta, found %q", snap, dirs)
	}
	return snap + "/" + dirs[0], nil
}
