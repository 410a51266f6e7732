package mounter

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
// the filesystem on old and new kernels alike. The kernel speaks one
// messenger protocol to every monitor in the source (ms_mode), so the
// source holds the addresses of that protocol: with msgr2 addresses in the
// cluster config and no ms_mode of the user's, msgr2 with ms_mode=prefer-crc
// (a msgr2-only cluster is never reached otherwise: the legacy protocol
// times out); with ms_mode=legacy the others; with any other ms_mode the
// msgr2 ones.
func (k *Kernel) SourceAndOptions(req Request, secretFile string) (string, []string) {
	opts := []string{"name=" + req.Creds.ID, "secretfile=" + secretFile, "mds_namespace=" + req.FSName}
	mons := req.Monitors
	switch mode, set := optionValue(req.Options, "ms_mode"); {
	case !set && len(req.Msgr2Monitors) > 0:
		mons = req.Msgr2Monitors
		opts = append(opts, "ms_mode=prefer-crc")
	case set && mode == "legacy":
		if legacy := without(req.Monitors, req.Msgr2Monitors); len(legacy) > 0 {
			mons = legacy
		}
	case set && len(req.Msgr2Monitors) > 0:
		mons = req.Msgr2Monitors
	}
	source := strings.Join(mons, ",") + ":" + req.Path
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
		if refusedOptions(err) {
			return contract.Invalid("the kernel's CephFS client refused the mount options %q (EINVAL; they come from the cluster config's and the StorageClass's kernelMountOptions; the node's kernel log names the one it does not know)",
				strings.Join(req.Options, ","))
		}
		return fmt.Errorf("kernel mount of %s on %s: %w", req.Path, target, err)
	}
	return nil
}

// refusedOptions tells a mount that the kernel refused for its options
// from one that failed on the way: mount.ceph reports the kernel's answer
// as "mount error 22 = Invalid argument", and the only thing of a request
// that makes the kernel answer EINVAL is an option (the driver builds the
// rest itself). The kernel logs which one: "ceph: Unknown parameter 'x'".
func refusedOptions(err error) bool {
	return strings.Contains(err.Error(), "mount error 22 =")
}

// optionValue returns the value of option name in opts and whether it is
// there at all.
func optionValue(opts []string, name string) (string, bool) {
	for _, o := range opts {
		if o == name {
			return "", true
		}
		if v, ok := strings.CutPrefix(o, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// without returns the elements of all that are not in drop, in order.
func without(all, drop []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(drop, a) {
			out = append(out, a)
		}
	}
	return out
}

// KernelSupported reports whether the running kernel has a CephFS client
// that enforces quotas, loading the module if it is not yet loaded. A
// kernel before 4.17 mounts but ignores the subvolume's quota (and df
// shows the whole filesystem): on such a node ceph-fuse is the client, as
// with ceph-csi.
func KernelSupported(ctx context.Context, run Runner, procFilesystems string) bool {
	if release := kernelRelease(); !enforcesQuotas(release) {
		klog.FromContext(ctx).Info("The kernel's CephFS client does not enforce quotas: mounting with ceph-fuse", "release", release)
		return false
	}
	if hasFilesystem(procFilesystems, "ceph") {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "modprobe", "ceph"); err != nil {
		return false
	}
	return hasFilesystem(procFilesystems, "ceph")
}

// SELinuxEnabled reports whether the running kernel has SELinux on: it
// registers selinuxfs only then (the test the kubelet's SELinux library
// makes first). Only such a kernel applies a context= mount option; the
// kubelet sends one only to such a node.
func SELinuxEnabled(procFilesystems string) bool {
	return hasFilesystem(procFilesystems, "selinuxfs")
}

// hasFilesystem tells whether /proc/filesystems lists name.
func hasFilesystem(procFilesystems, name string) bool {
	data, err := os.ReadFile(procFilesystems)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// enforcesQuotas: the CephFS kernel client enforces quotas from 4.17 on.
// A release that does not parse is given the benefit of the doubt.
func enforcesQuotas(release string) bool {
	major, rest, _ := strings.Cut(release, ".")
	minor, _, _ := strings.Cut(rest, ".")
	minor = strings.TrimRightFunc(minor, func(r rune) bool { return r < '0' || r > '9' })
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > 4 || ma == 4 && mi >= 17
}
