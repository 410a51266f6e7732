package ceph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/cephfs/admin"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// CreateSnapshot snapshots a subvolume; an existing snapshot of that name is
// not an error.
func (a *Admin) CreateSnapshot(ctx context.Context, fsName, group, subvolume, name string) error {
	_, err := bounded(ctx, a.call("snapshot_create"), fmt.Sprintf("create snapshot %s of subvolume %s/%s/%s", name, fsName, group, subvolume), func() (struct{}, error) {
		return struct{}{}, a.fsa.CreateSubVolumeSnapshot(fsName, group, subvolume, name)
	})
	if errors.Is(err, contract.ErrAlreadyExists) {
		return nil
	}
	return err
}

// SnapshotCreated returns when a snapshot was taken (contract.ErrNotFound when
// it does not exist).
func (a *Admin) SnapshotCreated(ctx context.Context, fsName, group, subvolume, name string) (time.Time, error) {
	info, err := bounded(ctx, a.call("snapshot_info"), fmt.Sprintf("snapshot info %s of subvolume %s/%s/%s", name, fsName, group, subvolume), func() (*admin.SubVolumeSnapshotInfo, error) {
		return a.fsa.SubVolumeSnapshotInfo(fsName, group, subvolume, name)
	})
	if err != nil {
		return time.Time{}, err
	}
	return info.CreatedAt.Time, nil
}

// RemoveSnapshot deletes a snapshot; a missing one is not an error. A
// snapshot with clones in progress gives contract.ErrFailedPrecondition.
func (a *Admin) RemoveSnapshot(ctx context.Context, fsName, group, subvolume, name string) error {
	_, err := bounded(ctx, a.call("snapshot_rm"), fmt.Sprintf("remove snapshot %s of subvolume %s/%s/%s", name, fsName, group, subvolume), func() (struct{}, error) {
		return struct{}{}, a.fsa.RemoveSubVolumeSnapshot(fsName, group, subvolume, name)
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil
	}
	return err
}

// CloneSpec is a clone of a snapshot into a new subvolume.
type CloneSpec struct {
	FSName                     string
	Group, Subvolume, Snapshot string // the source
	TargetGroup, Target        string
	Pool                       string // empty: the source's pool
}

// Clone starts an asynchronous clone (the mgr copies the data in the
// background; CloneStatus follows it).
func (a *Admin) Clone(ctx context.Context, c CloneSpec) error {
	// go-ceph v0.37.0 sends the source group as target_group_name; the
	// command is built here so that TargetGroup is honoured.
	cmd := map[string]string{
		"prefix":            "fs subvolume snapshot clone",
		"vol_name":          c.FSName,
		"group_name":        c.Group,
		"sub_name":          c.Subvolume,
		"snap_name":         c.Snapshot,
		"target_sub_name":   c.Target,
		"target_group_name": c.TargetGroup,
		"format":            "json",
	}
	if c.Pool != "" {
		cmd["pool_layout"] = c.Pool
	}
	buf, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	_, err = bounded(ctx, a.call("clone"), fmt.Sprintf("clone snapshot %s of %s/%s/%s to %s/%s", c.Snapshot, c.FSName, c.Group, c.Subvolume, c.TargetGroup, c.Target), func() ([]byte, error) {
		return a.mgrCommand(buf)
	})
	return err
}

// mgrCommand sends one mgr command; a failure carries the mgr's status text.
func (a *Admin) mgrCommand(buf []byte) ([]byte, error) {
	out, status, err := a.mgr.MgrCommand([][]byte{buf})
	if err != nil && status != "" {
		err = fmt.Errorf("%w: %s", err, status)
	}
	return out, err
}

// CloneState is what the mgr reports of a clone.
type CloneState struct {
	State   string // pending, in-progress, complete, failed, canceled
	Failure string
}

// CloneStatus reports a clone's state; contract.ErrNotFound when there is no
// subvolume of that name. The command is sent and read here: every release
// (16.2 to 20.2) reports a failed or canceled clone's reason inside "status"
// as {"errno", "error_msg"}, where go-ceph v0.37.0 looks for it beside
// "status" as "errstr", so its GetFailure is always nil.
func (a *Admin) CloneStatus(ctx context.Context, fsName, group, name string) (*CloneState, error) {
	buf, err := json.Marshal(map[string]string{
		"prefix": "fs clone status", "vol_name": fsName, "group_name": group, "clone_name": name, "format": "json",
	})
	if err != nil {
		return nil, err
	}
	out, err := bounded(ctx, a.call("clone_status"), fmt.Sprintf("clone status %s/%s/%s", fsName, group, name), func() ([]byte, error) {
		return a.mgrCommand(buf)
	})
	if err != nil {
		return nil, err
	}
	return parseCloneStatus(out)
}

func parseCloneStatus(out []byte) (*CloneState, error) {
	var r struct {
		Status struct {
			State   string `json:"state"`
			Failure *struct {
				Errno    string `json:"errno"`
				ErrorMsg string `json:"error_msg"`
			} `json:"failure"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Status.State == "" {
		return nil, fmt.Errorf("unexpected clone status %q: %v", out, err)
	}
	cs := &CloneState{State: r.Status.State}
	if f := r.Status.Failure; f != nil {
		cs.Failure = f.Errno + ": " + f.ErrorMsg
	}
	return cs, nil
}
