package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node plugin in the kubelet e2e test: the driver's image (hack/image.sh)
// runs as a DaemonSet pod, registers itself with the kubelet (built-in
// registration, no node-driver-registrar), and the kubelet stages and
// publishes a static PV of a subvolume of an embedded Ceph cluster into a
// busybox pod.
const (
	// driverImageVersion is the --version given to hack/image.sh.
	driverImageVersion = "e2e"
	// driverImage is how hack/image.sh tags the image it builds.
	driverImage = "quay.io/cephfs-csi/cephfs-csi:" + driverImageVersion
	// nodePluginName and controllerName name deploy/csi's DaemonSet and
	// Deployment.
	nodePluginName = "cephfs-csi-node"
	controllerName = "cephfs-csi-controller"
	// kubeletConfigMap holds the driver's cluster config
	// (deploy/csi/configmap-cluster-config.yaml).
	kubeletConfigMap = "ceph-csi-config"
	// kubeletSubvolume is the static volume's subvolume, kubeletPV and
	// kubeletPVC its PV and claim, kubeletVolumePod the pod that mounts it.
	kubeletSubvolume = "kubelet-static"
	kubeletPV        = "kubelet-static-pv"
	kubeletPVC       = "kubelet-static"
	kubeletVolumePod = "kubelet-cephfs"
	kubeletVolSize   = 1 << 30
	// kubeletVolumeText is what the pod writes into the volume.
	kubeletVolumeText = "written through the kubelet into a CephFS subvolume"
)

// buildDriverImage runs hack/image.sh (warm: seconds, its trees are cached
// machine-wide) and keeps the tarball it writes for importDriverImage.
func (n *node) buildDriverImage(ctx context.Context) error {
	out, err := n.runScript(ctx, "image.sh", "--version", driverImageVersion)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	file := strings.TrimSpace(lines[len(lines)-1])
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("hack/image.sh printed %q: %w", file, err)
	}
	n.driverImageFile = file
	return nil
}

// importDriverImage loads the driver's image into containerd.
func (n *node) importDriverImage(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ctr", "--address", n.containerdSock(), "-n", "k8s.io",
		"images", "import", n.driverImageFile).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", n.driverImageFile, err, out)
	}
	list, err := n.crictl(ctx, "images")
	if err != nil {
		return err
	}
	if !strings.Contains(list, "quay.io/cephfs-csi/cephfs-csi") {
		return fmt.Errorf("CRI does not list %s after the import:\n%s", driverImage, list)
	}
	return nil
}

// bootKubeletCeph boots the test's own Ceph cluster in _build/cluster-kubelet
// (or reuses it); teardown wipes it.
func (n *node) bootKubeletCeph(ctx context.Context) error {
	var err error
	n.ceph, err = bootCeph(ctx, n.repo, filepath.Join(n.repo, "_build", "cluster-kubelet"), "kubelet", filepath.Join(n.logs, "ceph-cluster.log"))
	return err
}

// startWorkloadControllers starts a kube-controller-manager of its own for
// what the harness's does not run because nothing there needs nodes or
// pods: DaemonSets, Deployments (and their ReplicaSets) and Jobs; installs
// the snapshot CRDs and starts the snapshot-controller (cluster
// infrastructure, not part of deploy/csi: a host process, as in TestKubernetes).
func (n *node) startWorkloadControllers(ctx context.Context) error {
	if err := n.start("kube-controller-manager-workloads", n.tool("kube-controller-manager"),
		"--kubeconfig="+n.cp.adminKubeconfig,
		"--controllers=daemonset-controller,deployment-controller,replicaset-controller,job-controller",
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return err
	}
	if err := n.installSnapshotCRDs(ctx); err != nil {
		return err
	}
	return n.startSnapshotController()
}

// waitDriverRegistered waits until the node plugin's pod runs and the
// kubelet's plugin watcher has registered the driver: the CSINode lists it.
func (n *node) waitDriverRegistered(ctx context.Context) error {
	err := n.waitUntil(ctx, "node plugin pod Running", 2*time.Minute, func(ctx context.Context) error {
		pods, err := n.kube.core.CoreV1().Pods(driverNamespace).List(ctx, metav1.ListOptions{LabelSelector: nodeLabels})
		if err != nil {
			return err
		}
		if len(pods.Items) != 1 {
			return fmt.Errorf("%d node plugin pods; DaemonSet events: %s", len(pods.Items), n.eventsIn(ctx, driverNamespace, "DaemonSet", nodePluginName))
		}
		p := pods.Items[0]
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod %s: phase %s %+v; events: %s", p.Name, p.Status.Phase, p.Status.ContainerStatuses, n.eventsIn(ctx, driverNamespace, "Pod", p.Name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return n.waitUntil(ctx, "CSINode "+n.name+" lists "+driverName, time.Minute, func(ctx context.Context) error {
		csiNode, err := n.kube.core.StorageV1().CSINodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, d := range csiNode.Spec.Drivers {
			if d.Name == driverName {
				if d.NodeID != n.name {
					return permanent(fmt.Errorf("CSINode: driver %s has node ID %q, want %q", d.Name, d.NodeID, n.name))
				}
				return nil
			}
		}
		return fmt.Errorf("CSINode drivers: %+v", csiNode.Spec.Drivers)
	})
}

// kubeletVolumeHandle is the static PV's handle, in the driver's format.
func (n *node) kubeletVolumeHandle() string {
	return strings.Join([]string{"cfs1", clusterID, n.ceph.fs, n.ceph.group, kubeletSubvolume}, ":")
}

// kubeletStagingDir is where the kubelet stages the static PV.
func (n *node) kubeletStagingDir() string {
	return filepath.Join(n.kubeletRoot(), "plugins", "kubernetes.io", "csi", driverName, sha256Hex(n.kubeletVolumeHandle()))
}

// createStaticVolume makes a subvolume with the ceph CLI, a static PV of
// the driver for it and a claim bound to that PV.
func (n *node) createStaticVolume(ctx context.Context) error {
	path, err := n.ceph.createSubvolume(ctx, n.ceph.group, kubeletSubvolume, kubeletVolSize)
	if err != nil {
		return err
	}
	n.kubeletSubvolumePath = path
	pv := staticPV(kubeletPV, n.kubeletVolumeHandle(), kubeletVolSize, nodeSecret, map[string]string{
		"clusterID":      clusterID,
		"fsName":         n.ceph.fs,
		"subvolumeGroup": n.ceph.group,
		"subvolumeName":  kubeletSubvolume,
		"subvolumePath":  path,
	})
	if _, err := n.kube.core.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create PV: %w", err)
	}
	pvc := claimSpec(kubeletPVC, "", kubeletVolSize, nil)
	pvc.Spec.VolumeName = kubeletPV
	if _, err := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create PVC: %w", err)
	}
	_, bound, err := n.waitPVCBound(ctx, kubeletPVC, time.Minute)
	if err != nil {
		return err
	}
	if bound.Name != kubeletPV {
		return fmt.Errorf("PVC %s bound to %s, want %s", kubeletPVC, bound.Name, kubeletPV)
	}
	return nil
}

// runVolumePod runs a busybox pod with the claim at /data that writes a
// file and reads it back, then keeps running; the test reads the file
// through the staging mount, which the driver's container made and which
// propagated to the host: the subvolume's root.
func (n *node) runVolumePod(ctx context.Context) error {
	script := fmt.Sprintf(`set -e; echo %q > /data/file; cat /data/file > /data/readback; trap 'exit 0' TERM; sleep 3600 & wait`, kubeletVolumeText)
	pod := newBusyboxPod(kubeletVolumePod, "cephfs", script)
	pod.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: kubeletPVC},
	}
	if err := n.startPod(ctx, pod, corev1.PodRunning); err != nil {
		return err
	}
	staging := filepath.Join(n.kubeletStagingDir(), "globalmount")
	return n.waitUntil(ctx, "the pod's file in the subvolume", time.Minute, func(ctx context.Context) error {
		mounts, err := mountsUnder(staging)
		if err != nil {
			return err
		}
		if fstype, ok := mounts[staging]; !ok || !strings.Contains(fstype, "fuse") {
			return fmt.Errorf("%s is not a ceph-fuse mount on the host: %v", staging, mounts)
		}
		if procs := processesNaming(staging, "ceph-fuse"); len(procs) != 1 {
			return fmt.Errorf("want one ceph-fuse process for %s, got %v", staging, procs)
		}
		for _, name := range []string{"file", "readback"} {
			data, err := os.ReadFile(filepath.Join(staging, name))
			if err != nil {
				return err
			}
			if got := strings.TrimSpace(string(data)); got != kubeletVolumeText {
				return fmt.Errorf("%s holds %q, want %q", name, got, kubeletVolumeText)
			}
		}
		return nil
	})
}

// checkUnstaged waits until the kubelet has unpublished and unstaged every
// volume: nothing mounted below the CSI staging directories or the pods'
// directories, and no ceph-fuse process for a staging path.
func (n *node) checkUnstaged(ctx context.Context) error {
	staging := filepath.Join(n.kubeletRoot(), "plugins", "kubernetes.io", "csi")
	return n.waitUntil(ctx, "the volume unstaged", time.Minute, func(ctx context.Context) error {
		var left []string
		for _, dir := range []string{staging, filepath.Join(n.kubeletRoot(), "pods")} {
			mounts, err := mountsUnder(dir)
			if err != nil {
				return err
			}
			for m, fstype := range mounts {
				if strings.Contains(fstype, "fuse") || strings.Contains(m, "kubernetes.io~csi") || strings.HasPrefix(m, staging) {
					left = append(left, m+" ("+fstype+")")
				}
			}
		}
		if len(left) != 0 {
			return fmt.Errorf("still mounted: %v", left)
		}
		if procs := processesNaming(staging, "ceph-fuse"); len(procs) != 0 {
			return fmt.Errorf("ceph-fuse still running: %v", procs)
		}
		return nil
	})
}

// deleteDriver deletes the controller Deployment, the node plugin and mount
// holder DaemonSets and waits until their pods are gone.
func (n *node) deleteDriver(ctx context.Context) error {
	apps := n.kube.core.AppsV1()
	if err := apps.Deployments(driverNamespace).Delete(ctx, controllerName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for _, ds := range []string{nodePluginName, holderName} {
		if err := apps.DaemonSets(driverNamespace).Delete(ctx, ds, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return n.waitGone(ctx, "the driver's pods", 2*time.Minute, func(ctx context.Context) error {
		pods, err := n.kube.core.CoreV1().Pods(driverNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=cephfs-csi"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("%d pods left", len(pods.Items))
		}
		return apierrors.NewNotFound(corev1.Resource("pods"), nodePluginName)
	})
}

// processesNaming returns the processes whose command line contains s and,
// if prog is set, whose program's base name is prog.
func processesNaming(s, prog string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	self := fmt.Sprint(os.Getpid())
	for _, ent := range entries {
		if ent.Name() == self || strings.Trim(ent.Name(), "0123456789") != "" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), s) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if prog != "" && filepath.Base(args[0]) != prog {
			continue
		}
		out = append(out, ent.Name()+" "+strings.Join(args, " "))
	}
	return out
}

// readSubvolume mounts the subvolume on the host with the host's ceph-fuse,
// away from the kubelet and the driver, and checks the file the pod wrote.
func (n *node) readSubvolume(ctx context.Context) error {
	mnt := filepath.Join(n.dir, "subvolume-check")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "ceph-fuse", mnt, "-c", n.ceph.desc.Conf, "--id", "admin",
		"--keyring", n.ceph.desc.Keyring, "--client_fs", n.ceph.fs, "-r", n.kubeletSubvolumePath)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ceph-fuse %s: %w: %s", n.kubeletSubvolumePath, err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "umount %s: %v: %s\n", mnt, err, out)
		}
	}()
	data, err := os.ReadFile(filepath.Join(mnt, "file"))
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(data)); got != kubeletVolumeText {
		return fmt.Errorf("%s/file holds %q, want %q", n.kubeletSubvolumePath, got, kubeletVolumeText)
	}
	return nil
}
