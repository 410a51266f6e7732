package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// setUp connects to the driver (and, with a cluster config, to the cluster
// for the floor) and makes the run's directories.
func setUp(ctx context.Context, o *Options) (*Bench, error) {
	b := &Bench{
		opts: o,
		run:  fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff),
		rec:  newRecorder(),
		undo: &Undo{},
		prog: newProgress(os.Stderr, int(os.Stderr.Fd())),
		report: &Report{
			Tool: "csibench", Started: time.Now().UTC(),
			Ops: []OpRow{}, Data: []DataRow{}, Memory: []MemRow{},
			Settings: Settings{Count: o.Count, Concurrency: o.Concurrency, Clones: o.Clones, DataMiB: o.DataMiB, Scale: o.Scale, Staged: o.Staged},
		},
	}
	ok := false
	defer func() {
		if !ok {
			_ = b.cleanUp()
		}
	}()
	if err := b.makeDirs(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(o.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", o.Endpoint, err)
	}
	b.undo.Add("connection to the driver", func(context.Context) error { return conn.Close() })
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("GetPluginInfo on %s: %w", o.Endpoint, err)
	}
	b.report.Driver, b.report.DriverVersion = info.GetName(), info.GetVendorVersion()
	b.drv = &Driver{ctl: csi.NewControllerClient(conn), node: csi.NewNodeClient(conn), opts: o, undo: b.undo, rec: b.rec}
	if o.ClusterConfig != "" {
		if b.floor, err = newFloor(ctx, o, b.raw, b.undo, b.rec); err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		b.undo.Add("connection to the cluster", func(context.Context) error { b.floor.Close(); return nil })
	} else {
		b.report.Notes = append(b.report.Notes, "no --cluster-config: no floor, no direct ceph-fuse mount")
	}
	b.compareWithFloor()
	ok = true
	return b, nil
}

// makeDirs makes the work directory (unless given), and the run's staging,
// target and raw-mount directories, in the work directory or in those given.
// The cleanup removes them once nothing is mounted below them.
func (b *Bench) makeDirs() error {
	o := b.opts
	work := o.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "csibench-")
		if err != nil {
			return err
		}
		work = dir
		b.undo.Add("work directory "+dir, func(context.Context) error { return removeTree(dir) })
	}
	dirs := []struct {
		path  *string
		given string
		name  string
	}{{&b.staging, o.StagingDir, "staging"}, {&b.target, o.TargetDir, "target"}, {&b.raw, "", "raw"}}
	for _, d := range dirs {
		// A directory of the run's own in each, also in those given, so
		// that two runs never share a path.
		*d.path = filepath.Join(work, b.run+"-"+d.name)
		if d.given != "" {
			*d.path = filepath.Join(d.given, o.Prefix+"-"+b.run)
		}
		if err := os.MkdirAll(*d.path, 0o700); err != nil {
			return err
		}
		path := *d.path
		b.undo.Add(d.name+" directory "+path, func(context.Context) error { return removeTree(path) })
	}
	return nil
}

// removeTree removes a directory the run made, unless something is still
// mounted below it: removing files there would remove a volume's data.
func removeTree(dir string) error {
	mounted, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounted) > 0 {
		return fmt.Errorf("not removed: still mounted there: %v", mounted)
	}
	return os.RemoveAll(dir)
}

// measure runs every measurement in turn and stops at the first error.
func (b *Bench) measure(ctx context.Context) error {
	if b.opts.DriverPID != 0 {
		m, err := processMemory(b.opts.DriverPID)
		if err != nil {
			return fmt.Errorf("driver process %d: %w", b.opts.DriverPID, err)
		}
		b.report.Memory = append(b.report.Memory, MemRow{Name: "driver, idle", Bytes: m.RSS},
			MemRow{Name: "driver, idle: anonymous", Bytes: m.Anon})
	}
	steps := []func(context.Context) error{b.createDelete, b.expand, b.snapshots, b.node, b.staged, b.dataPath}
	if b.opts.Scale > 0 {
		steps = append(steps, b.scale)
	}
	var err error
	for _, step := range steps {
		if err = step(ctx); err != nil {
			break
		}
	}
	b.report.Ops = b.rec.Rows()
	if b.opts.DriverPID != 0 {
		if m, merr := processMemory(b.opts.DriverPID); merr == nil {
			b.report.Memory = append(b.report.Memory,
				MemRow{Name: "driver, after the run", Bytes: m.RSS},
				MemRow{Name: "driver, after the run: anonymous", Bytes: m.Anon},
				MemRow{Name: "driver, after the run: file-backed (code)", Bytes: m.File},
				MemRow{Name: "driver, peak (VmHWM)", Bytes: m.Peak})
		} else if err == nil {
			err = fmt.Errorf("driver process %d: %w", b.opts.DriverPID, merr)
		}
	}
	if err != nil {
		b.report.Error = err.Error()
	}
	return err
}

// cleanUp undoes whatever the run left, newest first.
func (b *Bench) cleanUp() error {
	err := b.undo.Run(b.prog.Step)
	if err != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w (interrupted)", err)
	}
	return err
}
