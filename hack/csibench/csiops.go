package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Driver is the CSI driver under test, spoken to as a CO would: every call
// with its secrets and a deadline, and everything it creates registered with
// Undo before the call that creates it.
type Driver struct {
	ctl  csi.ControllerClient
	node csi.NodeClient
	opts *Options
	undo *Undo
	rec  *Recorder
}

var mountRWX = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

// Volume is a volume the run created.
type Volume struct {
	*csi.Volume
	step Step
}

// Snapshot is a snapshot the run created.
type Snapshot struct {
	*csi.Snapshot
	step Step
}

// retryPause is the pause before a call answered with a code that asks for
// a retry (Aborted: a clone still copying, or a call in flight on the same
// volume; Unavailable, ResourceExhausted) is sent again, as a CO would.
const retryPause = 50 * time.Millisecond

// do runs one call, sent again after retryPause while it answers with a
// code that asks for a retry, within one deadline. With a row, it records
// the latency until the call succeeded and the retries.
func (d *Driver) do(ctx context.Context, row string, conc int, fn func(context.Context) error) error {
	return d.rec.retrying(ctx, d.opts.Timeout, row, conc, retryPause, func(err error) bool {
		switch status.Code(err) {
		case codes.Aborted, codes.Unavailable, codes.ResourceExhausted:
			return true
		}
		return false
	}, fn)
}

func (d *Driver) createRequest(name string, size int64, src *csi.VolumeContentSource) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:                name,
		CapacityRange:       &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities:  []*csi.VolumeCapability{mountRWX},
		Parameters:          d.opts.Params,
		Secrets:             d.opts.Secrets.For("CreateVolumeSecret"),
		VolumeContentSource: src,
	}
}

// CreateVolume creates a volume and records the call's latency as row at
// concurrency conc (no row: not recorded); for a clone, until the clone is
// complete.
func (d *Driver) CreateVolume(ctx context.Context, row string, conc int, name string, size int64, src *csi.VolumeContentSource) (*Volume, error) {
	req := d.createRequest(name, size, src)
	var resp *csi.CreateVolumeResponse
	create := func(ctx context.Context) (err error) {
		resp, err = d.ctl.CreateVolume(ctx, req)
		return err
	}
	pending := d.undo.Add("volume "+name, func(ctx context.Context) error {
		// Cut short, the call may still have created it: the same
		// request again answers with its ID.
		if err := d.do(ctx, "", 0, create); err != nil {
			return fmt.Errorf("looking the volume up again: %w", err)
		}
		return d.deleteVolume(ctx, "", 0, resp.GetVolume().GetVolumeId())
	})
	if err := d.do(ctx, row, conc, create); err != nil {
		return nil, fmt.Errorf("CreateVolume %s: %w", name, err)
	}
	v := &Volume{Volume: resp.GetVolume()}
	id := v.GetVolumeId()
	v.step = d.undo.Add("volume "+id, func(ctx context.Context) error { return d.deleteVolume(ctx, "", 0, id) })
	pending.Done()
	return v, nil
}

// DeleteVolume deletes a volume the run created.
func (d *Driver) DeleteVolume(ctx context.Context, row string, conc int, v *Volume) error {
	if err := d.deleteVolume(ctx, row, conc, v.GetVolumeId()); err != nil {
		return fmt.Errorf("DeleteVolume %s: %w", v.GetVolumeId(), err)
	}
	v.step.Done()
	return nil
}

func (d *Driver) deleteVolume(ctx context.Context, row string, conc int, id string) error {
	req := &csi.DeleteVolumeRequest{VolumeId: id, Secrets: d.opts.Secrets.For("DeleteVolumeSecret")}
	return d.do(ctx, row, conc, func(ctx context.Context) error {
		_, err := d.ctl.DeleteVolume(ctx, req)
		return err
	})
}

// Expand grows a volume to size.
func (d *Driver) Expand(ctx context.Context, row string, v *Volume, size int64) error {
	req := &csi.ControllerExpandVolumeRequest{
		VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapability: mountRWX, Secrets: d.opts.Secrets.For("ControllerExpandVolumeSecret"),
	}
	err := d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.ctl.ControllerExpandVolume(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("ControllerExpandVolume %s: %w", v.GetVolumeId(), err)
	}
	return nil
}

// CreateSnapshot snapshots a volume.
func (d *Driver) CreateSnapshot(ctx context.Context, row string, name string, v *Volume) (*Snapshot, error) {
	req := &csi.CreateSnapshotRequest{
		SourceVolumeId: v.GetVolumeId(), Name: name,
		Secrets: d.opts.Secrets.For("CreateSnapshotSecret"), Parameters: d.opts.SnapParams,
	}
	var resp *csi.CreateSnapshotResponse
	create := func(ctx context.Context) (err error) {
		resp, err = d.ctl.CreateSnapshot(ctx, req)
		return err
	}
	pending := d.undo.Add("snapshot "+name, func(ctx context.Context) error {
		if err := d.do(ctx, "", 0, create); err != nil {
			return fmt.Errorf("looking the snapshot up again: %w", err)
		}
		return d.deleteSnapshot(ctx, "", resp.GetSnapshot().GetSnapshotId())
	})
	if err := d.do(ctx, row, 1, create); err != nil {
		return nil, fmt.Errorf("CreateSnapshot %s: %w", name, err)
	}
	s := &Snapshot{Snapshot: resp.GetSnapshot()}
	id := s.GetSnapshotId()
	s.step = d.undo.Add("snapshot "+id, func(ctx context.Context) error { return d.deleteSnapshot(ctx, "", id) })
	pending.Done()
	return s, nil
}

// DeleteSnapshot deletes a snapshot the run created.
func (d *Driver) DeleteSnapshot(ctx context.Context, row string, s *Snapshot) error {
	if err := d.deleteSnapshot(ctx, row, s.GetSnapshotId()); err != nil {
		return fmt.Errorf("DeleteSnapshot %s: %w", s.GetSnapshotId(), err)
	}
	s.step.Done()
	return nil
}

func (d *Driver) deleteSnapshot(ctx context.Context, row, id string) error {
	req := &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: d.opts.Secrets.For("DeleteSnapshotSecret")}
	return d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.ctl.DeleteSnapshot(ctx, req)
		return err
	})
}

// Stage stages a volume at path, which it creates first as the kubelet does.
// The returned step is done by Unstage.
func (d *Driver) Stage(ctx context.Context, row string, v *Volume, path string) (Step, error) {
	id := v.GetVolumeId()
	step := d.undo.Add("staging of "+id+" at "+path, func(ctx context.Context) error {
		return orUnmount(path, d.unstage(ctx, "", id, path))
	})
	if err := os.MkdirAll(path, 0o750); err != nil {
		return step, err
	}
	req := &csi.NodeStageVolumeRequest{
		VolumeId: id, StagingTargetPath: path, VolumeCapability: mountRWX,
		VolumeContext: v.GetVolumeContext(), Secrets: d.opts.Secrets.For("NodeStageVolumeSecret"),
	}
	err := d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.node.NodeStageVolume(ctx, req)
		return err
	})
	if err != nil {
		return step, fmt.Errorf("NodeStageVolume %s at %s: %w", id, path, err)
	}
	return step, nil
}

// Unstage unstages a volume and removes its staging directory, as the
// kubelet does.
func (d *Driver) Unstage(ctx context.Context, row string, v *Volume, path string, step Step) error {
	if err := d.unstage(ctx, row, v.GetVolumeId(), path); err != nil {
		return fmt.Errorf("NodeUnstageVolume %s at %s: %w", v.GetVolumeId(), path, err)
	}
	step.Done()
	return removeDir(path)
}

func (d *Driver) unstage(ctx context.Context, row, id, path string) error {
	req := &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: path}
	return d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.node.NodeUnstageVolume(ctx, req)
		return err
	})
}

// Publish publishes a staged volume at target (whose parent exists; the
// driver makes target itself). The returned step is done by Unpublish.
func (d *Driver) Publish(ctx context.Context, row string, v *Volume, staging, target string) (Step, error) {
	id := v.GetVolumeId()
	step := d.undo.Add("publication of "+id+" at "+target, func(ctx context.Context) error {
		return orUnmount(target, d.unpublish(ctx, "", id, target))
	})
	req := &csi.NodePublishVolumeRequest{
		VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: mountRWX,
		VolumeContext: v.GetVolumeContext(), Secrets: d.opts.Secrets.For("NodePublishVolumeSecret"),
	}
	err := d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.node.NodePublishVolume(ctx, req)
		return err
	})
	if err != nil {
		return step, fmt.Errorf("NodePublishVolume %s at %s: %w", id, target, err)
	}
	return step, nil
}

// Unpublish unpublishes a volume and removes the target, as the kubelet
// does if the driver did not.
func (d *Driver) Unpublish(ctx context.Context, row string, v *Volume, target string, step Step) error {
	if err := d.unpublish(ctx, row, v.GetVolumeId(), target); err != nil {
		return fmt.Errorf("NodeUnpublishVolume %s at %s: %w", v.GetVolumeId(), target, err)
	}
	step.Done()
	return removeDir(target)
}

func (d *Driver) unpublish(ctx context.Context, row, id, target string) error {
	req := &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}
	return d.do(ctx, row, 1, func(ctx context.Context) error {
		_, err := d.node.NodeUnpublishVolume(ctx, req)
		return err
	})
}

// Stats asks for a published volume's usage; a mount that does not answer
// is an error of the driver's (FailedPrecondition).
func (d *Driver) Stats(ctx context.Context, row string, v *Volume, target string) error {
	req := &csi.NodeGetVolumeStatsRequest{VolumeId: v.GetVolumeId(), VolumePath: target}
	var resp *csi.NodeGetVolumeStatsResponse
	err := d.do(ctx, row, 1, func(ctx context.Context) (err error) {
		resp, err = d.node.NodeGetVolumeStats(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("NodeGetVolumeStats %s at %s: %w", v.GetVolumeId(), target, err)
	}
	if len(resp.GetUsage()) == 0 {
		return fmt.Errorf("NodeGetVolumeStats %s at %s: no usage", v.GetVolumeId(), target)
	}
	return nil
}

// orUnmount is the cleanup's last resort when the driver could not unstage
// or unpublish: the mount must not outlive the run.
func orUnmount(path string, err error) error {
	if err == nil {
		return nil
	}
	if uerr := unmountIfMounted(path); uerr != nil {
		return errors.Join(err, uerr)
	}
	return fmt.Errorf("%w (unmounted by hand)", err)
}

// removeDir removes an empty directory the run made; a missing one is fine.
func removeDir(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
