package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The mount holder (deploy/mount-holder, part of deploy/csi): ceph-fuse
// runs in its pods, so that the node plugin's restarts and upgrades leave
// PostgreSQL's mount alone. The phases before ran without it
// (deploy/without-mount-holder), to show what happens then.
const (
	// holderComponent is the kustomize component deploy/csi includes.
	holderComponent = "deploy/mount-holder"
	// withoutHolderComponent turns it off.
	withoutHolderComponent = "deploy/without-mount-holder"
	holderLabels           = "app.kubernetes.io/name=cephfs-csi,app.kubernetes.io/component=mount-holder"
	holderName             = "cephfs-csi-mount-holder"
	// holderSocketEnv is what the component sets in the node plugin.
	holderSocketEnv = "CEPHFS_CSI_MOUNT_HOLDER_SOCKET"
	// writerSeconds is how long a pgbench writer runs around a restart.
	writerSeconds = 40
)

// installWithoutHolder installs deploy/csi-builtin with the
// deploy/without-mount-holder component, through a kustomization of the
// test's own next to the repository's, as a user writes one.
func (n *node) installWithoutHolder(ctx context.Context) error {
	dir := filepath.Join(n.repo, "_build", "e2e-kubelet", "kustomize")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kustomization := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../../%s]
components: [../../../%s]
`, builtinOverlay, withoutHolderComponent)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		return err
	}
	return n.installKustomization(ctx, dir)
}

// enableMountHolder replaces the broken PostgreSQL of the baseline, then
// installs deploy/csi-builtin as shipped (the mount holder on) and waits
// until the holder runs and a node plugin that uses it is registered; then
// runs PostgreSQL again on its claim and checks that its ceph-fuse is the
// holder's child.
func (n *node) enableMountHolder(ctx context.Context) error {
	if err := n.deletePostgres(ctx); err != nil {
		return err
	}
	if err := n.checkUnstaged(ctx); err != nil {
		return err
	}
	if err := n.installDriver(ctx); err != nil {
		return err
	}
	if _, err := n.waitPodsReady(ctx, driverNamespace, holderLabels, 1, 2*time.Minute); err != nil {
		return err
	}
	if err := n.waitNodePluginWith(ctx, func(p corev1.Pod) bool { return hasEnv(p, holderSocketEnv) }); err != nil {
		return err
	}
	if err := n.waitDriverRegistered(ctx); err != nil {
		return err
	}
	if err := n.startPostgres(ctx); err != nil {
		return err
	}
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	procs := processesNaming(staging, "ceph-fuse")
	if len(procs) != 1 {
		return fmt.Errorf("want one ceph-fuse for %s, got %v", staging, procs)
	}
	pid := strings.Fields(procs[0])[0]
	parentPID, parent, err := parentCommand(pid)
	if err != nil {
		return err
	}
	if !strings.Contains(parent, "--mode=mount-holder") {
		return fmt.Errorf("PostgreSQL's ceph-fuse is not the mount holder's: its parent is %q", parent)
	}
	n.holderRuns = append(n.holderRuns, fmt.Sprintf("memory: PostgreSQL's ceph-fuse %s, the holder process itself %s",
		residentMemory(pid), residentMemory(parentPID)))
	return nil
}

// residentMemory is a process's VmRSS, as /proc says it.
func residentMemory(pid string) string {
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return err.Error()
	}
	if m := regexp.MustCompile(`(?m)^VmRSS:\s+(.*)$`).FindSubmatch(status); m != nil {
		return string(m[1])
	}
	return "?"
}

// deletePostgres deletes the PostgreSQL Deployment and waits for its pods
// to be gone; the claim stays.
func (n *node) deletePostgres(ctx context.Context) error {
	background := metav1.DeletePropagationBackground
	err := n.kube.core.AppsV1().Deployments(testNamespace).Delete(ctx, postgresDeployment, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return n.waitGone(ctx, "the postgres pods", 2*time.Minute, func(ctx context.Context) error {
		pods, err := n.kube.core.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: postgresLabels})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("%d pods", len(pods.Items))
		}
		return apierrors.NewNotFound(corev1.Resource("pods"), postgresDeployment)
	})
}

// waitNodePluginWith waits until the node plugin's one pod satisfies ok
// and is ready.
func (n *node) waitNodePluginWith(ctx context.Context, ok func(corev1.Pod) bool) error {
	_, err := n.waitOnePodWith(ctx, driverNamespace, nodeLabels, "the node plugin's new pod", 3*time.Minute, ok)
	return err
}

func hasEnv(p corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == name {
				return true
			}
		}
	}
	return false
}

// parentCommand is the pid and the command line of a process's parent.
func parentCommand(pid string) (string, string, error) {
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return "", "", err
	}
	m := regexp.MustCompile(`(?m)^PPid:\s+(\d+)`).FindSubmatch(status)
	if m == nil {
		return "", "", fmt.Errorf("no PPid in /proc/%s/status", pid)
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", string(m[1]), "cmdline"))
	if err != nil {
		return "", "", err
	}
	return string(m[1]), strings.ReplaceAll(string(cmdline), "\x00", " "), nil
}

// restartUnderHolder runs a pgbench writer, does disrupt (a node plugin
// restart) while it writes, and checks what the mount holder promises:
// the writer ends without an error, the server never restarted, its mount
// is the same mount, and the rows are all there. It records the writer's
// slowest seconds around the disruption.
func (n *node) restartUnderHolder(ctx context.Context, what string, disrupt func(context.Context) error) error {
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	mounts, err := n.stagedFuseMounts()
	if err != nil {
		return err
	}
	mountID, ok := mounts[staging]
	if !ok {
		return fmt.Errorf("%s is not a ceph-fuse mount before the %s", staging, what)
	}
	writer := fmt.Sprintf("pgbench-%d", len(n.holderRuns))
	if err := n.startWriter(ctx, writer, writerSeconds); err != nil {
		return err
	}
	time.Sleep(5 * time.Second)
	begin := time.Now()
	if err := disrupt(ctx); err != nil {
		return err
	}
	took := time.Since(begin)
	learned, err := n.learnedMounts(ctx, begin)
	if err != nil {
		return err
	}
	out, err := n.waitWriter(ctx, writer)
	if err != nil {
		return fmt.Errorf("the writer during the %s: %w", what, err)
	}
	p, err := n.kube.core.CoreV1().Pods(testNamespace).Get(ctx, n.postgresPod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount != 0 || !c.Ready {
			return fmt.Errorf("postgres after the %s: restarts %d, ready %v", what, c.RestartCount, c.Ready)
		}
	}
	if after, _ := n.stagedFuseMounts(); after[staging] != mountID {
		return fmt.Errorf("%s: mount id %s before the %s, %q after", staging, mountID, what, after[staging])
	}
	rows, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	rss := "?"
	if procs := processesNaming(staging, "ceph-fuse"); len(procs) == 1 {
		rss = residentMemory(strings.Fields(procs[0])[0])
	}
	n.holderRuns = append(n.holderRuns, fmt.Sprintf("%s: new node plugin ready in %v, learned %s mounts from the holder; writer: %s; "+
		"rows (accounts history) %s; the mount's ceph-fuse after it: %s",
		what, took.Round(100*time.Millisecond), learned, pgbenchSummary(out), rows, rss))
	return nil
}

// deleteNodePluginPodUnderHolder deletes the node plugin's pod and waits
// for the DaemonSet's new one.
func (n *node) deleteNodePluginPodUnderHolder(ctx context.Context) error {
	return n.restartUnderHolder(ctx, "node plugin pod deletion", func(ctx context.Context) error {
		pods, err := n.waitPodsReady(ctx, driverNamespace, nodeLabels, 1, time.Minute)
		if err != nil {
			return err
		}
		old := pods[0].Name
		if err := n.kube.core.CoreV1().Pods(driverNamespace).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
			return err
		}
		return n.waitNodePluginWith(ctx, func(p corev1.Pod) bool { return p.Name != old })
	})
}

// rollNodePluginImage changes the node plugin DaemonSet's image (the
// driver's image under a second tag, as a rebuilt image would be) and
// waits for the rolling update.
func (n *node) rollNodePluginImage(ctx context.Context) error {
	const rebuilt = driverImage + "-rebuilt"
	out, err := exec.CommandContext(ctx, "ctr", "--address", n.containerdSock(), "-n", "k8s.io",
		"images", "tag", "--force", driverImage, rebuilt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images tag: %w: %s", err, out)
	}
	return n.restartUnderHolder(ctx, "rolling update to a new image", func(ctx context.Context) error {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"cephfs-csi","image":%q}]}}}}`, rebuilt)
		if _, err := n.kube.core.AppsV1().DaemonSets(driverNamespace).Patch(ctx, nodePluginName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("patch the DaemonSet's image: %w", err)
		}
		return n.waitNodePluginWith(ctx, func(p corev1.Pod) bool {
			for _, c := range p.Spec.Containers {
				if c.Image == rebuilt {
					return true
				}
			}
			return false
		})
	})
}

// startWriter starts a Job that runs pgbench against the server for
// seconds, reporting every second.
func (n *node) startWriter(ctx context.Context, name string, seconds int) error {
	writer := n.postgresClientPod(name, fmt.Sprintf("pgbench -c 2 -j 1 -T %d -P 1", seconds))
	backoff := int32(0)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec:       batchv1.JobSpec{BackoffLimit: &backoff, Template: corev1.PodTemplateSpec{Spec: writer.Spec}},
	}
	if _, err := n.kube.core.BatchV1().Jobs(testNamespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Job %s: %w", name, err)
	}
	_, err := n.waitPodsReady(ctx, testNamespace, "job-name="+name, 1, 2*time.Minute)
	return err
}

// waitWriter waits for the writer Job to end and returns its output (the
// pod's log, through the API server); a failed Job or an error in the
// output is an error.
func (n *node) waitWriter(ctx context.Context, name string) (string, error) {
	jobs := n.kube.core.BatchV1().Jobs(testNamespace)
	var failed bool
	err := n.waitUntil(ctx, "Job "+name+" ended", 3*time.Minute, func(ctx context.Context) error {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if j.Status.Succeeded == 0 && j.Status.Failed == 0 {
			return errors.New("running")
		}
		failed = j.Status.Failed > 0
		return nil
	})
	if err != nil {
		return "", err
	}
	pods, err := n.kube.core.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if err != nil || len(pods.Items) == 0 {
		return "", fmt.Errorf("the writer's pod: %v", err)
	}
	log, err := n.kube.core.CoreV1().Pods(testNamespace).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("the writer's log: %w", err)
	}
	background := metav1.DeletePropagationBackground
	_ = jobs.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
	out := string(log)
	if failed || strings.Contains(out, "error") || strings.Contains(out, "aborted") {
		return out, fmt.Errorf("pgbench failed:\n%s", lastLines(out, 8))
	}
	return out, nil
}

// pgbenchSummary is the final tps and the slowest one-second progress
// report of a pgbench -P 1 run: the write pause, if any, shows there.
func pgbenchSummary(out string) string {
	progress := regexp.MustCompile(`progress: ([0-9.]+) s, ([0-9.]+) tps`)
	slowest, at := -1.0, ""
	for _, m := range progress.FindAllStringSubmatch(out, -1) {
		tps, err := strconv.ParseFloat(m[2], 64)
		if err == nil && (slowest < 0 || tps < slowest) {
			slowest, at = tps, m[1]
		}
	}
	total := "?"
	if m := regexp.MustCompile(`tps = ([0-9.]+)`).FindStringSubmatch(out); m != nil {
		total = m[1]
	}
	return fmt.Sprintf("%s tps overall, slowest second %.0f tps (at %s s), 0 errors", total, slowest, at)
}

// deleteHolderPod deletes the mount holder's pod under the running
// server: its ceph-fuse ends with it (as deploy/README.md says: drain
// first), so the server loses its mount. The server's pod is then replaced
// and must get the volume back at once, with every row: whichever the
// kubelet calls — NodeStage (it unstaged the dead mount first) or only
// NodePublish — mounts it again through the new holder, although the node
// plugin restarted twice since NodeStage (it learned the credentials back
// from the holder at its start).
func (n *node) deleteHolderPod(ctx context.Context) error {
	before, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	holders, err := n.waitPodsReady(ctx, driverNamespace, holderLabels, 1, time.Minute)
	if err != nil {
		return err
	}
	old := holders[0].Name
	if err := n.kube.core.CoreV1().Pods(driverNamespace).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if _, err := n.waitOnePodWith(ctx, driverNamespace, holderLabels, "a new mount holder pod", 2*time.Minute, notNamed(old)); err != nil {
		return err
	}
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(staging)
	oldServer := n.postgresPod.Name
	if err := n.kube.core.CoreV1().Pods(testNamespace).Delete(ctx, oldServer, metav1.DeleteOptions{}); err != nil {
		return err
	}
	begin := time.Now()
	pod, err := n.waitPostgres(ctx, oldServer, 3*time.Minute)
	if err != nil {
		return fmt.Errorf("the server's pod replaced after the holder's pod was deleted: %w", err)
	}
	n.postgresPod = pod
	replaced := time.Since(begin)
	after, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("rows (accounts history) %q before the holder's pod was deleted, %q after", before, after)
	}
	how, err := n.howRecovered(ctx, begin)
	if err != nil {
		return err
	}
	n.holderRuns = append(n.holderRuns, fmt.Sprintf("mount holder pod deleted: the staged mount then: stat: %v; "+
		"the server's pod replaced at once: ready %v after the old one's deletion (%s); rows (accounts history) %s",
		statErr, replaced.Round(100*time.Millisecond), how, after))
	return nil
}

// howRecovered tells from the node plugin's log since a moment which call
// mounted the volume again: NodeStage, or NodePublish on a dead staging
// mount with what the plugin learned from the holder at its start.
func (n *node) howRecovered(ctx context.Context, since time.Time) (string, error) {
	log, err := n.nodePluginLog(ctx, since)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("NodeStage calls %d, staging mounts made again at NodePublish %d",
		strings.Count(log, `"RPC done" rpc="NodeStageVolume"`)+strings.Count(log, `"Slow RPC" rpc="NodeStageVolume"`),
		strings.Count(log, "Mounted a dead staging mount again")), nil
}

// learnedMounts is how many mounts the node plugin started since a moment
// learned from the holder (its log line at start).
func (n *node) learnedMounts(ctx context.Context, since time.Time) (string, error) {
	log, err := n.nodePluginLog(ctx, since)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`"Learned the mount holder's mounts" count=([0-9]+)`).FindStringSubmatch(log)
	if m == nil {
		return "", fmt.Errorf("the new node plugin did not learn the mount holder's mounts:\n%s", lastLines(log, 20))
	}
	return m[1], nil
}

// nodePluginLog is the driver container's log in the node plugin's pod
// since a moment.
func (n *node) nodePluginLog(ctx context.Context, since time.Time) (string, error) {
	pods, err := n.waitPodsReady(ctx, driverNamespace, nodeLabels, 1, time.Minute)
	if err != nil {
		return "", err
	}
	t := metav1.NewTime(since.Add(-time.Second))
	raw, err := n.kube.core.CoreV1().Pods(driverNamespace).GetLogs(pods[0].Name,
		&corev1.PodLogOptions{Container: "cephfs-csi", SinceTime: &t}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("the node plugin's log: %w", err)
	}
	return string(raw), nil
}
