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
	staging := req.GetStagingTargetPath()
	if staging == "" {
		return nil, contract.Invalid("staging target path is required")
	}
	if err := requireMountCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
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
	if mreq.Path == "" {
		// A legacy volume's path: the one looked up at its first
		// NodeStage, else looked up now if a mount is needed.
		if held, ok := s.staged.lookup(staging); ok && held.volumeID == req.GetVolumeId() {
			mreq.Path = held.req.Path
		} else if !mounted {
			if mreq.Path, err = s.lookupPath(ctx, req.GetVolumeContext(), mreq); err != nil {
				return nil, err
			}
		}
	}
	if mounted {
		// Remembered again (the kubelet stages again after its own
		// restart): this plugin may have restarted since. A legacy
		// volume first seen staged is not, as its path costs a mgr call.
		if mreq.Path != "" {
			s.staged.remember(staging, stagedMount{volumeID: req.GetVolumeId(), mounter: m, req: mreq})
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
	s.staged.remember(staging, stagedMount{volumeID: req.GetVolumeId(), mounter: m, req: mreq})
	log.V(4).Info("Staged", "mounter", m.Name(), "path", mreq.Path, "took", time.Since(start))
	return &csi.NodeStageVolumeResponse{}, nil
}

// mountRequest builds the mount from the volume context, the cluster config
// and the node secrets, without asking the cluster anything. Path is empty
// for a volume whose context names only its subvolume (see lookupPath).
func (s *Server) mountRequest(ctx context.Context, req *csi.NodeStageVolumeRequest) (mounter.Mounter, mounter.Request, error) {
	vc := req.GetVolumeContext()
	if vc[contract.CtxFSName] == "" {
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
	path := vc[contract.CtxSubvolumePath]
	if path == "" {
		path = vc[contract.CtxRootPath]
	}
	if path == "" && vc[contract.CtxSubvolumeName] != "" && s.subvolumePath != nil {
		return "", nil
	}
	if path == "" || path[0] != '/' {
		return "", contract.Invalid("volume context: %q (or %q, or %q) must give an absolute path, got %q",
			contract.CtxSubvolumePath, contract.CtxRootPath, contract.CtxSubvolumeName, path)
	}
	return path, nil
}

// lookupPath asks the mgr, with the node's credentials, for the path of the
// subvolume a legacy volume context names: the only mgr call a node makes.
func (s *Server) lookupPath(ctx context.Context, vc map[string]string, mreq mounter.Request) (string, error) {
	cluster, err := s.cfg.Cluster(vc[contract.CtxClusterID])
	if err != nil {
		return "", contract.Invalid("volume context: %v", err)
	}
	group := vc[contract.CtxSubvolumeGroup]
	if group == "" {
		group = cluster.SubvolumeGroup()
	}
	name := vc[contract.CtxSubvolumeName]
	path, err := s.subvolumePath(ctx, cluster, mreq.Creds, mreq.FSName, group, name)
	if err != nil {
		return "", fmt.Errorf("path of subvolume %s/%s: %w", group, name, err)
	}
	return path, nil
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
	if req.GetStagingTargetPath() == "" {
		return nil, contract.Invalid("staging target path is required")
	}
	release, err := s.inFlight.Acquire(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.cleanup(req.GetStagingTargetPath()); err != nil {
		return nil, err
	}
	s.staged.forget(req.GetStagingTargetPath())
	klog.FromContext(ctx).V(4).Info("Unstaged", "volume", req.GetVolumeId())
	return &csi.NodeUnstageVolumeResponse{}, nil
}
