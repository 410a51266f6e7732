package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// The seed's workload through the real kubelet: deploy/examples'
// PostgreSQL Deployment on a claim of the example StorageClass, pgbench
// against it, the pod replaced, the claim expanded while it runs; then a
// ReadWriteMany claim shared by two pods and a ReadOnlyMany claim restored
// from a snapshot of it.
const (
	// postgresImage is hack/e2e-kubelet.sh's PostgreSQL 15 (Debian 12),
	// which starts as the official image does (POSTGRES_PASSWORD, PGDATA).
	postgresImage = "e2e.local/postgres:15"
	// postgresClaim and postgresDeployment are deploy/examples' names.
	postgresClaim      = "postgres-data"
	postgresDeployment = "postgres"
	postgresLabels     = "app.kubernetes.io/name=postgres"
	// postgresDataDir is where the example mounts the claim.
	postgresDataDir = "/var/lib/postgresql/data"
	// pgbenchScale sizes pgbench's tables (100,000 accounts a unit).
	pgbenchScale = 2
	// expandedClaimSize is what the test expands the example's 1Gi to.
	expandedClaimSize = 2 << 30
	// rwxClaim (deploy/examples/pvc.yaml) is shared by rwxPods; roxClaim
	// (pvc-restore.yaml, made ReadOnlyMany) is restored from rwxSnapshot
	// (snapshot.yaml).
	rwxClaim    = "cephfs-pvc"
	rwxSnapshot = "cephfs-pvc-snapshot"
	roxClaim    = "cephfs-pvc-restore"
	roxPod      = "kubelet-rox-reader"
)

// rwxPods write into and read from rwxClaim at the same time.
var rwxPods = []string{"kubelet-rwx-a", "kubelet-rwx-b"}

// startPostgres applies deploy/examples' PostgreSQL claim, Secret and
// Deployment (its image the test's, its password random) and waits until
// the claim is bound and the server ready.
func (n *node) startPostgres(ctx context.Context) error {
	if n.postgresPassword == "" { // the data directory keeps the first one
		secret := make([]byte, 12)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		n.postgresPassword = hex.EncodeToString(secret)
	}
	begin := time.Now()
	err := n.applyExample(ctx, "postgres-deployment.yaml", func(obj *unstructured.Unstructured) error {
		switch obj.GetKind() {
		case "PersistentVolumeClaim":
			// Applied again (the mount holder phase): keep the size it
			// was expanded to, as a claim cannot shrink.
			if pvc, err := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil {
				return unstructured.SetNestedField(obj.Object, pvc.Spec.Resources.Requests.Storage().String(), "spec", "resources", "requests", "storage")
			}
		case "Secret":
			if n.postgresPassword == "" {
				return errors.New("no password")
			}
			return unstructured.SetNestedField(obj.Object, n.postgresPassword, "stringData", "POSTGRES_PASSWORD")
		case "Deployment":
			return convertTyped(obj, func(d *appsv1.Deployment) error {
				for i := range d.Spec.Template.Spec.Containers {
					c := &d.Spec.Template.Spec.Containers[i]
					c.Image, c.ImagePullPolicy = postgresImage, corev1.PullNever
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, pv, err := n.waitPVCBound(ctx, postgresClaim, 2*time.Minute)
	if err != nil {
		return err
	}
	if _, again := n.timings["postgres claim bound"]; !again {
		n.timings["postgres claim bound"] = time.Since(begin)
		if err := n.checkClaimMetadata(ctx, pv); err != nil {
			return err
		}
	}
	pod, err := n.waitPostgres(ctx, "", 3*time.Minute)
	if err != nil {
		return err
	}
	if _, again := n.timings["postgres pod ready"]; !again {
		n.timings["postgres pod ready"] = time.Since(begin)
	}
	n.postgresPod = pod
	return nil
}

// waitPostgres waits until the Deployment's one pod, not named old, is
// ready, and returns it.
func (n *node) waitPostgres(ctx context.Context, old string, timeout time.Duration) (*corev1.Pod, error) {
	return n.waitOnePodWith(ctx, testNamespace, postgresLabels, "a new postgres pod", timeout, notNamed(old))
}

// postgresClientPod is a pod of the PostgreSQL image that runs script with
// the server's address and password in libpq's variables and ends; its
// last output is its termination message.
func (n *node) postgresClientPod(name, script string) *corev1.Pod {
	wrapped := fmt.Sprintf(`out=$( (%s) 2>&1 ); rc=$?; echo "$out"; echo "$out" | tail -c 3000 > /dev/termination-log; exit $rc`, script)
	pod := newBusyboxPod(name, "client", wrapped)
	c := &pod.Spec.Containers[0]
	c.Image = postgresImage
	c.Env = []corev1.EnvVar{
		{Name: "PGHOST", Value: n.postgresPod.Status.PodIP},
		{Name: "PGUSER", Value: "postgres"},
		{Name: "PGDATABASE", Value: "postgres"},
		{Name: "PGPASSWORD", Value: n.postgresPassword},
	}
	return pod
}

// runPgbench runs pgbench as a Job against the server: initialise its
// tables, then 20 s of its TPC-B-like load from four clients; returns the
// transactions per second it reports.
func (n *node) runPgbench(ctx context.Context) error {
	const name = "pgbench"
	script := fmt.Sprintf("pgbench -i -s %d -q && pgbench -c 4 -j 2 -T 20 -P 5", pgbenchScale)
	pod := n.postgresClientPod(name, script)
	backoff := int32(0)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template:     corev1.PodTemplateSpec{Spec: pod.Spec},
		},
	}
	jobs := n.kube.core.BatchV1().Jobs(testNamespace)
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Job: %w", err)
	}
	err := n.waitUntil(ctx, "Job pgbench complete", 3*time.Minute, func(ctx context.Context) error {
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if j.Status.Failed > 0 {
			return permanent(fmt.Errorf("the Job failed: %s", n.jobOutput(ctx, name)))
		}
		if j.Status.Succeeded == 0 {
			return fmt.Errorf("active %d; events: %s", j.Status.Active, n.events(ctx, "Job", name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := n.jobOutput(ctx, name)
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	n.pgbenchTPS = m[1]
	background := metav1.DeletePropagationBackground
	return jobs.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
}

// jobOutput is the termination message of the Job's pod.
func (n *node) jobOutput(ctx context.Context, job string) string {
	pods, err := n.kube.core.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			if t := c.State.Terminated; t != nil {
				out = append(out, t.Message)
			}
		}
	}
	return strings.Join(out, "\n")
}

// runToEnd creates pod, waits until it has succeeded, deletes it, and
// returns its termination message.
func (n *node) runToEnd(ctx context.Context, pod *corev1.Pod) (string, error) {
	if err := n.startPod(ctx, pod, corev1.PodSucceeded); err != nil {
		return "", err
	}
	p, err := n.kube.core.CoreV1().Pods(testNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	var msg string
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			msg = strings.TrimSpace(t.Message)
		}
	}
	return msg, n.deletePod(ctx, pod.Name)
}

// rowCounts counts the rows of pgbench's accounts and history tables.
func (n *node) rowCounts(ctx context.Context) (string, error) {
	out, err := n.runToEnd(ctx, n.postgresClientPod("psql-count",
		`psql -Atc 'select count(*) from pgbench_accounts' -c 'select count(*) from pgbench_history'`))
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(out), " "), nil
}

// replacePostgresPod counts the rows, deletes the server's pod, waits for
// the Deployment's new one and counts again: the counts must be equal.
func (n *node) replacePostgresPod(ctx context.Context) error {
	before, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	old := n.postgresPod.Name
	if err := n.kube.core.CoreV1().Pods(testNamespace).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
		return err
	}
	begin := time.Now()
	if n.postgresPod, err = n.waitPostgres(ctx, old, 3*time.Minute); err != nil {
		return err
	}
	n.timings["postgres pod replaced"] = time.Since(begin)
	after, err := n.rowCounts(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("rows (accounts history) before the new pod %q, after %q", before, after)
	}
	n.rowsSeen = after
	return nil
}

// expandPostgresClaim expands the claim while the server runs and waits
// until df inside the server's container (exec through the API server, as
// kubectl exec) shows the new size.
func (n *node) expandPostgresClaim(ctx context.Context) error {
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, resource.NewQuantity(expandedClaimSize, resource.BinarySI).String())
	claims := n.kube.core.CoreV1().PersistentVolumeClaims(testNamespace)
	if _, err := claims.Patch(ctx, postgresClaim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("expand %s: %w", postgresClaim, err)
	}
	begin := time.Now()
	err := n.waitUntil(ctx, "PVC "+postgresClaim+" capacity 2Gi", 2*time.Minute, func(ctx context.Context) error {
		pvc, err := claims.Get(ctx, postgresClaim, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.Value() != expandedClaimSize {
			return fmt.Errorf("capacity %s; conditions %+v; events: %s", got.String(), pvc.Status.Conditions, n.events(ctx, "PersistentVolumeClaim", postgresClaim))
		}
		return nil
	})
	if err != nil {
		return err
	}
	n.timings["PVC expanded"] = time.Since(begin)
	return n.waitUntil(ctx, "df in the postgres container shows 2Gi", time.Minute, func(ctx context.Context) error {
		out, err := n.execInPod(ctx, n.postgresPod.Name, "postgres", "df", "-k", "-P", postgresDataDir)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		fields := strings.Fields(lines[len(lines)-1])
		if len(fields) < 2 {
			return permanent(fmt.Errorf("df printed %q", out))
		}
		kib, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return permanent(fmt.Errorf("df printed %q", out))
		}
		if kib*1024 != expandedClaimSize {
			return fmt.Errorf("df: %d KiB", kib)
		}
		n.dfAfterExpansion = strings.TrimSpace(lines[len(lines)-1])
		return nil
	})
}

// containerID is the CRI id of a pod's running container.
func (n *node) containerID(ctx context.Context, pod, container string) (string, error) {
	out, err := n.crictl(ctx, "ps", "-q", "--state", "running", "--name", "^"+container+"$", "--label", "io.kubernetes.pod.name="+pod)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("pod %s: %d running containers named %s", pod, len(ids), container)
	}
	return ids[0], nil
}

// sharePodsRWX runs two pods on one ReadWriteMany claim at the same time:
// each writes its name into a file and waits until it reads the other's.
func (n *node) sharePodsRWX(ctx context.Context) error {
	if err := n.applyExample(ctx, "pvc.yaml", nil); err != nil {
		return err
	}
	if _, _, err := n.waitPVCBound(ctx, rwxClaim, 2*time.Minute); err != nil {
		return err
	}
	pods := n.kube.core.CoreV1().Pods(testNamespace)
	for i, name := range rwxPods {
		other := rwxPods[1-i]
		// Written under another name and renamed: the other pod, which
		// waits for the name, must never read the file between its
		// creation and the write (it once read it empty).
		script := fmt.Sprintf(`set -e; echo %[1]s > /data/.%[1]s; mv /data/.%[1]s /data/%[1]s; i=0
until [ -f /data/%[2]s ]; do i=$((i+1)); [ $i -lt 600 ] || exit 3; sleep 0.1; done
cat /data/%[2]s > /dev/termination-log`, name, other)
		pod := newBusyboxPod(name, "share", script)
		pod.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: rwxClaim},
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", name, err)
		}
	}
	for i, name := range rwxPods {
		if err := n.waitPodPhase(ctx, name, corev1.PodSucceeded); err != nil {
			return err
		}
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if msg := strings.TrimSpace(p.Status.ContainerStatuses[0].State.Terminated.Message); msg != rwxPods[1-i] {
			return fmt.Errorf("pod %s read %q from the other pod's file, want %q", name, msg, rwxPods[1-i])
		}
	}
	for _, name := range rwxPods {
		if err := n.deletePod(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// restoreReadOnly snapshots the shared claim (snapshot.yaml), restores the
// snapshot as a ReadOnlyMany claim (pvc-restore.yaml, its access mode
// changed; a shallow volume, backingSnapshot's default) and mounts it
// read-only in a pod, which must read both pods' files and fail to write.
func (n *node) restoreReadOnly(ctx context.Context) error {
	if err := n.applyExample(ctx, "snapshot.yaml", nil); err != nil {
		return err
	}
	if _, err := n.waitSnapshotReady(ctx, rwxSnapshot, 2*time.Minute); err != nil {
		return err
	}
	err := n.applyExample(ctx, "pvc-restore.yaml", func(obj *unstructured.Unstructured) error {
		return unstructured.SetNestedStringSlice(obj.Object, []string{string(corev1.ReadOnlyMany)}, "spec", "accessModes")
	})
	if err != nil {
		return err
	}
	_, pv, err := n.waitPVCBound(ctx, roxClaim, 3*time.Minute)
	if err != nil {
		return err
	}
	// backingSnapshot's default for a reader-only restore: the snapshot
	// itself, no clone.
	if attrs := pv.Spec.CSI.VolumeAttributes; attrs["backingSnapshotID"] == "" {
		return fmt.Errorf("the ReadOnlyMany claim %s is not a shallow volume: its PV's attributes %v", roxClaim, attrs)
	}
	script := fmt.Sprintf(`set -e; a=$(cat /data/%s); b=$(cat /data/%s)
if touch /data/new 2>/dev/null; then echo "wrote to a read-only volume"; exit 4; fi
echo "$a $b" > /dev/termination-log`, rwxPods[0], rwxPods[1])
	pod := newBusyboxPod(roxPod, "reader", script)
	pod.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: roxClaim, ReadOnly: true},
	}
	pod.Spec.Containers[0].VolumeMounts[0].ReadOnly = true
	msg, err := n.runToEnd(ctx, pod)
	if err != nil {
		return err
	}
	if want := rwxPods[0] + " " + rwxPods[1]; msg != want {
		return fmt.Errorf("the read-only pod read %q, want %q", msg, want)
	}
	return n.waitOnlyPostgresStaged(ctx)
}

// waitOnlyPostgresStaged waits until the kubelet has unstaged every volume
// but PostgreSQL's. The kubelet unstages a volume a moment after its last
// pod is gone; restarted in that moment, it forgets the staging mount for
// good (it rebuilds its state from the pods' directories, and there is no
// pod left to name it), so the next phase must not start before.
func (n *node) waitOnlyPostgresStaged(ctx context.Context) error {
	staging, err := n.claimStagingPath(ctx, postgresClaim)
	if err != nil {
		return err
	}
	return n.waitUntil(ctx, "only PostgreSQL's volume staged", time.Minute, func(ctx context.Context) error {
		mounts, err := n.stagedFuseMounts()
		if err != nil {
			return err
		}
		if _, ok := mounts[staging]; !ok || len(mounts) != 1 {
			return fmt.Errorf("staged: %v", mounts)
		}
		return nil
	})
}

// checkClaimMetadata checks that the claim's subvolume names its claim and
// PV in Ceph (csi-provisioner's --extra-create-metadata, recorded by the
// driver), so that an operator finds a subvolume's PVC from the Ceph side.
func (n *node) checkClaimMetadata(ctx context.Context, pv *corev1.PersistentVolume) error {
	attrs := pv.Spec.CSI.VolumeAttributes
	out, err := n.ceph.ceph(ctx, "fs", "subvolume", "metadata", "ls", n.ceph.fs, attrs["subvolumeName"],
		"--group_name", attrs["subvolumeGroup"], "--format", "json")
	if err != nil {
		return err
	}
	var md map[string]string
	if err := json.Unmarshal(out, &md); err != nil {
		return fmt.Errorf("subvolume metadata of %s: %w: %s", pv.Name, err, out)
	}
	want := map[string]string{
		"csi.storage.k8s.io/pvc/name":      pv.Spec.ClaimRef.Name,
		"csi.storage.k8s.io/pvc/namespace": pv.Spec.ClaimRef.Namespace,
		"csi.storage.k8s.io/pv/name":       pv.Name,
	}
	for k, v := range want {
		if md[k] != v {
			return fmt.Errorf("subvolume %s: metadata %s = %q, want %q (all: %v)", attrs["subvolumeName"], k, md[k], v, md)
		}
	}
	return nil
}
