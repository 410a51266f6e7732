package mounter

import (
	"fmt"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// Choose is the one rule for which client mounts a volume. asked is what the
// volume context (or, for the node's default, --default-mounter) names;
// nodeDefault is used when it names nothing. "auto" and an empty default
// mean the kernel client where this kernel has one, else ceph-fuse. A volume
// that asks for the kernel client on a node without one gets ceph-fuse: the
// documented fallback, so one StorageClass serves mixed nodes.
func Choose(asked, nodeDefault string, kernelSupported bool) (string, error) {
	switch asked {
	case "", contract.MounterAuto:
		if nodeDefault != "" && nodeDefault != contract.MounterAuto {
			return Choose(nodeDefault, "", kernelSupported)
		}
		if kernelSupported {
			return contract.MounterKernel, nil
		}
		return contract.MounterFuse, nil
	case contract.MounterKernel:
		if !kernelSupported {
			return contract.MounterFuse, nil
		}
		return contract.MounterKernel, nil
	case contract.MounterFuse:
		return contract.MounterFuse, nil
	}
	return "", fmt.Errorf("mounter %q: want %s, %s or %s", asked, contract.MounterAuto, contract.MounterFuse, contract.MounterKernel)
}
