// Package node implements the CSI Node service: the subvolume is mounted once
// per node at the staging path (ceph-fuse or the kernel client) and
// bind-mounted into each pod's target path.
package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/locks"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
)

// Server is the Node service.
type Server struct {
	csi.UnimplementedNodeServer
	nodeID string
	// topology is NodeGetInfo's segment (Options.Topology).
	topology map[string]string
	cfg      *config.Config
	// mount checks mount points; binds makes and removes the node's
	// own mounts.
	mount    mount.Interface
	binds    Binder
	mounters map[string]mounter.Mounter
	// defaultMounter is used when the volume context names none, and in
	// place of the kernel client when this kernel has none.
	defaultMounter string
	kernelOK       bool
	mountTimeout   time.Duration
	inFlight       *locks.InFlight
	subvolumePath  PathLookup
	backingSnap    SnapshotLookup
	filesystems    FilesystemLookup
	sole           soleFilesystems
	staged         stagedMounts
	// inspect looks at a mounted volume for NodeGetVolumeHealth.
	inspect inspectFunc
	// selinux: the kernel has SELinux on (see selinuxOptions).
	selinux       bool
	selinuxConfig string
}

// Options configure a Node service.
type Options struct {
	NodeID string
	Config *config.Config
	Mount  mount.Interface
	// Binds makes the bind mounts and every unmount (mounter.Syscalls).
	Binds  Binder
	Fuse   mounter.Mounter
	Kernel mounter.Mounter
	// KernelSupported says whether the running kernel has a CephFS client.
	KernelSupported bool
	// SELinux says whether the running kernel has SELinux on
	// (mounter.SELinuxEnabled).
	SELinux bool
	// DefaultMounter is "auto", "fuse" or "kernel".
	DefaultMounter string
	MountTimeout   time.Duration
	// SubvolumePath, when set, serves volumes whose context names the
	// subvolume but not its path.
	SubvolumePath PathLookup
	// BackingSnapshot, when set, serves ceph-csi's shallow volumes.
	BackingSnapshot SnapshotLookup
	// Filesystems, when set, serves static volumes whose context names
	// no filesystem.
	Filesystems FilesystemLookup
	// Topology is the segment NodeGetInfo reports: the same on every node.
	Topology map[string]string
}

// New returns a Node service.
func New(o Options) (*Server, error) {
	def, err := mounter.Choose(o.DefaultMounter, "", o.KernelSupported)
	if err != nil {
		return nil, fmt.Errorf("default %w", err)
	}
	if o.Binds == nil {
		return nil, errors.New("no Binder for the bind mounts")
	}
	if o.DefaultMounter == contract.MounterKernel && def != contract.MounterKernel {
		klog.InfoS("The kernel has no CephFS client; using ceph-fuse instead", "defaultMounter", o.DefaultMounter)
	}
	if o.MountTimeout <= 0 {
		o.MountTimeout = 2 * time.Minute
	}
	return &Server{
		nodeID:         o.NodeID,
		topology:       maps.Clone(o.Topology),
		cfg:            o.Config,
		mount:          o.Mount,
		binds:          o.Binds,
		mounters:       map[string]mounter.Mounter{o.Fuse.Name(): o.Fuse, o.Kernel.Name(): o.Kernel},
		defaultMounter: def,
		kernelOK:       o.KernelSupported,
		selinux:        o.SELinux,
		selinuxConfig:  selinuxConfig,
		mountTimeout:   o.MountTimeout,
		inFlight:       locks.New(),
		subvolumePath:  o.SubvolumePath,
		backingSnap:    o.BackingSnapshot,
		filesystems:    o.Filesystems,
		inspect:        inspect,
	}, nil
}

// NodeGetInfo returns the node ID and a topology segment that every node
// running the node plugin shares. Volumes are reachable from every such
// node, so the controller advertises no accessibility constraints and
// volumes carry no node affinity; the segment serves capacity tracking: the
// kubelet labels the node with it and lists its key in the CSINode, and
// csi-provisioner then keeps one CSIStorageCapacity object per class
// selecting those nodes (without a key it makes objects with an empty
// selector that v6.4.0 deletes as soon as it sees them; docs/design.md).
func (s *Server) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: s.nodeID}
	if len(s.topology) > 0 {
		resp.AccessibleTopology = &csi.Topology{Segments: maps.Clone(s.topology)}
	}
	return resp, nil
}

var capabilities = []csi.NodeServiceCapability_RPC_Type{
	csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
	csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
}

// NodeGetCapabilities lists what the node does.
func (s *Server) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	resp := &csi.NodeGetCapabilitiesResponse{}
	for _, c := range capabilities {
		resp.Capabilities = append(resp.Capabilities, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: c}},
		})
	}
	return resp, nil
}

func requireMountCapability(c *csi.VolumeCapability) error {
	if c == nil {
		return contract.Invalid("volume capability is required")
	}
	if c.GetBlock() != nil {
		return contract.Invalid("block access is not supported: CephFS volumes are file systems")
	}
	if c.GetMount() == nil {
		return contract.Invalid("volume capability needs an access type (mount)")
	}
	return nil
}
