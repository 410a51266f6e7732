package mounter

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Kernel mounts with the kernel CephFS client ("mount -t ceph").
type Kernel struct {
	Mounter mount.Interface
	KeyDir  string
}

// Name is "kernel".
func (k *Kernel) Name() string { return contract.MounterKernel }

// SourceAndOptions is the mount source and options for req. The monitors
// go into the source in the form every kernel accepts; mds_namespace selects
// the filesystem on old and new kernels alike.
func (k *Kernel) SourceAndOptions(req Request, secretFile string) (string, []string) {
	mons := req.Monitors
	source := strings.Join(mons, ",") + ":" + req.Path
	opts := []string{"name=" + req.Creds.ID, "secretfile=" + secretFile, "mds_namespace=" + req.FSName}
	if usesMsgr2(mons) && !hasOption(req.Options, "ms_mode") {
		opts = append(opts, "ms_mode=prefer-crc")
	}
	return source, append(opts, req.Options...)
}

// Mount mounts req on target; the secret file is removed once the mount
// returns (the kernel keeps the key).
func (k *Kernel) Mount(ctx context.Context, req Request, target string) error {
	secretFile, remove, err := writeKeyFile(k.KeyDir, secretPattern, req.Creds.Key)
	if err != nil {
		return err
	}
	defer remove()
	source, opts := k.SourceAndOptions(req, secretFile)
	klog.FromContext(ctx).V(4).Info("Mounting with the kernel client", "source", source, "options", opts)
	if err := k.Mounter.Mount(source, target, "ceph", opts); err != nil {
		return fmt.Errorf("kernel mount of %s on %s: %w", req.Path, target, err)
	}
	return nil
}

func usesMsgr2(mons []string) bool {
	for _, m := range mons {
		if strings.HasSuffix(m, ":3300") {
			return true
		}
	}
	return false
}

func hasOption(opts []string, name string) bool {
	for _, o := range opts {
		if o == name || strings.HasPrefix(o, name+"=") {
			return true
		}
	}
	return false
}

// KernelSupported reports whether the running kernel has a CephFS client,
// loading the module if it is not yet loaded.
func KernelSupported(ctx context.Context, run Runner, procFilesystems string) bool {
	if hasCephFS(procFilesystems) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "modprobe", "ceph"); err != nil {
		return false
	}
	return hasCephFS(procFilesystems)
}

func hasCephFS(procFilesystems string) bool {
	data, err := os.ReadFile(procFilesystems)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "ceph" {
			return true
		}
	}
	return false
}
