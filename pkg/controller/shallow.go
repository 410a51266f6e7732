package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// Shallow volumes (StorageClass parameter backingSnapshot): a volume restored
// from a snapshot only to be read is the snapshot itself, mounted read-only —
// no subvolume, no copy, ready in the time of a mount.
//
// Ceph keeps the snapshot of a (v2) subvolume whose path is
// /volumes/<group>/<subvolume>/<uuid> in /volumes/<group>/<subvolume>/.snap/<snapshot>/<uuid>,
// also after the subvolume was deleted with its snapshots retained. Pacific
// has no command that gives that path and ceph-fuse cannot mount a path
// through .snap, so the node mounts /volumes/<group>/<subvolume> read-only
// and publishes the snapshot's directory in it.
//
// The volume is a reference: an omap key (the name the request derives to)
// in the filesystem's object shallow-volumes, whose value names the snapshot.
// One key per volume makes creating and deleting one a single atomic write.
// The ID, cfs1:<cluster>:<fs>:<name>, leads to the key. DeleteVolume removes
// the key and nothing else; DeleteSnapshot is refused while a key names the
// snapshot.
type shallowRecord struct {
	Snapshot string `json:"snapshot"` // its CSI ID, ours or ceph-csi's
	Group    string `json:"group"`
	Source   string `json:"source"` // the snapshot's subvolume
	Name     string `json:"name"`   // the Ceph snapshot
	Base     string `json:"base"`   // what the node mounts
	Root     string `json:"root"`   // the snapshot's directory, relative to Base
	Size     int64  `json:"size"`
	Created  int64  `json:"created"` // unix nanoseconds
}

// wantsShallow decides whether a CreateVolume makes a shallow volume: when
// backingSnapshot is "true", or, as ceph-csi does, by default when the source
// is a snapshot and every capability only reads. "false" forces a clone.
func wantsShallow(req *csi.CreateVolumeRequest, p *volumeParams) (bool, error) {
	fromSnapshot := req.GetVolumeContentSource().GetSnapshot() != nil
	readOnly := readOnlyCapabilities(req.GetVolumeCapabilities())
	switch {
	case p.backingSnapshot == nil:
		return fromSnapshot && readOnly, nil
	case !*p.backingSnapshot:
		return false, nil
	case !fromSnapshot:
		return false, contract.Invalid("parameter %s=true: a shallow volume needs a snapshot as its content source", paramBackingSnapshot)
	case !readOnly:
		return false, contract.Invalid("parameter %s=true: a shallow volume is a read-only snapshot; every access mode must be "+
			"MULTI_NODE_READER_ONLY or SINGLE_NODE_READER_ONLY (ReadOnlyMany), or set %s=false for a writable copy",
			paramBackingSnapshot, paramBackingSnapshot)
	}
	return true, nil
}

func readOnlyCapabilities(caps []*csi.VolumeCapability) bool {
	for _, c := range caps {
		switch c.GetAccessMode().GetMode() {
		case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:
		default:
			return false
		}
	}
	return len(caps) > 0
}

// lockShallow claims a shallow volume's name for one operation.
func (s *Server) lockShallow(sh volumeid.Shallow) (func(), error) {
	return s.inFlight.Acquire("shallow:" + sh.ClusterID + "/" + sh.FSName + "/" + sh.Name)
}

// createShallow records a shallow volume of the request's snapshot, or finds
// the one a previous attempt recorded.
func (s *Server) createShallow(ctx context.Context, sess Session, req *csi.CreateVolumeRequest, vol volumeid.Volume, size int64, p *volumeParams) (*csi.CreateVolumeResponse, error) {
	snapID := req.GetVolumeContentSource().GetSnapshot().GetSnapshotId()
	sh := volumeid.Shallow{ClusterID: vol.ClusterID, FSName: vol.FSName, Name: vol.Subvolume}
	id, err := sh.Encode()
	if err != nil {
		return nil, contract.Invalid("volume %q: %v", req.GetName(), err)
	}
	release, err := s.lockShallow(sh)
	if err != nil {
		return nil, err
	}
	defer release()
	rec, err := readReference(ctx, sess, sh)
	switch {
	case err == nil && rec.Snapshot != snapID:
		return nil, fmt.Errorf("%w: volume %q exists as a shallow volume of snapshot %s", contract.ErrAlreadyExists, req.GetName(), rec.Snapshot)
	case err == nil && rec.Size != size:
		return nil, fmt.Errorf("%w: volume %q exists with %d bytes, request is for %d", contract.ErrAlreadyExists, req.GetName(), rec.Size, size)
	case err == nil:
		klog.FromContext(ctx).V(4).Info("Shallow volume exists already", "volume", id)
	case errors.Is(err, contract.ErrNotFound):
		if rec, err = s.recordShallow(ctx, sess, sh, vol, snapID, size); err != nil {
			return nil, err
		}
		klog.FromContext(ctx).V(2).Info("Shallow volume recorded", "volume", id, "snapshot", snapID, "root", path.Join(rec.Base, rec.Root))
	default:
		return nil, err
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      id,
		CapacityBytes: rec.Size,
		VolumeContext: shallowContext(sh, rec, p),
		ContentSource: req.GetVolumeContentSource(),
	}}, nil
}

// recordShallow checks the snapshot, finds its directory and writes the
// reference. The snapshot is checked again once the reference is written:
// a DeleteSnapshot that looked for references just before would otherwise
// remove it under the new volume (in this process, the snapshot's lock
// already orders the two).
func (s *Server) recordShallow(ctx context.Context, sess Session, sh volumeid.Shallow, vol volumeid.Volume, snapID string, size int64) (*shallowRecord, error) {
	cs, err := s.snapshotSource(ctx, sess, vol, snapID)
	if err != nil {
		return nil, err
	}
	if size < cs.size {
		return nil, outOfRange("requested %d bytes, smaller than the snapshot's %d", size, cs.size)
	}
	srcPath := cs.path
	if srcPath == "" {
		sv, err := existing(ctx, sess, cs.snap.Volume)
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot %s: its source volume is gone and the snapshot's record has no path (taken by an "+
				"older version, or by ceph-csi), so its directory is unknown; restore it with %s=false: %v",
				contract.ErrFailedPrecondition, snapID, paramBackingSnapshot, err)
		}
		srcPath = sv.Path
	}
	release, err := s.lockSnapshot(cs.snap)
	if err != nil {
		return nil, err
	}
	defer release()
	rec := &shallowRecord{
		Snapshot: snapID, Group: cs.snap.Group, Source: cs.snap.Subvolume, Name: cs.snap.Name,
		Base: path.Dir(srcPath), Root: path.Join(".snap", cs.snap.Name, path.Base(srcPath)),
		Size: size, Created: time.Now().UnixNano(),
	}
	data, _ := json.Marshal(rec)
	if err := sess.PutReference(ctx, sh.FSName, sh.Name, data); err != nil {
		return nil, err
	}
	if _, err := sess.SnapshotCreated(ctx, cs.snap.FSName, cs.snap.Group, cs.snap.Subvolume, cs.snap.Name); err != nil {
		if rmErr := sess.DeleteReference(ctx, sh.FSName, sh.Name); rmErr != nil {
			return nil, fmt.Errorf("snapshot %s: %w (and its reference stays: %v)", snapID, err, rmErr)
		}
		return nil, fmt.Errorf("snapshot %s: %w", snapID, err)
	}
	return rec, nil
}

func shallowContext(sh volumeid.Shallow, rec *shallowRecord, p *volumeParams) map[string]string {
	ctx := map[string]string{
		contract.CtxClusterID:           sh.ClusterID,
		contract.CtxFSName:              sh.FSName,
		contract.CtxSubvolumePath:       rec.Base,
		contract.CtxBackingSnapshotID:   rec.Snapshot,
		contract.CtxBackingSnapshotRoot: rec.Root,
	}
	for k, v := range map[string]string{contract.CtxMounter: p.mounter, contract.CtxKernelMountOptions: p.kernelOpts, contract.CtxFuseMountOptions: p.fuseOpts} {
		if v != "" {
			ctx[k] = v
		}
	}
	return ctx
}

func readReference(ctx context.Context, refs References, sh volumeid.Shallow) (*shallowRecord, error) {
	data, err := refs.GetReference(ctx, sh.FSName, sh.Name)
	if err != nil {
		return nil, err
	}
	var rec shallowRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("reference of shallow volume %s: %w", sh.Name, err)
	}
	return &rec, nil
}

// deleteShallow removes a shallow volume's reference: the snapshot stays.
func (s *Server) deleteShallow(ctx context.Context, sh volumeid.Shallow, secrets map[string]string) error {
	sess, _, err := s.open(ctx, sh.ClusterID, secrets)
	if err != nil {
		return err
	}
	defer sess.Release()
	release, err := s.lockShallow(sh)
	if err != nil {
		return err
	}
	defer release()
	err = sess.DeleteReference(ctx, sh.FSName, sh.Name)
	if errors.Is(err, contract.ErrNotFound) { // the filesystem itself is gone
		err = nil
	}
	return err
}

// validateShallow confirms reader-only capabilities on an existing shallow
// volume; a writable one is not confirmed, with the reason.
func (s *Server) validateShallow(ctx context.Context, sh volumeid.Shallow, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	sess, _, err := s.open(ctx, sh.ClusterID, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	if _, err := readReference(ctx, sess, sh); err != nil {
		return nil, fmt.Errorf("shallow volume %s: %w", req.GetVolumeId(), err)
	}
	if !readOnlyCapabilities(req.GetVolumeCapabilities()) {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: "a shallow volume is a read-only snapshot: only reader-only access modes are supported"}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// shallowUsers lists the shallow volumes that use a snapshot: ours, from the
// references, and, for a snapshot ceph-csi took, ceph-csi's shallow volumes
// that still have a journal entry (this driver deletes theirs without
// updating ceph-csi's reftracker).
func shallowUsers(ctx context.Context, sess Session, snap volumeid.Snapshot, foreign *cephCSIRef, snapID string) ([]string, error) {
	all, err := sess.ListReferences(ctx, snap.FSName)
	if err != nil {
		return nil, err
	}
	var users []string
	for name, data := range all {
		var rec shallowRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			klog.FromContext(ctx).Info("Skipping an unreadable shallow volume reference", "name", name, "reason", err.Error())
			continue
		}
		if rec.Group == snap.Group && rec.Source == snap.Subvolume && rec.Name == snap.Name {
			id, _ := volumeid.Shallow{ClusterID: snap.ClusterID, FSName: snap.FSName, Name: name}.Encode()
			users = append(users, id)
		}
	}
	if foreign != nil {
		refs, err := sess.CephCSIShallowVolumes(ctx, snap.FSName, foreign.namespace, snapID)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			h, ok := cephCSIVolumeRef(snapID, ref)
			if !ok {
				continue
			}
			_, err := sess.CephCSIEntry(ctx, snap.FSName, foreign.namespace, ceph.CephCSIVolumes, h.UUID)
			switch {
			case err == nil:
				users = append(users, h.Encode())
			case !errors.Is(err, contract.ErrNotFound):
				return nil, err
			}
		}
	}
	sort.Strings(users)
	return users, nil
}

// cephCSIVolumeRef reads a key of ceph-csi's reftracker as the handle of a
// volume in the snapshot's cluster and filesystem: ceph-csi writes the
// volume's subvolume name (csi-vol-<uuid>, its uuid that of the handle);
// a full handle is read as well.
func cephCSIVolumeRef(snapID, ref string) (volumeid.CephCSI, bool) {
	snapHandle, err := volumeid.DecodeCephCSI(snapID)
	if err != nil {
		return volumeid.CephCSI{}, false
	}
	if h, err := volumeid.DecodeCephCSI(ref); err == nil {
		return h, true
	}
	if len(ref) < 36 {
		return volumeid.CephCSI{}, false
	}
	h := snapHandle
	h.UUID = ref[len(ref)-36:]
	if _, err := volumeid.DecodeCephCSI(h.Encode()); err != nil {
		return volumeid.CephCSI{}, false
	}
	return h, true
}
