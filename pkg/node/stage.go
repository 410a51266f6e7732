package node

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountopts"
)

// NodeStageVolume mounts the volume's path at the staging path, once per
// node. An intact mount there is accepted as is; a corrupted one is replaced.
func (s *Server) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	staging, err := contract.CleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	if err := requireMountCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	shallow := isShallow(req.GetVolumeId(), req.GetVolumeContext())
	if shallow {
		if err := requireReadOnly(req.GetVolumeCapability()); err != nil {
			return nil, err
		}
	}
	m, mreq, err := s.mountRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	release, err := s.inFlight.Acquire(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	stillRunning := false
	defer func() {
		if !stillRunning {
			release()
		}
	}()
	log := klog.FromContext(ctx).WithValues("volume", req.GetVolumeId(), "staging", staging)

	mounted, err := s.mountState(ctx, staging)
	if err != nil {
		return nil, err
	}
	if mreq.Path == "" || mreq.FSName == "" {
		// What the context leaves to the cluster (a legacy volume's
		// path, a static volume's filesystem): what was found at its
		// first NodeStage, else asked now if a mount is needed.
		if held, ok := s.staged.lookup(staging); ok && held.volumeID == req.GetVolumeId() {
			mreq.Path, mreq.FSName = held.req.Path, held.req.FSName
		} else if !mounted {
			if err := s.complete(ctx, req.GetVolumeContext(), &mreq); err != nil {
				return nil, err
			}
		}
	}
	var snapshot string
	if shallow && req.GetVolumeContext()[contract.CtxBackingSnapshotRoot] == "" && req.GetVolumeContext()[contract.CtxBackingSnapshotID] == "" {
		if snapshot, err = s.cephCSISnapshot(ctx, req, mreq); err != nil {
			return nil, err
		}
	}
	if mounted {
		// Remembered again (the kubelet stages again after its own
		// restart): this plugin may have restarted since. A volume
		// first seen staged whose path or filesystem the context lacks
		// is not, as finding them costs a call to the cluster.
		if mreq.Path != "" && mreq.FSName != "" {
			s.staged.remember(staging, stagedMount{volumeID: req.GetVolumeId(), mounter: m, req: mreq, snapshot: snapshot})
		}
		log.V(4).Info("Already staged")
		return &csi.NodeStageVolumeResponse{}, nil
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return nil, fmt.Errorf("create staging path: %w", err)
	}
	start := time.Now()
	stillRunning, err = s.runBounded(ctx, release, func(ctx context.Context) error {
		return m.Mount(ctx, mreq, staging)
	})
	if err != nil {
		return nil, err
	}
	s.staged.remember(staging, stagedMount{volumeID: req.GetVolumeId(), mounter: m, req: mreq, snapshot: snapshot})
	log.V(4).Info("Staged", "mounter", m.Name(), "path", mreq.Path, "took", time.Since(start))
	return &csi.NodeStageVolumeResponse{}, nil
}

// mountRequest builds the mount from the volume context, the cluster config
// and the node secrets, without asking the cluster anything. Path is empty
// for a volume whose context names only its subvolume, FSName for a static
// volume whose context names no filesystem (see complete).
func (s *Server) mountRequest(ctx context.Context, req *csi.NodeStageVolumeRequest) (mounter.Mounter, mounter.Request, error) {
	vc := req.GetVolumeContext()
	if vc[contract.CtxFSName] == "" && (vc[contract.CtxRootPath] == "" || s.filesystems == nil) {
		return nil, mounter.Request{}, contract.Invalid("volume context: %q is required", contract.CtxFSName)
	}
	cluster, err := s.cfg.Cluster(vc[contract.CtxClusterID])
	if err != nil {
		return nil, mounter.Request{}, contract.Invalid("volume context: %v", err)
	}
	creds, err := contract.CredentialsFromSecrets(req.GetSecrets(), false)
	if err != nil {
		return nil, mounter.Request{}, err
	}
	path, err := s.volumePath(vc)
	if err != nil {
		return nil, mounter.Request{}, err
	}
	if err := contract.CheckMounter(vc[contract.CtxMounter]); err != nil {
		return nil, mounter.Request{}, contract.Invalid("volume context: %v", err)
	}
	name, err := mounter.Choose(vc[contract.CtxMounter], s.defaultMounter, s.kernelOK)
	if err != nil {
		return nil, mounter.Request{}, err
	}
	// Options: the cluster's defaults, then the StorageClass's, then the
	// PV's mount options.
	defaults, optsKey := cluster.CephFS.FuseMountOptions, contract.CtxFuseMountOptions
	if name == contract.MounterKernel {
		defaults, optsKey = cluster.CephFS.KernelMountOptions, contract.CtxKernelMountOptions
	}
	var opts []string
	for _, list := range []string{defaults, vc[optsKey]} {
		if err := mountopts.Validate(list); err != nil {
			return nil, mounter.Request{}, contract.Invalid("mount options %q: %v", list, err)
		}
		opts = append(opts, mountopts.Split(list)...)
	}
	for _, f := range req.GetVolumeCapability().GetMount().GetMountFlags() {
		if err := mountopts.Validate(f); err != nil {
			return nil, mounter.Request{}, contract.Invalid("mount flag %q: %v", f, err)
		}
		opts = append(opts, mountopts.Split(f)...)
	}
	if opts, err = s.selinuxOptions(ctx, name, opts); err != nil {
		return nil, mounter.Request{}, err
	}
	if isShallow(req.GetVolumeId(), vc) {
		// The subvolume's directory holds its live data too: the
		// staging mount of a snapshot only reads.
		opts = append(opts, "ro")
	}
	return s.mounters[name], mounter.Request{
		VolumeID:      req.GetVolumeId(),
		Monitors:      cluster.MonitorAddrs(),
		Msgr2Monitors: cluster.Msgr2Addrs(),
		FSName:        vc[contract.CtxFSName],
		Path:          path,
		Creds:         creds,
		Options:       opts,
	}, nil
}

// volumePath is the path to mount: the subvolume path recorded at
// provisioning or a static volume's rootPath. It is empty for a volume that
// ceph-csi provisioned before it recorded paths, which names its subvolume.
func (s *Server) volumePath(vc map[string]string) (string, error) {
	key := contract.CtxSubvolumePath
	if vc[key] == "" {
		key = contract.CtxRootPath
	}
	if vc[key] == "" {
		if vc[contract.CtxSubvolumeName] != "" && s.subvolumePath != nil {
			return "", nil
		}
		return "", contract.Invalid("volume context: %q (or %q, or %q) is required",
			contract.CtxSubvolumePath, contract.CtxRootPath, contract.CtxSubvolumeName)
	}
	return contract.CleanPath(fmt.Sprintf("volume context %q", key), vc[key])
}

// cephCSISnapshot looks up, in ceph-csi's journal, the snapshot of a
// shallow volume ceph-csi made, or takes it from an earlier NodeStage.
func (s *Server) cephCSISnapshot(ctx context.Context, req *csi.NodeStageVolumeRequest, mreq mounter.Request) (string, error) {
	if held, ok := s.staged.lookup(req.GetStagingTargetPath()); ok && held.volumeID == req.GetVolumeId() && held.snapshot != "" {
		return held.snapshot, nil
	}
	if s.backingSnap == nil {
		return "", fmt.Errorf("%w: volume %s is a shallow volume of ceph-csi's; this node cannot read ceph-csi's journal", contract.ErrFailedPrecondition, req.GetVolumeId())
	}
	cluster, err := s.cfg.Cluster(req.GetVolumeContext()[contract.CtxClusterID])
	if err != nil {
		return "", contract.Invalid("volume context: %v", err)
	}
	name, err := s.backingSnap(ctx, cluster, mreq.Creds, mreq.FSName, req.GetVolumeId())
	if err != nil {
		return "", fmt.Errorf("snapshot of shallow volume %s: %w", req.GetVolumeId(), err)
	}
	if !validSnapshotName(name) {
		return "", fmt.Errorf("snapshot of shallow volume %s: ceph-csi's journal names %q", req.GetVolumeId(), name)
	}
	return name, nil
}

// runBounded runs fn with the node's mount timeout and returns when fn does
// or when ctx ends. In the second case fn may still be running (a stuck
// mount): it keeps the volume's lock, calling release only once fn returns,
// and stillRunning is true.
func (s *Server) runBounded(ctx context.Context, release func(), fn func(context.Context) error) (stillRunning bool, err error) {
	mctx, cancel := context.WithTimeout(ctx, s.mountTimeout)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- fn(mctx)
	}()
	select {
	case err := <-done:
		cancel()
		return false, err
	case <-mctx.Done():
		go func() {
			<-finished
			cancel()
			release()
		}()
		return true, fmt.Errorf("mount did not finish: %w", mctx.Err())
	}
}

// NodeUnstageVolume unmounts the staging path and removes it.
func (s *Server) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	staging, err := contract.CleanPath("staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	release, err := s.inFlight.Acquire(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.cleanup(ctx, staging); err != nil {
		return nil, err
	}
	s.staged.forget(staging)
	klog.FromContext(ctx).V(4).Info("Unstaged", "volume", req.GetVolumeId())
	return &csi.NodeUnstageVolumeResponse{}, nil
}
