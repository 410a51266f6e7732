package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What happens to running pods when the kubelet restarts, and when the
// node plugin's pod goes away; and what must be left once everything is
// deleted: nothing.

// stagedFuseMounts returns the ceph-fuse mounts of staged volumes (path →
// mount id from /proc/self/mountinfo: a remount gets a new id).
func (n *node) stagedFuseMounts() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	staging := filepath.Join(n.kubeletRoot(), "plugins", "kubernetes.io", "csi") + "/"
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		before, after, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if ok && len(fields) >= 5 && len(tail) >= 1 && strings.HasPrefix(fields[4], staging) && strings.Contains(tail[0], "fuse") {
			out[fields[4]] = fields[0]
		}
	}
	return out, nil
}

// restartKubelet stops the kubelet while PostgreSQL runs on its volume and
// starts it again: the pod must keep its container (same id, no restart),
// the volume must stay mounted (the same mount, not a new one), the Node
// must be Ready again, and the rows must all be there.
func (n *node) restartKubelet(ctx context.Context) error {
	container, err := n.containerID(ctx, n.postgresPod.Name, "postgres")
	if err != nil {
		return err
	}
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	mounts, err := n.stagedFuseMounts()
	if err != nil {
		return err
	}
	id, ok := mounts[staging]
	if !ok {
		return fmt.Errorf("%s is not a ceph-fuse mount before the restart: %v", staging, mounts)
	}
	n.kubelet.stop(stopGrace)
	n.dropProcess(n.kubelet)
	stopped := time.Now()
	if err := n.launchKubelet("kubelet-restarted"); err != nil {
		return err
	}
	// The kubelet's heartbeat is its Lease (the Node's status is written
	// only on a change or every few minutes).
	err = n.waitUntil(ctx, "the restarted kubelet's heartbeat", 2*time.Minute, func(ctx context.Context) error {
		lease, err := n.kube.core.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if renew := lease.Spec.RenewTime; renew == nil || !renew.After(stopped) {
			return fmt.Errorf("Lease renewed at %v, before the restart", renew)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := n.waitNodeReady(ctx); err != nil {
		return err
	}
	n.timings["kubelet restart to Ready"] = time.Since(stopped)
	// The volume manager reconstructs its state from the pods' directories
	// and the mounts; give its reconciler a few rounds, then check nothing
	// was remounted or restarted.
	time.Sleep(10 * time.Second)
	after, err := n.stagedFuseMounts()
	if err != nil {
		return err
	}
	if after[staging] != id {
		return fmt.Errorf("%s: mount id %s before the restart, %q after", staging, id, after[staging])
	}
	if again, err := n.containerID(ctx, n.postgresPod.Name, "postgres"); err != nil || again != container {
		return fmt.Errorf("postgres container %s before the restart, %s after (%v)", container, again, err)
	}
	p, err := n.kube.core.CoreV1().Pods(testNamespace).Get(ctx, n.postgresPod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount != 0 || !c.Ready {
			return fmt.Errorf("postgres after the kubelet restart: restarts %d, ready %v", c.RestartCount, c.Ready)
		}
	}
	rows, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	if rows != n.rowsSeen {
		return fmt.Errorf("rows (accounts history) %q before the kubelet restart, %q after", n.rowsSeen, rows)
	}
	return nil
}

// claimStagingPath is where the kubelet stages the volume of a claim.
func (n *node) claimStagingPath(ctx context.Context, claim string) (string, error) {
	pvc, err := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	pv, err := n.kube.core.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pv.Spec.CSI == nil {
		return "", fmt.Errorf("PV %s is not a CSI volume", pv.Name)
	}
	return filepath.Join(n.kubeletRoot(), "plugins", "kubernetes.io", "csi", driverName, sha256Hex(pv.Spec.CSI.VolumeHandle), "globalmount"), nil
}

// dropProcess forgets a stopped process, so that waits do not take its end
// for a failure.
func (n *node) dropProcess(p *process) {
	for i, q := range n.procs {
		if q == p {
			n.procs = append(n.procs[:i], n.procs[i+1:]...)
			return
		}
	}
}

// deleteNodePluginPod is the baseline for the work on mounts that outlive
// the node plugin: while pgbench writes to PostgreSQL, the node plugin's
// pod is deleted (the DaemonSet starts a new one). It records what became
// of the ceph-fuse mount, of the server and of the writer, and whether a
// new server pod gets its volume back; it fails only when the test cannot
// observe those, since today's behaviour (README: pods lose ceph-fuse
// mounts with the node plugin) is what it measures.
func (n *node) deleteNodePluginPod(ctx context.Context) error {
	const writer = "pgbench-writer"
	jobs := n.kube.core.BatchV1().Jobs(testNamespace)
	if err := n.startWriter(ctx, writer, 60); err != nil {
		return err
	}
	time.Sleep(5 * time.Second) // pgbench is writing
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	plugins, err := n.waitPodsReady(ctx, driverNamespace, nodeLabels, 1, time.Minute)
	if err != nil {
		return err
	}
	old := plugins[0].Name
	deleted := time.Now()
	if err := n.kube.core.CoreV1().Pods(driverNamespace).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := n.waitNodePluginWith(ctx, notNamed(old)); err != nil {
		return err
	}
	var report []string
	note := func(format string, args ...any) { report = append(report, fmt.Sprintf(format, args...)) }
	note("new node plugin pod ready %v after the delete", time.Since(deleted).Round(100*time.Millisecond))
	_, statErr := os.Stat(staging)
	note("PostgreSQL's staged ceph-fuse mount: stat: %v; ceph-fuse processes for it: %d", statErr, len(processesNaming(staging, "ceph-fuse")))
	time.Sleep(15 * time.Second) // what the server and the writer make of it
	if p, err := n.kube.core.CoreV1().Pods(testNamespace).Get(ctx, n.postgresPod.Name, metav1.GetOptions{}); err == nil {
		for _, c := range p.Status.ContainerStatuses {
			note("postgres pod %s: ready %v, restarts %d, state %s", p.Name, c.Ready, c.RestartCount, containerState(c))
		}
	}
	if j, err := jobs.Get(ctx, writer, metav1.GetOptions{}); err == nil {
		note("pgbench writer: active %d, succeeded %d, failed %d; its output: %s", j.Status.Active, j.Status.Succeeded, j.Status.Failed,
			lastLines(n.jobOutput(ctx, writer), 3))
	}
	// Does a new server pod get its data back? (The kubelet stages the
	// volume again only once no pod uses it.)
	old = n.postgresPod.Name
	if err := n.kube.core.CoreV1().Pods(testNamespace).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		return err
	}
	begin := time.Now()
	if pod, err := n.waitPostgres(ctx, old, time.Minute); err != nil {
		note("a new postgres pod did not become ready: %v", err)
	} else {
		n.postgresPod = pod
		rows, err := n.rowCounts(ctx)
		note("a new postgres pod was ready after %v; rows (accounts history): %q (%v)", time.Since(begin).Round(100*time.Millisecond), rows, err)
	}
	background := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, writer, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	n.pluginDeletion = report
	return nil
}

// containerState says in a few words what a container is doing.
func containerState(c corev1.ContainerStatus) string {
	switch s := c.State; {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason
	case s.Terminated != nil:
		return fmt.Sprintf("terminated: %s (exit %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "unknown"
}

// lastLines is the last n lines of s, on one line.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// deleteEverything deletes the workload, the claims, the snapshot and the
// static volume, waits until the driver has deleted their subvolumes and
// the kubelet has unstaged them, removes the static subvolume (Retain),
// and checks that nothing is left: no subvolume in the group, no mount of
// a volume and no ceph-fuse process below the kubelet root, no key file in
// the node plugin's key directory.
func (n *node) deleteEverything(ctx context.Context) error {
	if err := n.deletePostgres(ctx); err != nil {
		return err
	}
	claims := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace)
	for _, name := range []string{postgresClaim, rwxClaim, roxClaim, kubeletPVC} {
		if err := claims.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	// After the claims: the ReadOnlyMany claim is a shallow volume of the
	// snapshot, whose deletion is refused (and retried with a growing
	// backoff) while that volume exists.
	err := n.kube.snap.SnapshotV1().VolumeSnapshots(testNamespace).Delete(ctx, rwxSnapshot, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := n.kube.core.CoreV1().PersistentVolumes().Delete(ctx, kubeletPV, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := n.waitGone(ctx, "every PV", 3*time.Minute, func(ctx context.Context) error {
		pvs, err := n.kube.core.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pvs.Items) != 0 {
			var names []string
			for _, pv := range pvs.Items {
				names = append(names, pv.Name+" ("+string(pv.Status.Phase)+")")
			}
			return fmt.Errorf("PVs left: %v", names)
		}
		return apierrors.NewNotFound(corev1.Resource("persistentvolumes"), "")
	}); err != nil {
		return err
	}
	if err := n.waitGone(ctx, "every VolumeSnapshotContent", 2*time.Minute, func(ctx context.Context) error {
		contents, err := n.kube.snap.SnapshotV1().VolumeSnapshotContents().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(contents.Items) != 0 {
			return fmt.Errorf("%d left", len(contents.Items))
		}
		return apierrors.NewNotFound(corev1.Resource("volumesnapshotcontents"), "")
	}); err != nil {
		return err
	}
	if _, err := n.ceph.ceph(ctx, "fs", "subvolume", "rm", n.ceph.fs, kubeletSubvolume, "--group_name", n.ceph.group); err != nil {
		return err
	}
	if err := n.checkUnstaged(ctx); err != nil {
		return err
	}
	return n.waitUntil(ctx, "nothing left", time.Minute, func(ctx context.Context) error {
		left, err := n.ceph.subvolumes(ctx, n.ceph.group)
		if err != nil {
			return err
		}
		if len(left) != 0 {
			return fmt.Errorf("subvolumes left in %s: %v", n.ceph.group, left)
		}
		if procs := processesNaming(n.kubeletRoot(), "ceph-fuse"); len(procs) != 0 {
			return fmt.Errorf("ceph-fuse processes left: %v", procs)
		}
		keys, err := filepath.Glob(filepath.Join(n.kubeletRoot(), "pods", "*", "volumes", "kubernetes.io~empty-dir", "keys-dir", "*"))
		if err != nil {
			return err
		}
		if len(keys) != 0 {
			sort.Strings(keys)
			return fmt.Errorf("key files left: %v", keys)
		}
		return nil
	})
}
