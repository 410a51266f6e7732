package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeCallTimeout bounds one node RPC (the driver's --mount-timeout is 2m).
const nodeCallTimeout = 2*time.Minute + 10*time.Second

// kubelet plays the kubelet's part for PVs of the driver: without a kubelet
// (and without pods) the test makes the node calls itself, the way the
// kubelet makes them: the staging and target paths it would use, the PV's
// volume handle and attributes, and the secret the PV names.
type kubelet struct {
	node   csi.NodeClient
	core   kubernetes.Interface
	root   string                  // stands for /var/lib/kubelet
	mounts map[string]*volumeMount // by PV name
}

// volumeMount is a PV staged and published into one (imaginary) pod.
type volumeMount struct {
	pv      *corev1.PersistentVolume
	request nodeRequest
	staging string
	target  string
}

// nodeRequest is what the node calls of one PV share.
type nodeRequest struct {
	volumeID   string
	context    map[string]string
	capability *csi.VolumeCapability
	secrets    map[string]string
}

func newKubelet(node csi.NodeClient, core kubernetes.Interface, root string) *kubelet {
	return &kubelet{node: node, core: core, root: root, mounts: map[string]*volumeMount{}}
}

// mount stages the PV and publishes it into a pod's volume directory, and
// returns the directory the pod would see.
func (k *kubelet) mount(ctx context.Context, pvName string) (*volumeMount, error) {
	if vm, ok := k.mounts[pvName]; ok {
		return vm, nil
	}
	pv, err := k.core.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	req, err := k.nodeRequest(ctx, pv)
	if err != nil {
		return nil, fmt.Errorf("PV %s: %w", pvName, err)
	}
	if err := k.requireStaging(ctx); err != nil {
		return nil, err
	}
	vm := &volumeMount{
		pv:      pv,
		request: req,
		// The kubelet's paths: plugins/kubernetes.io/csi/<driver>/<sha256 of
		// the handle>/globalmount and pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount.
		staging: filepath.Join(k.root, "plugins", "kubernetes.io", "csi", driverName, sha256Hex(req.volumeID), "globalmount"),
		target:  filepath.Join(k.root, "pods", "pod-"+pvName, "volumes", "kubernetes.io~csi", pvName, "mount"),
	}
	if err := k.stage(ctx, vm); err != nil {
		return nil, fmt.Errorf("PV %s: %w", pvName, err)
	}
	k.mounts[pvName] = vm
	if err := k.publish(ctx, vm); err != nil {
		return nil, fmt.Errorf("PV %s: %w", pvName, err)
	}
	return vm, nil
}

// nodeRequest collects what the kubelet passes from the PV: its handle,
// attributes, the access mode as a capability and the node-stage secret.
func (k *kubelet) nodeRequest(ctx context.Context, pv *corev1.PersistentVolume) (nodeRequest, error) {
	src := pv.Spec.CSI
	if src == nil || src.Driver != driverName {
		return nodeRequest{}, fmt.Errorf("not a volume of driver %s: %+v", driverName, src)
	}
	if len(pv.Spec.AccessModes) != 1 {
		return nodeRequest{}, fmt.Errorf("want one access mode, got %v", pv.Spec.AccessModes)
	}
	mode, ok := map[corev1.PersistentVolumeAccessMode]csi.VolumeCapability_AccessMode_Mode{
		corev1.ReadWriteOnce:    csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		corev1.ReadOnlyMany:     csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		corev1.ReadWriteMany:    csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER,
		corev1.ReadWriteOncePod: csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
	}[pv.Spec.AccessModes[0]]
	if !ok {
		return nodeRequest{}, fmt.Errorf("unknown access mode %s", pv.Spec.AccessModes[0])
	}
	if src.NodeStageSecretRef == nil {
		return nodeRequest{}, fmt.Errorf("no nodeStageSecretRef")
	}
	secret, err := k.core.CoreV1().Secrets(src.NodeStageSecretRef.Namespace).Get(ctx, src.NodeStageSecretRef.Name, metav1.GetOptions{})
	if err != nil {
		return nodeRequest{}, fmt.Errorf("node-stage secret: %w", err)
	}
	secrets := map[string]string{}
	for key, value := range secret.Data {
		secrets[key] = string(value)
	}
	return nodeRequest{
		volumeID: src.VolumeHandle,
		context:  src.VolumeAttributes,
		capability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{
				FsType: src.FSType, MountFlags: pv.Spec.MountOptions,
			}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
		},
		secrets: secrets,
	}, nil
}

// register creates the Node and its CSINode entry for the driver, as the
// kubelet does when the node plugin registers: the node ID and topology keys
// from NodeGetInfo. csi-provisioner's capacity tracking makes objects only
// for the topology of nodes where the driver is registered.
func (k *kubelet) register(ctx context.Context) error {
	callCtx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	info, err := k.node.NodeGetInfo(callCtx, &csi.NodeGetInfoRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("NodeGetInfo: %w", err)
	}
	// The kubelet labels its node with the segment.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: info.GetNodeId(), Labels: info.GetAccessibleTopology().GetSegments()}}
	if node, err = k.core.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Node %s: %w", info.GetNodeId(), err)
	}
	var keys []string
	for key := range info.GetAccessibleTopology().GetSegments() {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	csiNode := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{
			Name:            node.Name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
		},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
			{Name: driverName, NodeID: info.GetNodeId(), TopologyKeys: keys},
		}},
	}
	if _, err := k.core.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create CSINode %s: %w", node.Name, err)
	}
	return nil
}

// requireStaging checks that the driver asks for NodeStageVolume, as the
// kubelet does before staging.
func (k *kubelet) requireStaging(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	resp, err := k.node.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		return fmt.Errorf("NodeGetCapabilities: %w", err)
	}
	for _, c := range resp.GetCapabilities() {
		if c.GetRpc().GetType() == csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME {
			return nil
		}
	}
	return fmt.Errorf("NodeGetCapabilities: no STAGE_UNSTAGE_VOLUME in %v", resp.GetCapabilities())
}

// stage creates the staging directory (the kubelet does) and stages.
func (k *kubelet) stage(ctx context.Context, vm *volumeMount) error {
	if err := os.MkdirAll(vm.staging, 0o750); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	_, err := k.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId:          vm.request.volumeID,
		StagingTargetPath: vm.staging,
		VolumeCapability:  vm.request.capability,
		Secrets:           vm.request.secrets,
		VolumeContext:     vm.request.context,
	})
	if err != nil {
		return fmt.Errorf("NodeStageVolume: %w", err)
	}
	if _, err := mountFSType(vm.staging); err != nil {
		return fmt.Errorf("after NodeStageVolume: %w", err)
	}
	return nil
}

// publish creates the target's parent (the kubelet does; the driver makes
// the target itself) and publishes.
func (k *kubelet) publish(ctx context.Context, vm *volumeMount) error {
	if err := os.MkdirAll(filepath.Dir(vm.target), 0o750); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	_, err := k.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId:          vm.request.volumeID,
		StagingTargetPath: vm.staging,
		TargetPath:        vm.target,
		VolumeCapability:  vm.request.capability,
		VolumeContext:     vm.request.context,
	})
	if err != nil {
		return fmt.Errorf("NodePublishVolume: %w", err)
	}
	if _, err := mountFSType(vm.target); err != nil {
		return fmt.Errorf("after NodePublishVolume: %w", err)
	}
	return nil
}

// unmount unpublishes and unstages the PV, and checks that nothing is left
// mounted.
func (k *kubelet) unmount(ctx context.Context, pvName string) error {
	vm, ok := k.mounts[pvName]
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*nodeCallTimeout)
	defer cancel()
	if _, err := k.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{
		VolumeId: vm.request.volumeID, TargetPath: vm.target,
	}); err != nil {
		return fmt.Errorf("PV %s: NodeUnpublishVolume: %w", pvName, err)
	}
	if _, err := k.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{
		VolumeId: vm.request.volumeID, StagingTargetPath: vm.staging,
	}); err != nil {
		return fmt.Errorf("PV %s: NodeUnstageVolume: %w", pvName, err)
	}
	delete(k.mounts, pvName)
	for _, path := range []string{vm.target, vm.staging} {
		if fstype, err := mountFSType(path); err == nil {
			return fmt.Errorf("PV %s: %s is still mounted (%s)", pvName, path, fstype)
		}
	}
	return nil
}

// unmountAll unmounts every PV still mounted, in a fixed order.
func (k *kubelet) unmountAll(ctx context.Context) error {
	names := make([]string, 0, len(k.mounts))
	for name := range k.mounts {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []string
	for _, name := range names {
		if err := k.unmount(ctx, name); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 0 {
		return fmt.Errorf("unmount: %s", strings.Join(errs, "; "))
	}
	return nil
}

// volumeStats calls NodeGetVolumeStats on the published path and returns
// the total bytes it reports.
func (k *kubelet) volumeStats(ctx context.Context, vm *volumeMount) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	resp, err := k.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{
		VolumeId: vm.request.volumeID, VolumePath: vm.target, StagingTargetPath: vm.staging,
	})
	if err != nil {
		return 0, fmt.Errorf("NodeGetVolumeStats: %w", err)
	}
	for _, u := range resp.GetUsage() {
		if u.GetUnit() == csi.VolumeUsage_BYTES {
			return u.GetTotal(), nil
		}
	}
	return 0, fmt.Errorf("NodeGetVolumeStats: no byte usage in %v", resp.GetUsage())
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// mountFSType returns the filesystem type mounted at path, or an error when
// path is not a mount point.
func mountFSType(path string) (string, error) {
	mounts, err := mountsUnder(path)
	if err != nil {
		return "", err
	}
	if fstype, ok := mounts[path]; ok {
		return fstype, nil
	}
	return "", fmt.Errorf("%s is not a mount point", path)
}

// mountsUnder returns the mount points at or below dir, with their
// filesystem types, from /proc/self/mountinfo.
func mountsUnder(dir string) (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mounts := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		before, after, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 1 {
			continue
		}
		point := fields[4]
		if point == dir || strings.HasPrefix(point, dir+"/") {
			mounts[point] = tail[0]
		}
	}
	return mounts, nil
}
