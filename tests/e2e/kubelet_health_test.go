package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// healthClaim and healthPod: the volume whose subvolume is removed
	// behind the driver's back.
	healthClaim = "health-pvc"
	healthPod   = "health-pod"
	// healthReason is the reason the node plugin gives for it
	// (contract.ReasonSubvolumeMissing; tests/e2e is a module of its own).
	healthReason = "SubvolumeMissing"
)

// volumeHealthOfRemovedSubvolume runs a pod on a provisioned claim, removes
// the claim's subvolume with the admin credential while the pod runs, and
// waits until the kubelet (CSIVolumeHealth, volumeStatsAggPeriod 10s) has
// written the node plugin's NodeGetVolumeHealth answer into
// pod.status.volumeHealth: Inaccessible, SubvolumeMissing. The kubelet 1.37
// records no Event for it (its volume health manager only patches the pod's
// status), so the pod's status is what is checked; the pod's Events are
// recorded to show it. Then the pod and the claim go: NodeUnpublish,
// NodeUnstage and DeleteVolume of a volume whose subvolume is gone succeed,
// and nothing stays mounted.
func (n *node) volumeHealthOfRemovedSubvolume(ctx context.Context) error {
	class := "cephfs-csi"
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: healthClaim, Namespace: testNamespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: &class,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
			},
		},
	}
	claims := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace)
	if _, err := claims.Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create claim %s: %w", healthClaim, err)
	}
	_, pv, err := n.waitPVCBound(ctx, healthClaim, 2*time.Minute)
	if err != nil {
		return err
	}
	script := `trap 'exit 0' TERM; echo before > /data/file; sleep 3600 & wait`
	pod := newBusyboxPod(healthPod, "health", script)
	pod.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: healthClaim},
	}
	if err := n.startPod(ctx, pod, corev1.PodRunning); err != nil {
		return err
	}

	attrs := pv.Spec.CSI.VolumeAttributes
	if _, err := n.ceph.ceph(ctx, "fs", "subvolume", "rm", n.ceph.fs, attrs["subvolumeName"], "--group_name", attrs["subvolumeGroup"]); err != nil {
		return err
	}
	removed := time.Now()
	pods := n.kube.core.CoreV1().Pods(testNamespace)
	var seen corev1.VolumeHealthCondition
	err = n.waitUntil(ctx, "pod.status.volumeHealth of "+healthPod+" Inaccessible "+healthReason, 2*time.Minute, func(ctx context.Context) error {
		p, err := pods.Get(ctx, healthPod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, vh := range p.Status.VolumeHealth {
			if vh.Name != "data" {
				continue
			}
			for _, c := range vh.HealthConditions {
				if c.Status == corev1.VolumeHealthInaccessible && c.Reason == healthReason {
					seen = c
					return nil
				}
			}
		}
		return fmt.Errorf("volumeHealth %+v", p.Status.VolumeHealth)
	})
	if err != nil {
		return err
	}
	took := time.Since(removed)
	n.timings["volume health: subvolume removed to pod.status.volumeHealth"] = took
	n.volumeHealth = append(n.volumeHealth,
		fmt.Sprintf("pod.status.volumeHealth[data] %s %s %q, %v after the removal", seen.Status, seen.Reason, seen.Message, took.Round(time.Millisecond)),
		"events of the pod: "+n.events(ctx, "Pod", healthPod),
		"events of the claim: "+n.events(ctx, "PersistentVolumeClaim", healthClaim))

	// Teardown of a volume whose subvolume is gone.
	if err := n.deletePod(ctx, healthPod); err != nil {
		return err
	}
	staging := filepath.Join(n.kubeletRoot(), "plugins", "kubernetes.io", "csi", driverName, sha256Hex(pv.Spec.CSI.VolumeHandle))
	if err := n.waitUntil(ctx, "the removed volume unstaged", time.Minute, func(context.Context) error {
		mounts, err := mountsUnder(staging)
		if err != nil {
			return err
		}
		var left []string
		for m, fstype := range mounts {
			left = append(left, m+" ("+fstype+")")
		}
		if len(left) != 0 {
			return fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := claims.Delete(ctx, healthClaim, metav1.DeleteOptions{}); err != nil {
		return err
	}
	return n.waitGone(ctx, "PV "+pv.Name+" (DeleteVolume of a removed subvolume)", 2*time.Minute, func(ctx context.Context) error {
		_, err := n.kube.core.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return err
	})
}
