// Package driver wires the CSI services together: it reads the cluster
// config, connects the services to Ceph and the mounters, and serves them on
// one gRPC endpoint.
package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller"
	"github.com/cephfs-csi/cephfs-csi/pkg/identity"
	"github.com/cephfs-csi/cephfs-csi/pkg/metrics"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountholder"
	"github.com/cephfs-csi/cephfs-csi/pkg/node"
	"github.com/cephfs-csi/cephfs-csi/pkg/registration"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// Version is set at build time with -ldflags "-X .../pkg/driver.Version=...".
var Version = "dev"

// Modes select which services a process runs.
const (
	ModeController = "controller"
	ModeNode       = "node"
	ModeAll        = "all"
	// ModeMountHolder runs the mount holder only (see RunMountHolder).
	ModeMountHolder = "mount-holder"
)

// Options are the driver's settings, filled from flags by cmd/.
type Options struct {
	Endpoint      string
	DriverName    string
	NodeID        string
	Mode          string
	ClusterConfig string
	// CephTimeout bounds connecting to a cluster and each RADOS object
	// operation (librados' client_mount_timeout and rados_osd_op_timeout).
	// Mgr commands are bounded by the RPC's deadline instead (pkg/ceph,
	// bounded.go explains why).
	CephTimeout time.Duration
	// DrainTimeout bounds the wait for in-flight RPCs on shutdown.
	DrainTimeout time.Duration
	// DefaultMounter is auto, fuse or kernel (node).
	DefaultMounter string
	// KeyDir holds CephX key files while a mount runs; it should be on
	// tmpfs (node).
	KeyDir string
	// MountTimeout bounds one mount (node).
	MountTimeout time.Duration
	// MetricsAddress, when set, serves Prometheus metrics on /metrics and
	// the Probe's check on /healthz (for the kubelet's probes, without the
	// livenessprobe sidecar).
	MetricsAddress string
	// KubeletRegistrationPath, when set, is the CSI socket's path as the
	// kubelet sees it; the node then registers itself with the kubelet
	// through PluginRegistrationDir, with no node-driver-registrar.
	KubeletRegistrationPath string
	// PluginRegistrationDir is the kubelet's plugins_registry directory.
	PluginRegistrationDir string
	// MountHolderSocket (node) is the mount holder's socket: when set,
	// ceph-fuse runs in the holder, so that FUSE mounts outlive this
	// process. In mount-holder mode it is where the holder listens.
	MountHolderSocket string
	// MountHolderRoot (mount-holder) is the directory below which the
	// holder mounts (the kubelet's).
	MountHolderRoot string
	// SetMetadata (controller) records the PVC, PV and VolumeSnapshot
	// names the sidecars pass, and ClusterName, on subvolumes and
	// snapshots.
	SetMetadata bool
	// ClusterName (controller) is recorded as csi.ceph.com/cluster/name.
	ClusterName string
	// ControllerSecretDir (controller) is a mounted Secret with the
	// controller's own CephX credential, for ListVolumes,
	// ControllerGetVolume and GetCapacity, whose requests carry no secrets.
	// Empty: those are not advertised.
	ControllerSecretDir string
	// ProcFilesystems is the kernel's list of filesystems (node), which
	// tells whether it has a CephFS client and SELinux. Not a flag: tests
	// point it at a list of their own.
	ProcFilesystems string
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	host, _ := os.Hostname()
	return Options{
		Endpoint:       "unix:///var/lib/kubelet/plugins/cephfs-csi.io/csi.sock",
		DriverName:     "cephfs-csi.io",
		NodeID:         host,
		Mode:           ModeAll,
		ClusterConfig:  "/etc/ceph-csi-config/config.json",
		CephTimeout:    10 * time.Second,
		DrainTimeout:   30 * time.Second,
		DefaultMounter: "auto",
		KeyDir:         "/run/cephfs-csi/keys",
		MountTimeout:   2 * time.Minute,
		SetMetadata:    true,

		PluginRegistrationDir: "/var/lib/kubelet/plugins_registry",
		MountHolderRoot:       "/var/lib/kubelet",
		ProcFilesystems:       "/proc/filesystems",
	}
}

// Driver is a configured, listening driver.
type Driver struct {
	opts    Options
	cfg     *config.Config
	pool    *ceph.Pool
	server  *server.Server
	metrics *metrics.Metrics
	// releaser returns memory to the system after bursts (memory.go).
	releaser *releaser
}

// New validates opts, reads the cluster config and opens the endpoint.
func New(opts Options) (*Driver, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg, err := config.Load(opts.ClusterConfig)
	if err != nil {
		return nil, err
	}
	runsController := opts.Mode == ModeController || opts.Mode == ModeAll
	runsNode := opts.Mode == ModeNode || opts.Mode == ModeAll
	d := &Driver{opts: opts, cfg: cfg, metrics: metrics.New(), releaser: newReleaser(releaseQuiet, releaseMemory)}
	var ns *node.Server
	if runsNode {
		if ns, err = d.newNodeServer(opts, cfg); err != nil {
			return nil, err
		}
	}
	if d.server, err = server.New(opts.Endpoint, releasingObserver{d.metrics, d.releaser}); err != nil {
		return nil, err
	}
	// Connections are made on first use: a node opens one only for a
	// volume whose context lacks its path or its filesystem.
	d.pool = ceph.NewPool(opts.CephTimeout, 5*time.Minute)
	d.pool.Observer = d.metrics
	csi.RegisterIdentityServer(d.server.GRPC, identity.New(opts.DriverName, Version, runsController, d.probe))
	if runsController {
		csi.RegisterControllerServer(d.server.GRPC, controller.New(cfg, d.connect, controller.Options{SetMetadata: opts.SetMetadata, ClusterName: opts.ClusterName, SecretDir: opts.ControllerSecretDir}))
	}
	if runsNode {
		csi.RegisterNodeServer(d.server.GRPC, ns)
	}
	return d, nil
}

func (d *Driver) newNodeServer(opts Options, cfg *config.Config) (*node.Server, error) {
	kernelOK := mounter.KernelSupported(context.Background(), mounter.ExecRunner, opts.ProcFilesystems)
	selinux := mounter.SELinuxEnabled(opts.ProcFilesystems)
	m := mount.New("")
	fuse := &mounter.Fuse{Run: mounter.ExecRunner, KeyDir: opts.KeyDir}
	if opts.MountHolderSocket != "" {
		fuse.Holder = &mountholder.Client{Socket: opts.MountHolderSocket}
	}
	ns, err := node.New(node.Options{
		NodeID:          opts.NodeID,
		Config:          cfg,
		Mount:           m,
		Binds:           mounter.Syscalls{},
		Fuse:            fuse,
		Kernel:          &mounter.Kernel{Mounter: m, KeyDir: opts.KeyDir},
		KernelSupported: kernelOK,
		SELinux:         selinux,
		DefaultMounter:  opts.DefaultMounter,
		MountTimeout:    opts.MountTimeout,
		SubvolumePath:   d.subvolumePath,
		BackingSnapshot: d.backingSnapshot,
		Filesystems:     d.filesystems,
		Topology:        map[string]string{TopologyKey(opts.DriverName): "true"},
	})
	if err != nil {
		return nil, fmt.Errorf("--default-mounter: %w", err)
	}
	klog.InfoS("Node mounters", "kernelCephFS", kernelOK, "selinux", selinux, "default", opts.DefaultMounter, "mountHolder", opts.MountHolderSocket)
	if fuse.Holder != nil {
		relearn(ns)
	}
	warnIfNotTmpfs(opts.KeyDir)
	if n, err := mounter.RemoveKeyFiles(opts.KeyDir); err != nil {
		klog.ErrorS(err, "Cannot clean the key directory", "dir", opts.KeyDir)
	} else if n > 0 {
		klog.InfoS("Removed key files left by an earlier run", "count", n, "dir", opts.KeyDir)
	}
	return ns, nil
}

// relearn takes back, before any RPC, what the mount holder's mounts were
// made with. A holder that does not answer holds no live mount (its
// ceph-fuse processes die with its container): nothing is lost but a log.
func relearn(ns *node.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := ns.Relearn(ctx)
	if err != nil {
		klog.ErrorS(err, "Cannot learn the mount holder's mounts: a mount of it that dies later is mounted again only by a new NodeStage")
		return
	}
	klog.InfoS("Learned the mount holder's mounts", "count", n)
}

// warnIfNotTmpfs logs when key files would land on a disk: they live for
// the length of a mount command, but a crash at the wrong moment leaves one.
func warnIfNotTmpfs(dir string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		klog.ErrorS(err, "Cannot create the key directory", "dir", dir)
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC {
		klog.Warningf("The key directory %s is not on tmpfs: put --keys-dir on a memory-backed volume", dir)
	}
}

func (o Options) validate() error {
	switch o.Mode {
	case ModeController, ModeNode, ModeAll:
	case ModeMountHolder:
		return errors.New("--mode=mount-holder runs no CSI service: use RunMountHolder")
	default:
		return fmt.Errorf("--mode=%q: want controller, node, all or mount-holder", o.Mode)
	}
	if o.DriverName == "" {
		return errors.New("--drivername is empty")
	}
	if o.Mode != ModeController && o.NodeID == "" {
		return errors.New("--nodeid is empty")
	}
	if o.CephTimeout < time.Second {
		return fmt.Errorf("--ceph-timeout=%s: want at least 1s", o.CephTimeout)
	}
	return nil
}

func (d *Driver) connect(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) (controller.Session, error) {
	a, err := d.pool.Connect(ctx, cluster, creds)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// subvolumePath asks the mgr for a subvolume's path (node, legacy volumes).
func (d *Driver) subvolumePath(ctx context.Context, cluster *config.Cluster, creds contract.Credentials, fsName, group, name string) (string, error) {
	a, err := d.pool.Connect(ctx, cluster, creds)
	if err != nil {
		return "", err
	}
	defer a.Release()
	return a.SubvolumePath(ctx, fsName, group, name)
}

// backingSnapshot reads, in ceph-csi's journal, the snapshot name behind a
// shallow volume ceph-csi made (node): the volume's entry names the
// snapshot's handle, whose entry names the snapshot.
func (d *Driver) backingSnapshot(ctx context.Context, cluster *config.Cluster, creds contract.Credentials, fsName, volumeID string) (string, error) {
	h, err := volumeid.DecodeCephCSI(volumeID)
	if err != nil {
		return "", contract.Invalid("volume ID: %v", err)
	}
	a, err := d.pool.Connect(ctx, cluster, creds)
	if err != nil {
		return "", err
	}
	defer a.Release()
	ns := cluster.CephFS.RadosNamespace
	if ns == "" {
		ns = ceph.DefaultCephCSIRNS
	}
	vol, err := a.CephCSIEntry(ctx, fsName, ns, ceph.CephCSIVolumes, h.UUID)
	if err != nil {
		return "", err
	}
	snap, err := volumeid.DecodeCephCSI(vol.BackingSnapshot)
	if err != nil {
		return "", fmt.Errorf("%w: ceph-csi's journal of %s names no snapshot (%q)", contract.ErrFailedPrecondition, volumeID, vol.BackingSnapshot)
	}
	entry, err := a.CephCSIEntry(ctx, fsName, ns, ceph.CephCSISnapshots, snap.UUID)
	if err != nil {
		return "", fmt.Errorf("snapshot %s: %w", vol.BackingSnapshot, err)
	}
	return entry.Name, nil
}

// filesystems lists a cluster's filesystems (node, static volumes without
// fsName): one mon command, `fs ls`, which a node user's "mon 'allow r'"
// permits.
func (d *Driver) filesystems(ctx context.Context, cluster *config.Cluster, creds contract.Credentials) ([]string, error) {
	a, err := d.pool.Connect(ctx, cluster, creds)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	return a.Filesystems(ctx)
}

// probe checks that a monitor of every configured cluster answers.
func (d *Driver) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	clusters := d.cfg.Clusters()
	errList := make([]error, len(clusters))
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Go(func() {
			if err := ceph.ProbeMonitors(ctx, c); err != nil {
				errList[i] = fmt.Errorf("cluster %q unreachable: %w", c.ClusterID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errList...)
}

// Addr is where the driver listens.
func (d *Driver) Addr() string { return d.server.Addr().String() }

// Run serves until ctx ends, then drains in-flight RPCs and removes the
// socket.
func (d *Driver) Run(ctx context.Context) error {
	klog.InfoS("Driver started", "name", d.opts.DriverName, "version", Version, "mode", d.opts.Mode,
		"endpoint", d.opts.Endpoint, "nodeID", d.opts.NodeID, "clusters", len(d.cfg.Clusters()), "mallocArenas", MallocArenas())
	if d.opts.KubeletRegistrationPath != "" && d.opts.Mode != ModeController {
		go func() {
			if err := registration.Serve(ctx, registration.Options{
				DriverName: d.opts.DriverName, Endpoint: d.opts.KubeletRegistrationPath, Dir: d.opts.PluginRegistrationDir,
			}); err != nil {
				klog.ErrorS(err, "Kubelet registration stopped")
			}
		}()
	}
	if d.opts.MetricsAddress != "" {
		go func() {
			// /healthz runs the very check the Identity service's Probe
			// runs, so the two never disagree.
			if err := d.metrics.Serve(ctx, d.opts.MetricsAddress, d.probe); err != nil {
				klog.ErrorS(err, "Metrics server stopped")
			}
		}()
	}
	err := d.server.Serve(ctx, d.opts.DrainTimeout)
	d.releaser.stop()
	d.pool.Close()
	return err
}
