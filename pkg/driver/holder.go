package driver

import (
	"context"
	"errors"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountholder"
)

// RunMountHolder runs the mount holder (--mode=mount-holder) until ctx
// ends: it serves the node plugin's requests to run ceph-fuse on
// opts.MountHolderSocket and mounts only below opts.MountHolderRoot. Its
// ceph-fuse processes keep running when it returns.
func RunMountHolder(ctx context.Context, opts Options) error {
	if opts.MountHolderSocket == "" {
		return errors.New("--mode=mount-holder needs --mount-holder-socket")
	}
	if opts.MountHolderRoot == "" {
		return errors.New("--mode=mount-holder needs --mount-holder-root")
	}
	warnIfNotTmpfs(opts.KeyDir)
	if n, err := mounter.RemoveKeyFiles(opts.KeyDir); err != nil {
		klog.ErrorS(err, "Cannot clean the key directory", "dir", opts.KeyDir)
	} else if n > 0 {
		klog.InfoS("Removed key files left by an earlier run", "count", n, "dir", opts.KeyDir)
	}
	klog.InfoS("Mount holder started", "version", Version, "socket", opts.MountHolderSocket, "root", opts.MountHolderRoot)
	s := &mountholder.Server{Root: opts.MountHolderRoot, KeyDir: opts.KeyDir, MountTimeout: opts.MountTimeout}
	return s.Serve(ctx, opts.MountHolderSocket)
}
