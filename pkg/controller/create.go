package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// CreateVolume provisions a subvolume whose name is derived from the request
// name, so the cluster itself records the request: a retry, even after a
// crash half-way through the first attempt, finds what that attempt made.
func (s *Server) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, contract.Invalid("volume name is required")
	}
	if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	size, err := quotaFor(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	p, err := parseParams(req.GetParameters(), s.cfg)
	if err != nil {
		return nil, err
	}
	if len(p.ignored) > 0 {
		klog.FromContext(ctx).V(4).Info("StorageClass keys without effect here", "keys", p.ignored)
	}
	shallow, err := wantsShallow(req, p)
	if err != nil {
		return nil, err
	}
	vol := volumeid.Volume{
		ClusterID: p.cluster.ClusterID,
		FSName:    p.fsName,
		Group:     p.group,
		Subvolume: volumeid.DeriveName(p.namePrefix, req.GetName()),
	}
	if shallow {
		sess, err := s.connectTo(ctx, p.cluster, req.GetSecrets())
		if err != nil {
			return nil, err
		}
		defer sess.Release()
		return s.createShallow(ctx, sess, req, vol, size, p)
	}
	id, err := vol.Encode()
	if err != nil {
		return nil, contract.Invalid("volume %q: %v", req.GetName(), err)
	}
	release, err := s.lock(vol)
	if err != nil {
		return nil, err
	}
	defer release()

	sess, err := s.connectTo(ctx, p.cluster, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	if err := checkPool(ctx, sess, p); err != nil {
		return nil, err
	}
	var sv *ceph.Subvolume
	if req.GetVolumeContentSource() != nil {
		sv, err = s.createFromSource(ctx, sess, req, vol, size, p)
	} else {
		sv, err = createOrFind(ctx, sess, req.GetName(), vol, size, p)
	}
	if err != nil {
		return nil, err
	}
	recordMetadata(ctx, s.metadataFor(req.GetParameters(), volumeMetaKeys), "subvolume "+vol.Subvolume, func(md map[string]string) error {
		return sess.SetSubvolumeMetadata(ctx, vol.FSName, vol.Group, vol.Subvolume, md)
	})
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      id,
		CapacityBytes: sv.Size,
		VolumeContext: volumeContext(vol, sv.Path, p),
		ContentSource: req.GetVolumeContentSource(),
	}}, nil
}

// subvolumeMaker is what createOrFind needs of a session.
type subvolumeMaker interface {
	Subvolumes
	Claims
}

// createOrFind returns the subvolume a request name derives to, creating it
// when absent; an existing one must match the request.
//
// Ceph's `fs subvolume create` succeeds on an existing subvolume and applies
// the request's quota, pool, mode and owner to it, so a subvolume that may
// exist is looked at before create. The claim, written before create and
// removed after the subvolume (one RADOS operation each), tells whether one
// may: a fresh claim means this driver never made it, and the first attempt
// costs two mgr commands (create, getpath) instead of three. A claim that
// exists, a retry's (also after a crash anywhere in the first attempt), takes
// the careful way: info, then create only if the subvolume is absent.
func createOrFind(ctx context.Context, svs subvolumeMaker, name string, vol volumeid.Volume, size int64, p *volumeParams) (*ceph.Subvolume, error) {
	log := klog.FromContext(ctx).WithValues("subvolume", vol.Subvolume)
	fresh, err := svs.ClaimSubvolume(ctx, vol.FSName, vol.Group, vol.Subvolume, []byte(name))
	if err != nil {
		return nil, err
	}
	if !fresh {
		sv, err := svs.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume)
		switch {
		case err == nil && !sv.Retained:
			if err := compatible(sv, size, p); err != nil {
				return nil, fmt.Errorf("volume %q exists with other properties: %w", name, err)
			}
			log.V(4).Info("Volume exists already", "path", sv.Path)
			return sv, nil
		case errors.Is(err, ceph.ErrIncomplete):
			// Claimed for this name, and its create interrupted by a mgr
			// failover: creating again gives it the request's attributes.
			log.Info("Completing a subvolume whose create was interrupted", "reason", err)
		case err != nil && !errors.Is(err, contract.ErrNotFound):
			return nil, err
		}
		// Claimed, but the first attempt stopped before create; or
		// deleted with its snapshots retained; or incomplete.
	}
	sv, err := create(ctx, svs, vol, size, p)
	if err != nil {
		return nil, err
	}
	log.V(4).Info("Created subvolume", "path", sv.Path, "size", size)
	return sv, nil
}

// checkPool makes sure the filesystem exists and, when a pool was named, that
// it is one of the filesystem's data pools (one cached lookup per cluster).
func checkPool(ctx context.Context, svs Subvolumes, p *volumeParams) error {
	pools, err := svs.DataPools(ctx, p.fsName)
	if err != nil {
		return err
	}
	if p.pool == "" {
		return nil
	}
	for _, name := range pools {
		if name == p.pool {
			return nil
		}
	}
	return contract.Invalid("parameter %s=%q: not a data pool of filesystem %q (data pools: %v)", paramPool, p.pool, p.fsName, pools)
}

func create(ctx context.Context, svs Subvolumes, vol volumeid.Volume, size int64, p *volumeParams) (*ceph.Subvolume, error) {
	if err := svs.EnsureGroup(ctx, vol.FSName, vol.Group); err != nil {
		return nil, err
	}
	spec := ceph.SubvolumeSpec{
		FSName: vol.FSName, Group: vol.Group, Name: vol.Subvolume,
		Size: size, Pool: p.pool, Mode: p.mode, UID: max(p.uid, 0), GID: max(p.gid, 0),
	}
	if err := svs.CreateSubvolume(ctx, spec); err != nil {
		return nil, err
	}
	// Ceph made what was asked (no subvolume was there to keep other
	// properties): only the path is unknown, and getpath is the cheaper
	// command.
	path, err := svs.SubvolumePath(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if err != nil {
		return nil, err
	}
	return &ceph.Subvolume{Path: path, Size: size}, nil
}

// compatible tells whether an existing subvolume satisfies a request.
func compatible(sv *ceph.Subvolume, size int64, p *volumeParams) error {
	switch {
	case sv.Size != size:
		return fmt.Errorf("%w: quota is %d bytes, request is for %d", contract.ErrAlreadyExists, sv.Size, size)
	case p.pool != "" && sv.Pool != p.pool:
		return fmt.Errorf("%w: data pool is %q, request is for %q", contract.ErrAlreadyExists, sv.Pool, p.pool)
	case p.mode != 0 && sv.Mode&0o7777 != p.mode:
		return fmt.Errorf("%w: mode is %o, request is for %o", contract.ErrAlreadyExists, sv.Mode&0o7777, p.mode)
	case p.uid >= 0 && sv.UID != p.uid, p.gid >= 0 && sv.GID != p.gid:
		return fmt.Errorf("%w: owner is %d:%d, request is for %d:%d", contract.ErrAlreadyExists, sv.UID, sv.GID, p.uid, p.gid)
	}
	return nil
}

func volumeContext(vol volumeid.Volume, path string, p *volumeParams) map[string]string {
	ctx := map[string]string{
		contract.CtxClusterID:      vol.ClusterID,
		contract.CtxFSName:         vol.FSName,
		contract.CtxSubvolumeGroup: vol.Group,
		contract.CtxSubvolumeName:  vol.Subvolume,
		contract.CtxSubvolumePath:  path,
	}
	for k, v := range map[string]string{contract.CtxMounter: p.mounter, contract.CtxKernelMountOptions: p.kernelOpts, contract.CtxFuseMountOptions: p.fuseOpts} {
		if v != "" {
			ctx[k] = v
		}
	}
	return ctx
}
