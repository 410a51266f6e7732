package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountopts"
)

// selinuxConfig is the file without which mount(8) (libmount, through
// libselinux's is_selinux_enabled) believes SELinux off and drops every
// SELinux option before it runs mount.ceph, without a word: the node
// plugin's container must see the host's /etc/selinux.
const selinuxConfig = "/etc/selinux/config"

// selinuxOptions applies the node's SELinux to a mount's options (see
// docs/design.md, "SELinux"). On a node without SELinux an SELinux option
// is dropped: no label is enforced there, and a context= label lives in
// the mounted superblock only (nothing is written to the files), so the
// volume behaves the same with or without it — while the kernel's FUSE
// would refuse the mount, and mount(8) drops it for the kernel client
// anyway. The kubelet sends one only to a node with SELinux; a user's
// mount option reaches every node. With SELinux, the kernel client's
// mount needs the host's SELinux config (selinuxConfig) to keep it.
func (s *Server) selinuxOptions(ctx context.Context, mounterName string, opts []string) ([]string, error) {
	var kept, dropped, labels []string
	for _, o := range opts {
		switch {
		case !mountopts.IsSELinux(o):
			kept = append(kept, o)
		case s.selinux:
			kept, labels = append(kept, o), append(labels, o)
		default:
			dropped = append(dropped, o)
		}
	}
	if len(dropped) > 0 {
		klog.FromContext(ctx).V(2).Info("Mounting without the SELinux options: this node's kernel has no SELinux, so no label would be enforced", "dropped", dropped)
	}
	if len(labels) > 0 && mounterName == contract.MounterKernel {
		if _, err := os.Stat(s.selinuxConfig); errors.Is(err, os.ErrNotExist) {
			return nil, contract.Errorf(contract.ErrFailedPrecondition,
				"the SELinux option %s cannot reach the kernel client: mount(8) in the node plugin drops SELinux options unless it sees the host's %s (mount the host's /etc/selinux into the node plugin, as deploy/csi does)",
				labels[0], s.selinuxConfig)
		} else if err != nil {
			return nil, fmt.Errorf("SELinux config: %w", err)
		}
	}
	return kept, nil
}
