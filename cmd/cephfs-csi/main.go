// Command cephfs-csi is a CSI driver for CephFS subvolumes; `cephfs-csi
// orphans` reports (and removes) what no live volume accounts for.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/pkg/orphans"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "orphans" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		code := orphans.Main(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		klog.Flush()
		os.Exit(code)
	}
	opts := driver.DefaultOptions()
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	klog.InitFlags(fs)
	fs.StringVar(&opts.Endpoint, "endpoint", opts.Endpoint, "CSI endpoint: unix:///path/to/csi.sock")
	fs.StringVar(&opts.DriverName, "drivername", opts.DriverName, "CSI driver name (set cephfs.csi.ceph.com to take over ceph-csi's volumes)")
	fs.StringVar(&opts.NodeID, "nodeid", opts.NodeID, "node ID reported by NodeGetInfo")
	fs.StringVar(&opts.Mode, "mode", opts.Mode, "services to run: controller, node or all; or mount-holder (keeps the node's ceph-fuse processes)")
	fs.StringVar(&opts.ClusterConfig, "cluster-config", opts.ClusterConfig, "cluster config file (ceph-csi's config.json format)")
	fs.DurationVar(&opts.CephTimeout, "ceph-timeout", opts.CephTimeout, "bound on connecting to a cluster and on each RADOS object operation; mgr commands are bounded by the RPC deadline")
	fs.DurationVar(&opts.DrainTimeout, "drain-timeout", opts.DrainTimeout, "bound on the wait for in-flight RPCs at shutdown")
	fs.StringVar(&opts.DefaultMounter, "default-mounter", opts.DefaultMounter, "node: mounter for volumes that name none: auto (kernel if it has CephFS, else fuse), fuse or kernel")
	fs.StringVar(&opts.KeyDir, "keys-dir", opts.KeyDir, "node: directory (on tmpfs) for short-lived CephX key files")
	fs.DurationVar(&opts.MountTimeout, "mount-timeout", opts.MountTimeout, "node: bound on one mount")
	fs.StringVar(&opts.KubeletRegistrationPath, "kubelet-registration-path", opts.KubeletRegistrationPath, "node: the CSI socket's path as the kubelet sees it; when set, the driver registers with the kubelet itself (no node-driver-registrar)")
	fs.StringVar(&opts.PluginRegistrationDir, "plugin-registration-dir", opts.PluginRegistrationDir, "node: the kubelet's plugin registration directory")
	// The environment gives the default so that deploy/mount-holder can
	// turn it on with one patch, whatever the node plugin's args are.
	holderSocket := os.Getenv("CEPHFS_CSI_MOUNT_HOLDER_SOCKET")
	fs.StringVar(&opts.MountHolderSocket, "mount-holder-socket", holderSocket, "node: run ceph-fuse in the mount holder listening here, so that FUSE mounts outlive this container (empty = in this process; default $CEPHFS_CSI_MOUNT_HOLDER_SOCKET); mount-holder: where to listen")
	fs.StringVar(&opts.MountHolderRoot, "mount-holder-root", opts.MountHolderRoot, "mount-holder: mount only below this directory (the kubelet's)")
	fs.StringVar(&opts.MetricsAddress, "metrics-address", opts.MetricsAddress, "serve /metrics and /healthz on this address (e.g. :8080): Prometheus metrics, and the Probe's check (200 ok, 503 with the reason); empty = off")
	fs.BoolVar(&opts.SetMetadata, "set-metadata", opts.SetMetadata, "controller: record the PVC, PV and VolumeSnapshot names that the sidecars pass (--extra-create-metadata) and --cluster-name on subvolumes and snapshots (ceph-csi's --setmetadata keys)")
	fs.StringVar(&opts.ClusterName, "cluster-name", opts.ClusterName, "controller: name of the Kubernetes cluster, recorded on subvolumes and snapshots as csi.ceph.com/cluster/name (ceph-csi's --clustername); empty = not recorded")
	fs.StringVar(&opts.ControllerSecretDir, "controller-secret-dir", opts.ControllerSecretDir, "controller: directory of a mounted Secret (adminID/adminKey or userID/userKey files; a subdirectory per cluster ID overrides) with the controller's own CephX credential, for ListVolumes, ControllerGetVolume (volume health) and GetCapacity, whose requests carry no secrets; empty = those are not advertised")
	version := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *version {
		fmt.Println(driver.Version)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if opts.Mode == driver.ModeMountHolder {
		if err := driver.RunMountHolder(ctx, opts); err != nil {
			klog.ErrorS(err, "Mount holder stopped")
			klog.Flush()
			os.Exit(1)
		}
		klog.Flush()
		return
	}
	d, err := driver.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cephfs-csi:", err)
		os.Exit(1)
	}
	if err := d.Run(ctx); err != nil {
		klog.ErrorS(err, "Driver stopped")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}
