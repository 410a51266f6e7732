package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// listed is one volume found by ListVolumes.
type listed struct {
	id      string
	cluster *config.Cluster
	vol     *volumeid.Volume  // a subvolume, or
	shallow *volumeid.Shallow // a shallow volume; neither: ceph-csi's
}

// ListVolumes lists the volumes this driver made in every configured
// cluster, with the controller's own credential: the subvolumes it claimed
// (claims.go in pkg/ceph), the shallow volumes' references and the volumes
// in ceph-csi's journal, one object listing and two omap reads per
// filesystem. Entries are sorted by ID; the token is the last ID of the
// previous page, so a page starts after it even when volumes were deleted
// or added meanwhile. Each entry's size comes from its `subvolume info`
// (health.go).
func (s *Server) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	page, next, err := s.listPage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next}
	for _, v := range page {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{
			Volume: &csi.Volume{VolumeId: v.id, CapacityBytes: v.size},
		})
	}
	return resp, nil
}

// inPage is one volume of a page, with what health.of found.
type inPage struct {
	id   string
	size int64
	cond *condition
}

// listPage returns a page of ListVolumes (and of ControllerListVolumeHealth,
// which pages the same way) and the token of the next.
func (s *Server) listPage(ctx context.Context, maxEntries int32, token string) ([]inPage, string, error) {
	if maxEntries < 0 {
		return nil, "", contract.Invalid("max_entries must not be negative")
	}
	if token != "" && !isVolumeID(token) {
		return nil, "", contract.Errorf(contract.ErrBadToken, "starting token %q is not a volume ID of this driver", token)
	}
	sessions := map[string]*health{}
	defer func() {
		for _, h := range sessions {
			h.sess.Release()
		}
	}()
	var all []listed
	for _, cluster := range s.cfg.Clusters() {
		sess, err := s.openOwn(ctx, cluster)
		if err != nil {
			return nil, "", err
		}
		sessions[cluster.ClusterID] = &health{sess: sess}
		vols, err := volumesOf(ctx, sess, cluster)
		if err != nil {
			return nil, "", fmt.Errorf("cluster %q: %w", cluster.ClusterID, err)
		}
		all = append(all, vols...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })

	start := sort.Search(len(all), func(i int) bool { return all[i].id > token })
	end := len(all)
	if n := int(maxEntries); n > 0 && start+n < end {
		end = start + n
	}
	var page []inPage
	for _, v := range all[start:end] {
		size, cond, err := sessions[v.cluster.ClusterID].of(ctx, v)
		if errors.Is(err, contract.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, "", fmt.Errorf("volume %s: %w", v.id, err)
		}
		page = append(page, inPage{id: v.id, size: size, cond: cond})
	}
	next := ""
	if end < len(all) {
		next = all[end-1].id
	}
	return page, next, nil
}

func isVolumeID(id string) bool {
	if _, err := volumeid.DecodeVolume(id); err == nil {
		return true
	}
	if _, err := volumeid.DecodeCephCSI(id); err == nil {
		return true
	}
	_, err := volumeid.DecodeShallow(id)
	return err == nil
}

// volumesOf lists a cluster's volumes: claims, shallow references and
// ceph-csi's journal of every filesystem.
func volumesOf(ctx context.Context, sess Session, cluster *config.Cluster) ([]listed, error) {
	names, err := sess.Filesystems(ctx)
	if err != nil {
		return nil, err
	}
	var out []listed
	for _, fsName := range names {
		claims, err := sess.ListClaims(ctx, fsName)
		if err != nil {
			return nil, err
		}
		for _, c := range claims {
			vol := volumeid.Volume{ClusterID: cluster.ClusterID, FSName: fsName, Group: c.Group, Subvolume: c.Subvolume}
			id, err := vol.Encode()
			if err != nil {
				klog.FromContext(ctx).Info("Skipping a claim that makes no volume ID", "filesystem", fsName, "group", c.Group, "subvolume", c.Subvolume, "reason", err.Error())
				continue
			}
			out = append(out, listed{id: id, cluster: cluster, vol: &vol})
		}
		refs, err := sess.ListReferences(ctx, fsName)
		if err != nil {
			return nil, err
		}
		for name := range refs {
			sh := volumeid.Shallow{ClusterID: cluster.ClusterID, FSName: fsName, Name: name}
			id, err := sh.Encode()
			if err != nil {
				continue
			}
			out = append(out, listed{id: id, cluster: cluster, shallow: &sh})
		}
		foreign, err := cephCSIVolumesOf(ctx, sess, cluster, fsName)
		if err != nil {
			return nil, err
		}
		out = append(out, foreign...)
	}
	return out, nil
}

// cephCSIVolumesOf lists the volumes in ceph-csi's journal of a filesystem,
// by their ceph-csi handles.
func cephCSIVolumesOf(ctx context.Context, journal CephCSIJournal, cluster *config.Cluster, fsName string) ([]listed, error) {
	uuids, err := journal.CephCSIVolumeUUIDs(ctx, fsName, cephCSINamespace(cluster))
	if err != nil || len(uuids) == 0 {
		return nil, err
	}
	fscid, err := journal.FilesystemID(ctx, fsName)
	if err != nil {
		return nil, err
	}
	out := make([]listed, 0, len(uuids))
	for _, uuid := range uuids {
		h := volumeid.CephCSI{ClusterID: cluster.ClusterID, LocationID: fscid, UUID: uuid}
		id := h.Encode()
		if _, err := volumeid.DecodeCephCSI(id); err != nil {
			klog.FromContext(ctx).Info("Skipping a ceph-csi journal entry that makes no handle", "filesystem", fsName, "uuid", uuid, "reason", err.Error())
			continue
		}
		out = append(out, listed{id: id, cluster: cluster})
	}
	return out, nil
}

// ControllerGetVolume reports a volume's quota, with the controller's own
// credential. A volume this driver never made, or deleted, is NotFound; one
// whose subvolume went missing behind its back is there (its claim or
// ceph-csi journal entry says it should exist), and
// ControllerGetVolumeHealth says what is wrong with it.
func (s *Server) ControllerGetVolume(ctx context.Context, req *csi.ControllerGetVolumeRequest) (*csi.ControllerGetVolumeResponse, error) {
	size, _, err := s.volumeInfo(ctx, req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeResponse{
		Volume: &csi.Volume{VolumeId: req.GetVolumeId(), CapacityBytes: size},
		Status: &csi.ControllerGetVolumeResponse_VolumeStatus{},
	}, nil
}

// volumeInfo returns a volume's quota and adverse condition.
func (s *Server) volumeInfo(ctx context.Context, id string) (int64, *condition, error) {
	if id == "" {
		return 0, nil, contract.Invalid("volume ID is required")
	}
	clusterID, err := clusterOf(id)
	if err != nil {
		return 0, nil, fmt.Errorf("volume %q: %w", id, contract.ErrNotFound)
	}
	cluster, err := s.cfg.Cluster(clusterID)
	if err != nil {
		return 0, nil, fmt.Errorf("volume %q: %w: %w", id, contract.ErrNotFound, err)
	}
	sess, err := s.openOwn(ctx, cluster)
	if err != nil {
		return 0, nil, err
	}
	defer sess.Release()
	h := &health{sess: sess}
	if sh, err := volumeid.DecodeShallow(id); err == nil {
		return h.shallow(ctx, sh)
	}
	ref, err := resolveVolume(ctx, sess, cluster, id)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case ref.shallow():
		return 0, nil, nil // ceph-csi's shallow volume: a read-only snapshot
	case ref.cephCSI == nil:
		// Ours: the claim says whether the driver made it.
		claimed, err := sess.SubvolumeClaimed(ctx, ref.FSName, ref.Group, ref.Subvolume)
		if err != nil {
			return 0, nil, err
		}
		if !claimed {
			return 0, nil, fmt.Errorf("volume %q: %w", id, contract.ErrNotFound)
		}
	}
	return h.subvolume(ctx, ref.Volume)
}
