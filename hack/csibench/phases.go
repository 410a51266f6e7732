package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// Row names. A driver's row is compared with the floor's row that does the
// same work at the least (Recorder.Compare).
const (
	floorCreate     = "floor: subvolume create+getpath"
	floorRemove     = "floor: subvolume rm"
	floorResize     = "floor: subvolume resize"
	floorSnap       = "floor: snapshot create"
	floorSnapRemove = "floor: snapshot rm"
	floorClone      = "floor: clone until complete"
	floorFuse       = "floor: ceph-fuse mount"
	floorBind       = "floor: bind mount(2)"
	floorStatfs     = "floor: statfs(2)"
	floorUnbind     = "floor: umount2(2) of the bind"
	floorUnfuse     = "floor: umount2(2) of ceph-fuse"
	rowClone        = "CreateVolume from snapshot"
	rowScale0       = "CreateVolume, no other volume of the run"
)

// Bench is one run.
type Bench struct {
	opts   *Options
	run    string // in every name the run creates
	drv    *Driver
	floor  *Floor // nil: no floor
	rec    *Recorder
	undo   *Undo
	prog   *Progress
	report *Report
	// where the run mounts: staging and target paths, and the floor's own
	staging, target, raw string
}

func (b *Bench) name(kind string, i int) string {
	return fmt.Sprintf("%s-%s-%s-%d", b.opts.Prefix, b.run, kind, i)
}

func (b *Bench) compareWithFloor() {
	pairs := [][2]string{
		{"CreateVolume", floorCreate}, {"DeleteVolume", floorRemove}, {"ControllerExpandVolume", floorResize},
		{"CreateSnapshot", floorSnap}, {"DeleteSnapshot", floorSnapRemove}, {rowClone, floorClone},
		{"NodeStageVolume", floorFuse}, {"NodePublishVolume", floorBind}, {"NodeGetVolumeStats", floorStatfs},
		{"NodeUnpublishVolume", floorUnbind}, {"NodeUnstageVolume", floorUnfuse},
	}
	for _, p := range pairs {
		b.rec.Compare(p[0], p[1])
	}
	if b.opts.Scale > 0 {
		b.rec.Compare(b.scaleRow(), rowScale0)
	}
}

func (b *Bench) scaleRow() string {
	return fmt.Sprintf("CreateVolume, %d other volumes", b.opts.Scale)
}

// createDelete measures CreateVolume and DeleteVolume at each concurrency,
// the floor's create and rm just before each.
func (b *Bench) createDelete(ctx context.Context) error {
	size := b.opts.Capacity
	for _, c := range b.opts.Concurrency {
		n := max(b.opts.Count, c)
		if b.floor != nil {
			svs := make([]*Subvolume, n)
			if err := b.rec.Parallel(ctx, b.prog, floorCreate, n, c, func(ctx context.Context, i int) (err error) {
				svs[i], err = b.floor.Create(ctx, floorCreate, c, b.name(fmt.Sprintf("floor-c%d", c), i), size)
				return err
			}); err != nil {
				return err
			}
			if err := b.rec.Parallel(ctx, b.prog, floorRemove, n, c, func(ctx context.Context, i int) error {
				return b.floor.Remove(ctx, floorRemove, c, svs[i])
			}); err != nil {
				return err
			}
		}
		vols := make([]*Volume, n)
		if err := b.rec.Parallel(ctx, b.prog, "CreateVolume", n, c, func(ctx context.Context, i int) (err error) {
			vols[i], err = b.drv.CreateVolume(ctx, "CreateVolume", c, b.name(fmt.Sprintf("c%d", c), i), size, nil)
			return err
		}); err != nil {
			return err
		}
		if err := b.rec.Parallel(ctx, b.prog, "DeleteVolume", n, c, func(ctx context.Context, i int) error {
			return b.drv.DeleteVolume(ctx, "DeleteVolume", c, vols[i])
		}); err != nil {
			return err
		}
	}
	return nil
}

// expand grows one volume and one floor subvolume by 1 GiB at a time.
func (b *Bench) expand(ctx context.Context) error {
	vol, sv, err := b.pair(ctx, "expand")
	if err != nil {
		return err
	}
	err = b.rec.Sequence(ctx, b.prog, "ControllerExpandVolume", b.opts.Count, func(ctx context.Context, i int) error {
		size := b.opts.Capacity + int64(i+1)<<30
		if sv != nil {
			if err := b.floor.Resize(ctx, floorResize, sv, size); err != nil {
				return err
			}
		}
		return b.drv.Expand(ctx, "ControllerExpandVolume", vol, size)
	})
	if err != nil {
		return err
	}
	return b.unpair(ctx, vol, sv)
}

// pair creates a volume and, with a floor, a subvolume, unmeasured.
func (b *Bench) pair(ctx context.Context, kind string) (*Volume, *Subvolume, error) {
	vol, err := b.drv.CreateVolume(ctx, "", 1, b.name(kind, 0), b.opts.Capacity, nil)
	if err != nil || b.floor == nil {
		return vol, nil, err
	}
	sv, err := b.floor.Create(ctx, "", 1, b.name("floor-"+kind, 0), b.opts.Capacity)
	return vol, sv, err
}

func (b *Bench) unpair(ctx context.Context, vol *Volume, sv *Subvolume) error {
	if sv != nil {
		if err := b.floor.Remove(ctx, "", 1, sv); err != nil {
			return err
		}
	}
	return b.drv.DeleteVolume(ctx, "", 1, vol)
}

// snapshots measures CreateSnapshot, CreateVolume from a snapshot (until the
// clone is complete) and DeleteSnapshot, the floor's before each.
func (b *Bench) snapshots(ctx context.Context) error {
	vol, sv, err := b.pair(ctx, "snap")
	if err != nil {
		return err
	}
	n := b.opts.Count
	snaps, fsnaps := make([]*Snapshot, n), make([]*FloorSnapshot, n)
	err = b.rec.Sequence(ctx, b.prog, "CreateSnapshot", n, func(ctx context.Context, i int) (err error) {
		if sv != nil {
			if fsnaps[i], err = b.floor.Snapshot(ctx, floorSnap, sv, b.name("floor-snap", i)); err != nil {
				return err
			}
		}
		snaps[i], err = b.drv.CreateSnapshot(ctx, "CreateSnapshot", b.name("snap", i), vol)
		return err
	})
	if err != nil {
		return err
	}
	if err := b.clones(ctx, snaps[0], fsnaps[0]); err != nil {
		return err
	}
	err = b.rec.Sequence(ctx, b.prog, "DeleteSnapshot", n, func(ctx context.Context, i int) error {
		if fsnaps[i] != nil {
			if err := b.floor.RemoveSnapshot(ctx, floorSnapRemove, fsnaps[i]); err != nil {
				return err
			}
		}
		return b.drv.DeleteSnapshot(ctx, "DeleteSnapshot", snaps[i])
	})
	if err != nil {
		return err
	}
	return b.unpair(ctx, vol, sv)
}

// clones measures CreateVolume from a snapshot of an empty volume.
func (b *Bench) clones(ctx context.Context, snap *Snapshot, fsnap *FloorSnapshot) error {
	n := b.opts.Clones
	vols, svs := make([]*Volume, n), make([]*Subvolume, n)
	src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshotId()},
	}}
	err := b.rec.Sequence(ctx, b.prog, rowClone, n, func(ctx context.Context, i int) (err error) {
		if fsnap != nil {
			if svs[i], err = b.floor.Clone(ctx, floorClone, fsnap, b.name("floor-clone", i)); err != nil {
				return err
			}
		}
		vols[i], err = b.drv.CreateVolume(ctx, rowClone, 1, b.name("clone", i), b.opts.Capacity, src)
		return err
	})
	if err != nil {
		return err
	}
	for i := range n {
		if err := b.unpair(ctx, vols[i], svs[i]); err != nil {
			return err
		}
	}
	return nil
}

// node measures the node calls on one volume, and the floor's mounts of one
// subvolume, one cycle after the other: stage, publish, stats, unpublish,
// unstage.
func (b *Bench) node(ctx context.Context) error {
	vol, sv, err := b.pair(ctx, "node")
	if err != nil {
		return err
	}
	staging, target := filepath.Join(b.staging, "node"), filepath.Join(b.target, "node")
	fuse, bind := filepath.Join(b.raw, "node-fuse"), filepath.Join(b.raw, "node-bind")
	for _, dir := range []string{b.target, fuse, bind} {
		if err := makeDir(dir); err != nil {
			return err
		}
	}
	err = b.rec.Sequence(ctx, b.prog, "node calls", b.opts.Count, func(ctx context.Context, _ int) error {
		if sv != nil {
			if err := b.floorCycle(ctx, sv, fuse, bind); err != nil {
				return err
			}
		}
		staged, err := b.drv.Stage(ctx, "NodeStageVolume", vol, staging)
		if err != nil {
			return err
		}
		published, err := b.drv.Publish(ctx, "NodePublishVolume", vol, staging, target)
		if err != nil {
			return err
		}
		if err := b.drv.Stats(ctx, "NodeGetVolumeStats", vol, target); err != nil {
			return err
		}
		if err := b.drv.Unpublish(ctx, "NodeUnpublishVolume", vol, target, published); err != nil {
			return err
		}
		return b.drv.Unstage(ctx, "NodeUnstageVolume", vol, staging, staged)
	})
	if err != nil {
		return err
	}
	for _, dir := range []string{fuse, bind} {
		if err := removeDir(dir); err != nil {
			return err
		}
	}
	return b.unpair(ctx, vol, sv)
}

func (b *Bench) floorCycle(ctx context.Context, sv *Subvolume, fuse, bind string) error {
	fused, err := b.floor.FuseMount(ctx, floorFuse, sv.Path, fuse)
	if err != nil {
		return err
	}
	bound, err := b.floor.Bind(floorBind, fuse, bind)
	if err != nil {
		return err
	}
	if err := b.floor.Statfs(floorStatfs, bind); err != nil {
		return err
	}
	if err := b.floor.Unmount(floorUnbind, bind, bound); err != nil {
		return err
	}
	return b.floor.Unmount(floorUnfuse, fuse, fused)
}

// staged stages several volumes at once and reads the resident set of the
// ceph-fuse behind each.
func (b *Bench) staged(ctx context.Context) error {
	n := b.opts.Staged
	vols, paths, steps := make([]*Volume, n), make([]string, n), make([]Step, n)
	var sizes []int64
	err := b.rec.Sequence(ctx, b.prog, "staging volumes at once", n, func(ctx context.Context, i int) (err error) {
		if vols[i], err = b.drv.CreateVolume(ctx, "", 1, b.name("staged", i), b.opts.Capacity, nil); err != nil {
			return err
		}
		paths[i] = filepath.Join(b.staging, fmt.Sprintf("staged-%d", i))
		steps[i], err = b.drv.Stage(ctx, "", vols[i], paths[i])
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range paths {
		pid, err := fusePID(p)
		if err != nil {
			b.report.Notes = append(b.report.Notes, fmt.Sprintf("ceph-fuse's resident set not measured: %v (a kernel mount?)", err))
			break
		}
		m, err := processMemory(pid)
		if err != nil {
			return fmt.Errorf("ceph-fuse %d: %w", pid, err)
		}
		sizes = append(sizes, m.RSS)
	}
	if len(sizes) > 0 {
		var sum int64
		for _, s := range sizes {
			sum += s
		}
		b.report.Memory = append(b.report.Memory,
			MemRow{Name: fmt.Sprintf("ceph-fuse per staged volume, mean of %d", len(sizes)), Bytes: sum / int64(len(sizes))},
			MemRow{Name: fmt.Sprintf("ceph-fuse per staged volume, max of %d", len(sizes)), Bytes: slices.Max(sizes)})
	}
	for i := range n {
		if err := b.drv.Unstage(ctx, "", vols[i], paths[i], steps[i]); err != nil {
			return err
		}
		if err := b.drv.DeleteVolume(ctx, "", 1, vols[i]); err != nil {
			return err
		}
	}
	return nil
}

// scale measures CreateVolume (each volume deleted right after) with none of
// the run's volumes around, then with Scale of them.
func (b *Bench) scale(ctx context.Context) error {
	workers := slices.Max(b.opts.Concurrency)
	measure := func(row, kind string) error {
		return b.rec.Sequence(ctx, b.prog, row, b.opts.Count, func(ctx context.Context, i int) error {
			v, err := b.drv.CreateVolume(ctx, row, 1, b.name(kind, i), b.opts.Capacity, nil)
			if err != nil {
				return err
			}
			return b.drv.DeleteVolume(ctx, "", 1, v)
		})
	}
	if err := measure(rowScale0, "scale0"); err != nil {
		return err
	}
	n := b.opts.Scale
	vols := make([]*Volume, n)
	if err := b.rec.Parallel(ctx, b.prog, "creating volumes for the scale step", n, workers, func(ctx context.Context, i int) (err error) {
		vols[i], err = b.drv.CreateVolume(ctx, "", workers, b.name("fill", i), b.opts.Capacity, nil)
		return err
	}); err != nil {
		return err
	}
	if err := measure(b.scaleRow(), "scale"); err != nil {
		return err
	}
	return b.rec.Parallel(ctx, b.prog, "deleting the scale step's volumes", n, workers, func(ctx context.Context, i int) error {
		return b.drv.DeleteVolume(ctx, "", workers, vols[i])
	})
}
