package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// NodeGetVolumeHealth reports what this node sees of a volume: its client
// gone or not answering, its subvolume removed behind the driver's back, its
// quota or pool used up. No entry means no adverse condition is known (the
// spec's empty list), not a promise. The kubelet (CSIVolumeHealth) calls it
// every volumeStatsAggPeriod for each mounted CSI volume with both paths and
// writes the entries to pod.status.volumeHealth.
//
// Paths are optional in the spec; without them the staging paths this
// process remembers for the volume are looked at (csi-sanity asks with the
// ID alone). Given paths of which none is a mount are NotFound: the volume
// is not on this node.
func (s *Server) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	var paths []string
	for _, p := range []struct{ field, path string }{
		{"volume publish path", req.GetVolumePublishPath()},
		{"staging target path", req.GetStagingTargetPath()},
	} {
		if p.path == "" {
			continue
		}
		clean, err := contract.CleanPath(p.field, p.path)
		if err != nil {
			return nil, err
		}
		paths = append(paths, clean)
	}
	asked := len(paths) > 0
	if !asked {
		paths = s.staged.pathsOf(id)
	}
	var entries []*csi.VolumeHealth_VolumeHealthEntry
	mounted := false
	for _, p := range paths {
		found, err := s.healthAt(ctx, p)
		if errors.Is(err, errNotMounted) {
			klog.FromContext(ctx).V(4).Info("Nothing mounted at the path", "volumeID", id, "path", p)
			continue
		}
		if err != nil {
			return nil, err
		}
		mounted = true
		entries = appendNew(entries, found...)
	}
	if asked && !mounted {
		return nil, fmt.Errorf("%w: volume %s is not mounted at %v on this node", contract.ErrNotFound, id, paths)
	}
	return &csi.NodeGetVolumeHealthResponse{
		VolumeHealth: &csi.VolumeHealth{VolumeId: id, HealthStatuses: entries},
	}, nil
}

// errNotMounted: nothing is mounted at a path (or it does not exist).
var errNotMounted = errors.New("not mounted")

// healthAt returns the conditions of the mount at path, or errNotMounted.
func (s *Server) healthAt(ctx context.Context, path string) ([]*csi.VolumeHealth_VolumeHealthEntry, error) {
	notMnt, err := s.mount.IsLikelyNotMountPoint(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, errNotMounted
	case err != nil && mount.IsCorruptedMnt(err):
		return judge(path, volumeState{}, err)
	case err != nil:
		return nil, fmt.Errorf("check mount point %s: %w", path, err)
	case notMnt:
		return nil, errNotMounted
	}
	st, err := s.inspect(ctx, path)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, ctx.Err()) // the request's own end
	}
	return judge(path, st, err)
}

// appendNew appends the entries whose (status, reason) is not there yet:
// the publish path and the staging path share one client, and the spec
// forbids the same pair twice.
func appendNew(to []*csi.VolumeHealth_VolumeHealthEntry, more ...*csi.VolumeHealth_VolumeHealthEntry) []*csi.VolumeHealth_VolumeHealthEntry {
next:
	for _, m := range more {
		for _, e := range to {
			if e.GetStatus() == m.GetStatus() && e.GetReason() == m.GetReason() {
				continue next
			}
		}
		to = append(to, m)
	}
	return to
}
