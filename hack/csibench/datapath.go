package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// chunkSize is the size of each write and read of the data path.
const chunkSize = 4 << 20

const (
	rowWritePublished = "write: published target"
	rowWriteDirect    = "write: direct ceph-fuse mount"
	rowReadPublished  = "read: published target"
	rowReadDirect     = "read: direct ceph-fuse mount"
)

// dataPath writes a file sequentially through a published volume, and
// another through a ceph-fuse mount of the same subvolume made by hand, then
// reads both back. Writes are timed up to the end of fsync, so the data is
// on the OSDs. Before the reads both mounts are made afresh (NodeUnpublish,
// NodeUnstage, NodeStage, NodePublish; umount, ceph-fuse): a new ceph-fuse
// has nothing in its object cache and the kernel none of the new mount's
// pages, so the reads come from the OSDs. That needs neither drop_caches,
// which would empty the page cache of the whole machine, nor O_DIRECT, which
// would time ceph-fuse's synchronous path rather than the one applications
// use.
func (b *Bench) dataPath(ctx context.Context) error {
	if b.opts.DataMiB == 0 {
		return nil
	}
	size := int64(b.opts.DataMiB) << 20
	vol, err := b.drv.CreateVolume(ctx, "", 1, b.name("data", 0), b.opts.Capacity, nil)
	if err != nil {
		return err
	}
	staging, target := filepath.Join(b.staging, "data"), filepath.Join(b.target, "data")
	staged, err := b.drv.Stage(ctx, "", vol, staging)
	if err != nil {
		return err
	}
	published, err := b.drv.Publish(ctx, "", vol, staging, target)
	if err != nil {
		return err
	}
	direct, path := filepath.Join(b.raw, "data-direct"), ""
	var fused Step
	if b.floor != nil {
		if path, err = b.subvolumePath(ctx, vol.Volume); err != nil {
			return err
		}
		if err := makeDir(direct); err != nil {
			return err
		}
		if fused, err = b.floor.FuseMount(ctx, "", path, direct); err != nil {
			return err
		}
	}
	chunk := make([]byte, chunkSize)
	_, _ = rand.NewChaCha8([32]byte{}).Read(chunk) // filler that no layer can compress
	b.prog.Phase(fmt.Sprintf("data path: writing %d MiB", b.opts.DataMiB), 0)
	if err := b.transfer(rowWritePublished, rowWriteDirect, func() (time.Duration, error) {
		return writeFile(ctx, filepath.Join(target, "csibench-data"), size, chunk)
	}); err != nil {
		return err
	}
	if path != "" {
		if err := b.transfer(rowWriteDirect, "", func() (time.Duration, error) {
			return writeFile(ctx, filepath.Join(direct, "csibench-direct"), size, chunk)
		}); err != nil {
			return err
		}
	}

	b.prog.Phase("data path: mounting afresh", 0)
	if err := b.drv.Unpublish(ctx, "", vol, target, published); err != nil {
		return err
	}
	if err := b.drv.Unstage(ctx, "", vol, staging, staged); err != nil {
		return err
	}
	if staged, err = b.drv.Stage(ctx, "", vol, staging); err != nil {
		return err
	}
	if published, err = b.drv.Publish(ctx, "", vol, staging, target); err != nil {
		return err
	}
	if path != "" {
		if err := b.floor.Unmount("", direct, fused); err != nil {
			return err
		}
		if fused, err = b.floor.FuseMount(ctx, "", path, direct); err != nil {
			return err
		}
	}

	b.prog.Phase(fmt.Sprintf("data path: reading %d MiB", b.opts.DataMiB), 0)
	buf := make([]byte, chunkSize)
	if err := b.transfer(rowReadPublished, rowReadDirect, func() (time.Duration, error) {
		return readFile(ctx, filepath.Join(target, "csibench-data"), size, buf)
	}); err != nil {
		return err
	}
	if path != "" {
		if err := b.transfer(rowReadDirect, "", func() (time.Duration, error) {
			return readFile(ctx, filepath.Join(direct, "csibench-direct"), size, buf)
		}); err != nil {
			return err
		}
	}
	if pid, err := fusePID(staging); err == nil {
		if m, err := processMemory(pid); err == nil {
			b.report.Memory = append(b.report.Memory, MemRow{Name: "ceph-fuse of the data path's volume after the reads", Bytes: m.RSS})
		}
	}

	if path != "" {
		if err := b.floor.Unmount("", direct, fused); err != nil {
			return err
		}
		if err := removeDir(direct); err != nil {
			return err
		}
	}
	if err := b.drv.Unpublish(ctx, "", vol, target, published); err != nil {
		return err
	}
	if err := b.drv.Unstage(ctx, "", vol, staging, staged); err != nil {
		return err
	}
	return b.drv.DeleteVolume(ctx, "", 1, vol)
}

// subvolumePath is where a volume lives in its filesystem: the volume
// context's subvolumePath (this driver's and ceph-csi's), else the mgr's
// answer for its subvolumeName.
func (b *Bench) subvolumePath(ctx context.Context, v *csi.Volume) (string, error) {
	vc := v.GetVolumeContext()
	if p := vc["subvolumePath"]; p != "" {
		return p, nil
	}
	name := vc["subvolumeName"]
	if name == "" {
		return "", errors.New("data path: the volume context names neither subvolumePath nor subvolumeName: cannot mount the same subvolume by hand (--cluster-config empty runs without the floor)")
	}
	group := vc["subvolumeGroup"]
	if group == "" {
		group = b.floor.group
	}
	var path string
	err := b.floor.do(ctx, "", 0, func(ctx context.Context) (err error) {
		path, err = b.floor.admin.SubvolumePath(ctx, b.floor.fs, group, name)
		return err
	})
	return path, err
}

func (b *Bench) transfer(row, base string, fn func() (time.Duration, error)) error {
	d, err := fn()
	if err != nil {
		return err
	}
	b.report.Data = append(b.report.Data, DataRow{Name: row, Bytes: int64(b.opts.DataMiB) << 20, Elapsed: d, Base: base})
	return nil
}

// writeFile writes size bytes to a new file, chunk after chunk, and fsyncs
// it; the time includes the fsync.
func writeFile(ctx context.Context, path string, size int64, chunk []byte) (time.Duration, error) {
	start := time.Now()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for left := size; left > 0; left -= int64(len(chunk)) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if _, err := f.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			return 0, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", path, err)
	}
	return time.Since(start), nil
}

// readFile reads a file to its end and checks it has size bytes.
func readFile(ctx context.Context, path string, size int64, buf []byte) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := f.Read(buf)
		total += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if total != size {
		return 0, fmt.Errorf("read %s: %d bytes, %d written", path, total, size)
	}
	return time.Since(start), nil
}
