package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// Snapshots are CephFS subvolume snapshots named after the CSI request name
// (like volumes). Ceph scopes snapshot names to their subvolume, but CSI
// scopes them to the driver, so each snapshot also has a record, keyed by
// its name, in an omap object of the filesystem's metadata pool. The record
// is written before the snapshot is taken: a retry after a crash finds it
// and completes the snapshot, and the same name for another source is
// refused even half-way through.
type snapshotRecord struct {
	ID      string `json:"id"`
	Source  string `json:"source"`
	Created int64  `json:"created"` // unix nanoseconds
	Size    int64  `json:"size"`    // the source's quota when taken
	// Path is the source subvolume's path when taken: a shallow volume
	// needs it, and Ceph forgets it once the source is deleted.
	Path string `json:"path,omitempty"`
}

const (
	paramSnapshotNamePrefix   = "snapshotNamePrefix"
	defaultSnapshotNamePrefix = "csi-snap-"
)

func (r *snapshotRecord) csi() *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     r.ID,
		SourceVolumeId: r.Source,
		SizeBytes:      r.Size,
		CreationTime:   timestamppb.New(time.Unix(0, r.Created)),
		ReadyToUse:     true,
	}
}

func decodeRecord(data []byte) (*snapshotRecord, error) {
	var r snapshotRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("snapshot record: %w", err)
	}
	return &r, nil
}

// snapshotPrefix validates a VolumeSnapshotClass's parameters.
func snapshotPrefix(params map[string]string, clusterID string) (string, error) {
	prefix := defaultSnapshotNamePrefix
	for k, v := range params {
		switch {
		case k == paramSnapshotNamePrefix:
			if !volumeid.ValidName(v) {
				return "", contract.Invalid("parameter %s=%q: must be printable ASCII without ':' or '/'", k, v)
			}
			prefix = v
		case k == paramClusterID:
			if v != clusterID {
				return "", contract.Invalid("parameter %s=%q: the source volume is in cluster %q", k, v, clusterID)
			}
		case k == paramFSName, strings.HasPrefix(k, sidecarPrefix):
		default:
			return "", contract.Invalid("unknown parameter %q", k)
		}
	}
	return prefix, nil
}

// CreateSnapshot snapshots a volume.
func (s *Server) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, contract.Invalid("snapshot name is required")
	}
	if req.GetSourceVolumeId() == "" {
		return nil, contract.Invalid("source volume ID is required")
	}
	clusterID, err := clusterOf(req.GetSourceVolumeId())
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	prefix, err := snapshotPrefix(req.GetParameters(), clusterID)
	if err != nil {
		return nil, err
	}
	sess, ref, err := s.openVolume(ctx, req.GetSourceVolumeId(), req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	src := ref.Volume
	snap := volumeid.Snapshot{Volume: src, Name: volumeid.DeriveName(prefix, req.GetName())}
	id, err := snap.Encode()
	if err != nil {
		return nil, contract.Invalid("snapshot %q: %v", req.GetName(), err)
	}
	release, err := s.lockSnapshot(snap)
	if err != nil {
		return nil, err
	}
	defer release()

	rec, err := readRecord(ctx, sess, snap)
	switch {
	case err == nil && rec.Source != req.GetSourceVolumeId():
		return nil, fmt.Errorf("%w: snapshot %q exists for another source volume (%s)", contract.ErrAlreadyExists, req.GetName(), rec.Source)
	case err == nil:
		// Taken before, or the first attempt stopped between the record
		// and the snapshot: make sure the snapshot exists.
	case errors.Is(err, contract.ErrNotFound):
		sv, err := existing(ctx, sess, src)
		if err != nil {
			return nil, err
		}
		rec = &snapshotRecord{ID: id, Source: req.GetSourceVolumeId(), Created: time.Now().UnixNano(), Size: sv.Size, Path: sv.Path}
		data, _ := json.Marshal(rec)
		if err := sess.PutRecord(ctx, src.FSName, snap.Name, data); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if err := sess.CreateSnapshot(ctx, src.FSName, src.Group, src.Subvolume, snap.Name); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Snapshot taken", "snapshot", id)
	recordMetadata(ctx, s.metadataFor(req.GetParameters(), snapshotMetaKeys), "snapshot "+snap.Name, func(md map[string]string) error {
		return sess.SetSnapshotMetadata(ctx, src.FSName, src.Group, src.Subvolume, snap.Name, md)
	})
	return &csi.CreateSnapshotResponse{Snapshot: rec.csi()}, nil
}

// readRecord reads the record of a snapshot name.
func readRecord(ctx context.Context, recs SnapshotRecords, snap volumeid.Snapshot) (*snapshotRecord, error) {
	data, err := recs.GetRecord(ctx, snap.FSName, snap.Name)
	if err != nil {
		return nil, err
	}
	return decodeRecord(data)
}

// DeleteSnapshot removes a snapshot and its record. A snapshot that clones
// are still copying from cannot be removed yet (FailedPrecondition).
func (s *Server) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, contract.Invalid("snapshot ID is required")
	}
	clusterID, err := clusterOf(req.GetSnapshotId())
	if err != nil {
		klog.FromContext(ctx).Info("Deleting a malformed snapshot ID: nothing to do", "snapshotID", req.GetSnapshotId(), "reason", err.Error())
		return &csi.DeleteSnapshotResponse{}, nil
	}
	sess, cluster, err := s.open(ctx, clusterID, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	snap, foreign, err := resolveSnapshot(ctx, sess, cluster, req.GetSnapshotId())
	if errors.Is(err, contract.ErrNotFound) {
		klog.FromContext(ctx).Info("Deleting a snapshot that does not exist: nothing to do", "snapshotID", req.GetSnapshotId(), "reason", err.Error())
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	release, err := s.lockSnapshot(snap)
	if err != nil {
		return nil, err
	}
	defer release()
	users, err := shallowUsers(ctx, sess, snap, foreign, req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	if len(users) > 0 {
		return nil, contract.Errorf(contract.ErrFailedPrecondition, "snapshot %s backs shallow volumes %v; delete them first", req.GetSnapshotId(), users)
	}
	if err := sess.RemoveSnapshot(ctx, snap.FSName, snap.Group, snap.Subvolume, snap.Name); err != nil {
		if errors.Is(err, contract.ErrFailedPrecondition) {
			return nil, fmt.Errorf("snapshot %s has clones in progress; delete it when they finish: %w", req.GetSnapshotId(), err)
		}
		return nil, err
	}
	if foreign != nil {
		if err := sess.RemoveCephCSIEntry(ctx, snap.FSName, foreign.namespace, ceph.CephCSISnapshots, foreign.uuid, foreign.entry); err != nil {
			return nil, fmt.Errorf("snapshot removed, but not ceph-csi's journal entry: %w", err)
		}
		if err := sess.RemoveCephCSIRefTracker(ctx, snap.FSName, foreign.namespace, req.GetSnapshotId()); err != nil {
			return nil, fmt.Errorf("snapshot removed, but not ceph-csi's reftracker: %w", err)
		}
		return &csi.DeleteSnapshotResponse{}, nil
	}
	// Remove the record only if it is this snapshot's: the name may have
	// been taken for another source after this one was deleted.
	rec, err := readRecord(ctx, sess, snap)
	switch {
	case err == nil && rec.ID == req.GetSnapshotId():
		if err := sess.DeleteRecord(ctx, snap.FSName, snap.Name); err != nil {
			return nil, err
		}
	case err != nil && !errors.Is(err, contract.ErrNotFound):
		return nil, err
	}
	klog.FromContext(ctx).V(4).Info("Snapshot deleted", "snapshot", req.GetSnapshotId())
	return &csi.DeleteSnapshotResponse{}, nil
}

// ListSnapshots lists snapshot records: one by ID, those of one source
// volume, or all of them in every configured cluster, sorted by ID and paged
// with a decimal index as token.
func (s *Server) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, contract.Invalid("max_entries must not be negative")
	}
	var recs []*snapshotRecord
	var err error
	switch {
	case req.GetSnapshotId() != "":
		recs, err = s.listByID(ctx, req.GetSnapshotId(), req.GetSecrets())
	case req.GetSourceVolumeId() != "":
		recs, err = s.listBySource(ctx, req.GetSourceVolumeId(), req.GetSecrets())
	default:
		recs, err = s.listAll(ctx, req.GetSecrets())
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })

	start := 0
	if t := req.GetStartingToken(); t != "" {
		start, err = strconv.Atoi(t)
		if err != nil || start < 0 || start > len(recs) {
			return nil, contract.Errorf(contract.ErrBadToken, "starting token %q is not valid: want a position between 0 and %d", t, len(recs))
		}
	}
	end := len(recs)
	if n := int(req.GetMaxEntries()); n > 0 && start+n < end {
		end = start + n
	}
	resp := &csi.ListSnapshotsResponse{}
	for _, r := range recs[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: r.csi()})
	}
	if end < len(recs) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}

// GetSnapshot describes one snapshot, as ListSnapshots by ID does;
// NotFound when there is none.
func (s *Server) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, contract.Invalid("snapshot ID is required")
	}
	recs, err := s.listByID(ctx, id, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, contract.Errorf(contract.ErrNotFound, "snapshot %q does not exist", id)
	}
	return &csi.GetSnapshotResponse{Snapshot: recs[0].csi()}, nil
}

func (s *Server) listByID(ctx context.Context, id string, secrets map[string]string) ([]*snapshotRecord, error) {
	clusterID, err := clusterOf(id)
	if err != nil {
		return nil, nil
	}
	if _, err := s.cfg.Cluster(clusterID); err != nil {
		return nil, nil
	}
	sess, cluster, err := s.open(ctx, clusterID, secrets)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	snap, foreign, err := resolveSnapshot(ctx, sess, cluster, id)
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if foreign != nil {
		rec, err := s.cephCSIRecord(ctx, sess, id, snap)
		if errors.Is(err, contract.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []*snapshotRecord{rec}, nil
	}
	rec, err := readRecord(ctx, sess, snap)
	if errors.Is(err, contract.ErrNotFound) || (err == nil && rec.ID != id) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []*snapshotRecord{rec}, nil
}

// cephCSIRecord describes a snapshot ceph-csi took, from Ceph itself: its
// creation time, its size (snapsize.go; 0 when it cannot be read), and its
// source's ceph-csi handle when the source has ceph-csi's naming
// (csi-vol-<uuid>).
func (s *Server) cephCSIRecord(ctx context.Context, sess Session, id string, snap volumeid.Snapshot) (*snapshotRecord, error) {
	created, err := sess.SnapshotCreated(ctx, snap.FSName, snap.Group, snap.Subvolume, snap.Name)
	if err != nil {
		return nil, err
	}
	rec := &snapshotRecord{ID: id, Created: created.UnixNano()}
	rec.Size, _ = s.cephCSISnapshotSize(ctx, sess, id, snap)
	if h, err := volumeid.DecodeCephCSI(id); err == nil {
		if uuid, ok := strings.CutPrefix(snap.Subvolume, "csi-vol-"); ok && len(uuid) == 36 {
			h.UUID = uuid
			rec.Source = h.Encode()
		}
	}
	return rec, nil
}

func (s *Server) listBySource(ctx context.Context, source string, secrets map[string]string) ([]*snapshotRecord, error) {
	sess, ref, err := s.openVolume(ctx, source, secrets)
	if errors.Is(err, contract.ErrNotFound) || errors.Is(err, contract.ErrFailedPrecondition) || errors.Is(err, contract.ErrInvalid) {
		return nil, nil // no such volume, or a shallow one: no snapshots of it
	}
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	vol := ref.Volume
	all, err := recordsOf(ctx, sess, vol.FSName)
	if err != nil {
		return nil, err
	}
	var out []*snapshotRecord
	for _, r := range all {
		if r.Source == source {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Server) listAll(ctx context.Context, secrets map[string]string) ([]*snapshotRecord, error) {
	var out []*snapshotRecord
	for _, cluster := range s.cfg.Clusters() {
		recs, err := s.clusterRecords(ctx, cluster, secrets)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cluster.ClusterID, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// clusterRecords reads the snapshot records of every filesystem of a cluster.
func (s *Server) clusterRecords(ctx context.Context, cluster *config.Cluster, secrets map[string]string) ([]*snapshotRecord, error) {
	sess, err := s.connectTo(ctx, cluster, secrets)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	names, err := sess.Filesystems(ctx)
	if err != nil {
		return nil, err
	}
	var out []*snapshotRecord
	for _, name := range names {
		recs, err := recordsOf(ctx, sess, name)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func recordsOf(ctx context.Context, recs SnapshotRecords, fsName string) ([]*snapshotRecord, error) {
	all, err := recs.ListRecords(ctx, fsName)
	if err != nil {
		return nil, err
	}
	out := make([]*snapshotRecord, 0, len(all))
	for name, data := range all {
		r, err := decodeRecord(data)
		if err != nil {
			klog.FromContext(ctx).Info("Skipping an unreadable snapshot record", "name", name, "reason", err.Error())
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
