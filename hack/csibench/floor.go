package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

// Floor does what the driver does for each call with nothing around it:
// the mgr commands straight through go-ceph (pkg/ceph's thin wrappers, on one
// pooled connection), ceph-fuse run by hand, and bind mounts and unmounts as
// single system calls.
type Floor struct {
	admin   *ceph.Admin
	pool    *ceph.Pool
	cluster *config.Cluster
	fs      string
	group   string
	creds   contract.Credentials // the node's, for ceph-fuse
	keyDir  string
	undo    *Undo
	rec     *Recorder
	timeout time.Duration
}

// clonePoll is how often the floor asks whether a clone is complete.
const clonePoll = 10 * time.Millisecond

func newFloor(ctx context.Context, o *Options, keyDir string, undo *Undo, rec *Recorder) (*Floor, error) {
	cfg, err := config.Load(o.ClusterConfig)
	if err != nil {
		return nil, err
	}
	cluster, err := cfg.Cluster(o.ClusterID)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", o.ClusterID, err)
	}
	if o.FSName == "" {
		return nil, errors.New("the floor needs a filesystem: the fsName parameter or --fs")
	}
	admin, err := contract.CredentialsFromSecrets(o.Secrets.For("CreateVolumeSecret"), true)
	if err != nil {
		return nil, fmt.Errorf("CreateVolumeSecret: %w", err)
	}
	node, err := contract.CredentialsFromSecrets(o.Secrets.For("NodeStageVolumeSecret"), false)
	if err != nil {
		return nil, fmt.Errorf("NodeStageVolumeSecret: %w", err)
	}
	group := o.Group
	if group == "" {
		group = cluster.SubvolumeGroup()
	}
	pool := ceph.NewPool(10*time.Second, time.Minute)
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	a, err := pool.Connect(cctx, cluster, admin)
	if err == nil {
		err = a.EnsureGroup(cctx, o.FSName, group)
		if err != nil {
			a.Release()
		}
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to cluster %q: %w", o.ClusterID, err)
	}
	return &Floor{admin: a, pool: pool, cluster: cluster, fs: o.FSName, group: group, creds: node,
		keyDir: keyDir, undo: undo, rec: rec, timeout: o.Timeout}, nil
}

// Close drops the connection.
func (f *Floor) Close() {
	f.admin.Release()
	f.pool.Close()
}

// busyPause is the pause before a Ceph call that found every one of the
// connection's slots taken is made again: pkg/ceph frees a call's slot just
// after handing its answer back, so a caller that keeps MaxPendingCalls
// calls going can find them all taken for that long.
const busyPause = 2 * time.Millisecond

// do runs a Ceph call within one deadline, again while pkg/ceph answers
// ErrUnavailable, and records its latency and retries under row (if any).
func (f *Floor) do(ctx context.Context, row string, conc int, fn func(context.Context) error) error {
	return f.rec.retrying(ctx, f.timeout, row, conc, busyPause, func(err error) bool {
		return errors.Is(err, contract.ErrUnavailable)
	}, fn)
}

// Subvolume is a subvolume the floor created.
type Subvolume struct {
	Name, Path string
	step       Step
}

// Create creates a subvolume of size bytes and gets its path: what
// CreateVolume must do at the least.
func (f *Floor) Create(ctx context.Context, row string, conc int, name string, size int64) (*Subvolume, error) {
	step := f.undo.Add("subvolume "+name, f.forceRemove(name))
	sv := &Subvolume{Name: name, step: step}
	err := f.do(ctx, row, conc, func(ctx context.Context) error {
		if err := f.admin.CreateSubvolume(ctx, ceph.SubvolumeSpec{FSName: f.fs, Group: f.group, Name: name, Size: size}); err != nil {
			return err
		}
		var err error
		sv.Path, err = f.admin.SubvolumePath(ctx, f.fs, f.group, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("floor: create subvolume %s: %w", name, err)
	}
	return sv, nil
}

// Remove removes a subvolume.
func (f *Floor) Remove(ctx context.Context, row string, conc int, sv *Subvolume) error {
	err := f.do(ctx, row, conc, func(ctx context.Context) error {
		return f.admin.RemoveSubvolume(ctx, f.fs, f.group, sv.Name)
	})
	if err != nil {
		return fmt.Errorf("floor: remove subvolume %s: %w", sv.Name, err)
	}
	sv.step.Done()
	return nil
}

// Resize sets a subvolume's quota.
func (f *Floor) Resize(ctx context.Context, row string, sv *Subvolume, size int64) error {
	err := f.do(ctx, row, 1, func(ctx context.Context) error {
		return f.admin.ResizeSubvolume(ctx, f.fs, f.group, sv.Name, size)
	})
	if err != nil {
		return fmt.Errorf("floor: resize subvolume %s: %w", sv.Name, err)
	}
	return nil
}

// FloorSnapshot is a snapshot the floor created.
type FloorSnapshot struct {
	Subvolume, Name string
	step            Step
}

// Snapshot snapshots a subvolume.
func (f *Floor) Snapshot(ctx context.Context, row string, sv *Subvolume, name string) (*FloorSnapshot, error) {
	step := f.undo.Add("snapshot "+name+" of subvolume "+sv.Name, func(ctx context.Context) error {
		return f.do(ctx, "", 0, func(ctx context.Context) error {
			return f.admin.RemoveSnapshot(ctx, f.fs, f.group, sv.Name, name)
		})
	})
	err := f.do(ctx, row, 1, func(ctx context.Context) error {
		return f.admin.CreateSnapshot(ctx, f.fs, f.group, sv.Name, name)
	})
	if err != nil {
		return nil, fmt.Errorf("floor: snapshot %s of %s: %w", name, sv.Name, err)
	}
	return &FloorSnapshot{Subvolume: sv.Name, Name: name, step: step}, nil
}

// RemoveSnapshot removes a snapshot.
func (f *Floor) RemoveSnapshot(ctx context.Context, row string, s *FloorSnapshot) error {
	err := f.do(ctx, row, 1, func(ctx context.Context) error {
		return f.admin.RemoveSnapshot(ctx, f.fs, f.group, s.Subvolume, s.Name)
	})
	if err != nil {
		return fmt.Errorf("floor: remove snapshot %s of %s: %w", s.Name, s.Subvolume, err)
	}
	s.step.Done()
	return nil
}

// Clone clones a snapshot into a new subvolume and waits, asking every
// clonePoll, until the clone is complete.
func (f *Floor) Clone(ctx context.Context, row string, s *FloorSnapshot, name string) (*Subvolume, error) {
	step := f.undo.Add("clone "+name, f.forceRemove(name))
	sv := &Subvolume{Name: name, step: step}
	err := f.do(ctx, row, 1, func(ctx context.Context) error {
		err := f.admin.Clone(ctx, ceph.CloneSpec{FSName: f.fs, Group: f.group, Subvolume: s.Subvolume, Snapshot: s.Name, TargetGroup: f.group, Target: name})
		if err != nil {
			return err
		}
		for {
			st, err := f.admin.CloneStatus(ctx, f.fs, f.group, name)
			switch {
			case err != nil:
				return err
			case st.State == "complete":
				return nil
			case st.State != "pending" && st.State != "in-progress":
				return fmt.Errorf("clone %s: %s", st.State, st.Failure)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(clonePoll):
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("floor: clone %s from %s@%s: %w", name, s.Subvolume, s.Name, err)
	}
	return sv, nil
}

// FuseMount mounts a path of the filesystem at target with ceph-fuse, as the
// driver's fuse mounter runs it (a keyring file in keyDir, removed once the
// mount is up). The returned step is done by Unmount.
func (f *Floor) FuseMount(ctx context.Context, row, path, target string) (Step, error) {
	step := f.undo.Add("ceph-fuse mount at "+target, func(context.Context) error { return unmountIfMounted(target) })
	m := &mounter.Fuse{Run: mounter.ExecRunner, KeyDir: f.keyDir}
	req := mounter.Request{Monitors: f.cluster.MonitorAddrs(), FSName: f.fs, Path: path, Creds: f.creds}
	err := f.do(ctx, row, 1, func(ctx context.Context) error { return m.Mount(ctx, req, target) })
	if err != nil {
		return step, fmt.Errorf("floor: %w", err)
	}
	return step, nil
}

// Unmount unmounts target with umount2(2), again while it answers EBUSY: a
// program that walks every mount (a kubelet's cAdvisor stats them all) holds
// it for an instant. Retries are counted.
func (f *Floor) Unmount(row, target string, step Step) error {
	var err error
	for range busyUnmountTries {
		if err = f.time(row, 1, func() error { return unix.Unmount(target, 0) }); !errors.Is(err, unix.EBUSY) {
			break
		}
		if row != "" {
			f.rec.Retried(row, 1)
		}
		time.Sleep(busyPause)
	}
	if err != nil {
		return fmt.Errorf("floor: umount %s: %w", target, err)
	}
	step.Done()
	return nil
}

// busyUnmountTries bounds the tries of an unmount that answers EBUSY.
const busyUnmountTries = 500

// Bind bind-mounts source on target with mount(2). The returned step is
// done by Unmount.
func (f *Floor) Bind(row, source, target string) (Step, error) {
	step := f.undo.Add("bind mount at "+target, func(context.Context) error { return unmountIfMounted(target) })
	if err := f.time(row, 1, func() error { return unix.Mount(source, target, "", unix.MS_BIND, "") }); err != nil {
		return step, fmt.Errorf("floor: bind %s on %s: %w", source, target, err)
	}
	return step, nil
}

// Statfs is what NodeGetVolumeStats must do at the least.
func (f *Floor) Statfs(row, path string) error {
	return f.time(row, 1, func() error {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return fmt.Errorf("floor: statfs %s: %w", path, err)
		}
		return nil
	})
}

// forceRemove is the cleanup of a subvolume (a clone in any state too).
func (f *Floor) forceRemove(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		return f.do(ctx, "", 0, func(ctx context.Context) error {
			return f.admin.ForceRemoveSubvolume(ctx, f.fs, f.group, name)
		})
	}
}

func (f *Floor) time(row string, conc int, fn func() error) error {
	if row == "" {
		return fn()
	}
	return f.rec.Time(row, conc, fn)
}

// makeDir makes a directory for a mount.
func makeDir(path string) error {
	return os.MkdirAll(path, 0o750)
}
