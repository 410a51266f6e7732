package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubelet runs the driver the way users do: a real kubelet, with
// containerd and runc, runs it from its image, installed from deploy/csi-builtin
// (first without the mount holder, then as shipped, with it), and mounts its
// volumes into pods. It starts the control plane of the e2e
// harness (etcd, kube-apiserver, kube-controller-manager) and
// kube-scheduler, then containerd with its own root, state, socket and CNI
// configuration, loads the images that hack/e2e-kubelet.sh assembles (no
// registry: pause, busybox, PostgreSQL 15 and the CSI sidecars) and
// hack/image.sh's driver image, starts the kubelet and waits for the Node to
// be Ready; busybox pods check the runtime. Then, on a Ceph cluster of its
// own (_build/cluster-kubelet):
//   - the driver from deploy/csi-builtin: the node plugin DaemonSet registers
//     itself with the kubelet (the CSINode lists it), the controller
//     Deployment's sidecars provision, expand and snapshot;
//   - a static PV staged and published into a pod, unstaged on delete;
//   - deploy/examples' PostgreSQL Deployment on a provisioned claim, pgbench
//     as a Job, the pod replaced (the rows stay), the claim expanded under
//     the running server (df in the container shows it);
//   - a ReadWriteMany claim shared by two pods, a ReadOnlyMany claim restored
//     from its snapshot;
//   - a running pod's subvolume removed behind the driver's back: the
//     kubelet's CSIVolumeHealth probe writes Inaccessible SubvolumeMissing
//     into pod.status.volumeHealth; pod and claim still tear down;
//   - the kubelet restarted under the running server: nothing remounted,
//     nothing restarted;
//   - the node plugin's pod deleted under the server: what becomes of the
//     ceph-fuse mount is recorded (the baseline of mounts that outlive it);
//   - everything deleted: no subvolume, mount, ceph-fuse or key file left.
//
// Each phase is timed. Everything it started is stopped, unmounted and
// removed at the end, also when it fails or is interrupted (see teardown).
//
// It runs only when CEPHFS_CSI_E2E_KUBELET=1 (and CEPHFS_CSI_E2E_BIN is set),
// as root.
func TestKubelet(t *testing.T) {
	if os.Getenv(kubeletEnv) != "1" {
		t.Skipf("%s is not 1", kubeletEnv)
	}
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Skipf("%s is not set: run `bin=$(hack/e2e-tools.sh)` and set it to $bin", binEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("the kubelet test runs containers: it needs root")
	}
	for _, tool := range []string{"kubelet", "kube-scheduler", "crictl"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("%s has no %s: rebuild the tools with hack/e2e-tools.sh", bin, tool)
		}
	}
	for _, prog := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y containerd runc containernetworking-plugins", prog)
		}
	}
	if _, err := os.Stat(filepath.Join(cniBinDir, "bridge")); err != nil {
		t.Fatalf("no CNI plugins in %s: apt-get install -y containernetworking-plugins", cniBinDir)
	}

	start := time.Now()
	t.Cleanup(func() { t.Logf("kubelet e2e wall time: %v", time.Since(start).Round(100*time.Millisecond)) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	e := &env{repo: repoRoot(), bin: bin}
	base := filepath.Join(e.repo, "_build", "e2e-kubelet")
	e.logs = filepath.Join(base, "logs")
	if err := resetDir(e.logs); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "cephfs-csi-kubelet-")
	if err != nil {
		t.Fatal(err)
	}
	e.work = work
	n := &node{env: e, name: kubeletNodeName, dir: work, hostDirs: missing(hostDirs), timings: map[string]time.Duration{}}
	t.Cleanup(func() { n.teardown(t) })
	t.Cleanup(func() { n.summarize(t) }) // first: also when a phase failed

	phase := func(name string, fn func(context.Context) error) {
		t.Helper()
		begin := time.Now()
		if err := fn(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("phase %s: %v", name, time.Since(begin).Round(time.Millisecond))
	}
	phase("build the images", func(ctx context.Context) error { return n.buildImages(ctx, filepath.Join(base, "images")) })
	phase("start the control plane", e.startKubernetes)
	phase("start kube-scheduler", n.startScheduler)
	phase("start containerd", n.startContainerd)
	phase("import the images", n.importImages)
	phase("start the kubelet", n.startKubelet)
	phase("wait for the Node to be Ready", n.waitNodeReady)
	phase("run a busybox pod with an emptyDir", n.runBusybox)
	phase("delete the pod", func(ctx context.Context) error { return n.deletePod(ctx, busyboxPod) })
	phase("run a long-running pod", n.runSleeper)
	phase("delete the running pod", func(ctx context.Context) error { return n.deletePod(ctx, sleeperPod) })
	phase("build the driver image", n.buildDriverImage)
	phase("import the driver image", n.importDriverImage)
	phase("boot the Ceph cluster", n.bootKubeletCeph)
	phase("start the workload controllers and the snapshot-controller", n.startWorkloadControllers)
	phase("install the driver from "+builtinOverlay+" with "+withoutHolderComponent, n.installWithoutHolder)
	phase("wait for the driver's registration", n.waitDriverRegistered)
	phase("wait for the controller", n.waitController)
	phase("install the examples' secrets and classes", n.installExamples)
	phase("create a static PV and its claim", n.createStaticVolume)
	phase("run a pod with the CephFS volume", n.runVolumePod)
	phase("delete the pod with the volume", func(ctx context.Context) error { return n.deletePod(ctx, kubeletVolumePod) })
	phase("check the kubelet unstaged the volume", n.checkUnstaged)
	phase("read the file from the subvolume", n.readSubvolume)
	phase("run the example PostgreSQL Deployment on a provisioned claim", n.startPostgres)
	phase("run pgbench", n.runPgbench)
	phase("replace the PostgreSQL pod", n.replacePostgresPod)
	phase("expand the claim under the running server", n.expandPostgresClaim)
	phase("share a ReadWriteMany claim between two pods", n.sharePodsRWX)
	phase("restore a snapshot as a ReadOnlyMany claim", n.restoreReadOnly)
	phase("remove a running pod's subvolume behind the driver's back: pod.status.volumeHealth", n.volumeHealthOfRemovedSubvolume)
	phase("restart the kubelet", n.restartKubelet)
	phase("delete the node plugin pod under PostgreSQL (baseline)", n.deleteNodePluginPod)
	phase("install "+builtinOverlay+" as shipped: the mount holder ("+holderComponent+") on", n.enableMountHolder)
	phase("delete the node plugin pod under PostgreSQL (mount holder)", n.deleteNodePluginPodUnderHolder)
	phase("roll the node plugin to a new image under PostgreSQL (mount holder)", n.rollNodePluginImage)
	phase("delete the mount holder pod under PostgreSQL; the server's pod replaced gets its volume back", n.deleteHolderPod)
	phase("delete everything and check nothing is left", n.deleteEverything)
	phase("delete the driver", n.deleteDriver)
}

// summarize logs what the workload phases measured.
func (n *node) summarize(t *testing.T) {
	names := make([]string, 0, len(n.timings))
	for name := range n.timings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("timing %s: %v", name, n.timings[name].Round(time.Millisecond))
	}
	t.Logf("pgbench (scale %d, 4 clients, 20 s): %s tps; rows (accounts history) %s", pgbenchScale, n.pgbenchTPS, n.rowsSeen)
	t.Logf("df after the expansion: %s", n.dfAfterExpansion)
	for _, line := range n.pluginDeletion {
		t.Logf("node plugin pod deleted: %s", line)
	}
	for _, line := range n.holderRuns {
		t.Logf("with the mount holder: %s", line)
	}
	for _, line := range n.volumeHealth {
		t.Logf("volume health: %s", line)
	}
}

const (
	// kubeletEnv gates TestKubelet: it is not part of `make e2e` yet.
	kubeletEnv = "CEPHFS_CSI_E2E_KUBELET"
	// kubeletNodeName is the Node the kubelet registers.
	kubeletNodeName = "e2e-kubelet"
	// cniBinDir is where Debian's containernetworking-plugins live.
	cniBinDir = "/usr/lib/cni"
	// cniBridge is the bridge the CNI configuration creates; removed at the end.
	cniBridge = "cephfscsi0"
	// nodeAddress, the Node's InternalIP, is an address of the test's on
	// the loopback interface: the kubelet refuses a loopback node IP
	// ("nodeIP can't be loopback address") and then reports no address, so
	// the API server could not reach it for logs and exec (this kernel has
	// no dummy interfaces). Removed at the end.
	nodeAddress     = "10.77.77.1"
	nodeAddressCIDR = nodeAddress + "/32"
	// pauseImage is what hack/e2e-kubelet.sh tags its pause image, and the
	// kubelet's and containerd's default sandbox image.
	pauseImage = "registry.k8s.io/pause:3.10"
	// busyboxImage is hack/e2e-kubelet.sh's busybox image.
	busyboxImage = "e2e.local/busybox:latest"
	// busyboxPod is the pod that writes and reads a file, and exits.
	busyboxPod = "kubelet-busybox"
	// sleeperPod runs until it is deleted.
	sleeperPod = "kubelet-sleeper"
)

// node is one machine's worth of kubelet: containerd and the kubelet, with
// everything they write below dir.
type node struct {
	*env
	name       string
	dir        string
	images     []string // docker-archives to import
	imageRefs  []string // what they are tagged
	hostDirs   []string // of hostDirs, those that did not exist before the test
	containerd *process
	kubelet    *process

	driverImageFile      string // hack/image.sh's tarball
	kubeletSubvolumePath string // the static volume's path in the filesystem
	kubeletArgs          []string

	// What the workload phases found, for the summary.
	timings          map[string]time.Duration
	postgresPassword string
	postgresPod      *corev1.Pod
	pgbenchTPS       string
	rowsSeen         string   // pgbench's row counts, "accounts history"
	dfAfterExpansion string   // df's line for the expanded volume
	pluginDeletion   []string // what deleting the node plugin pod did
	holderRuns       []string // the same, and a rolling update, with the mount holder
	volumeHealth     []string // what the kubelet wrote of a removed subvolume
}

func (n *node) containerdDir() string  { return filepath.Join(n.dir, "containerd") }
func (n *node) containerdSock() string { return filepath.Join(n.containerdDir(), "containerd.sock") }
func (n *node) kubeletRoot() string    { return filepath.Join(n.dir, "kubelet") }

// runScript runs hack/SCRIPT from the repository and returns its standard
// output; its standard error comes with a failure.
func (n *node) runScript(ctx context.Context, script string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(n.repo, "hack", script), args...)
	cmd.Dir = n.repo
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/%s %s: %w\n%s", script, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// buildImages runs hack/e2e-kubelet.sh, which writes the pause and busybox
// docker-archives.
func (n *node) buildImages(ctx context.Context, dir string) error {
	out, err := n.runScript(ctx, "e2e-kubelet.sh", "images", dir, n.bin)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		file, ref, _ := strings.Cut(line, " ")
		n.images = append(n.images, file)
		n.imageRefs = append(n.imageRefs, ref)
	}
	return nil
}

// startScheduler starts kube-scheduler with the admin credentials.
func (n *node) startScheduler(ctx context.Context) error {
	return n.start("kube-scheduler", n.tool("kube-scheduler"),
		"--kubeconfig="+n.cp.adminKubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	)
}

// startContainerd writes containerd's configuration (everything below
// n.dir, its own socket, cgroupfs, a bridge network) and starts it.
func (n *node) startContainerd(ctx context.Context) error {
	dir := n.containerdDir()
	cniConf := filepath.Join(n.dir, "cni", "net.d")
	for _, d := range []string{dir, cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	network := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "cephfs-csi-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.77.0/24"}]],
        "dataDir": %q
      }
    },
    {"type": "loopback"}
  ]
}
`, cniBridge, filepath.Join(n.dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(cniConf, "10-e2e.conflist"), []byte(network), 0o644); err != nil {
		return err
	}
	// restrict_oom_score_adj: without it every sandbox fails with "can't
	// get final child's PID from pipe: EOF" on this machine.
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), n.containerdSock(), n.containerdSock()+".ttrpc",
		filepath.Join(dir, "opt"), pauseImage, cniBinDir, cniConf)
	configFile := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	p, err := startProcess(n.logs, "containerd", "containerd", "--config", configFile)
	if err != nil {
		return err
	}
	n.containerd = p
	n.procs = append(n.procs, p)
	return n.waitUntil(ctx, "containerd serving CRI", time.Minute, func(ctx context.Context) error {
		_, err := n.crictl(ctx, "info")
		return err
	})
}

// crictl runs crictl against this node's containerd and returns its
// standard output.
func (n *node) crictl(ctx context.Context, args ...string) (string, error) {
	// A config file of its own, else crictl warns on stderr about
	// /etc/crictl.yaml on every call.
	config := filepath.Join(n.dir, "crictl.yaml")
	if _, err := os.Stat(config); err != nil {
		endpoint := "unix://" + n.containerdSock()
		data := fmt.Sprintf("runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 10\n", endpoint, endpoint)
		if err := os.WriteFile(config, []byte(data), 0o644); err != nil {
			return "", err
		}
	}
	args = append([]string{"--config", config}, args...)
	cmd := exec.CommandContext(ctx, n.tool("crictl"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// importImages loads the docker-archives into containerd's k8s.io namespace.
func (n *node) importImages(ctx context.Context) error {
	for _, file := range n.images {
		out, err := exec.CommandContext(ctx, "ctr", "--address", n.containerdSock(), "-n", "k8s.io",
			"images", "import", file).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr images import %s: %w: %s", file, err, out)
		}
	}
	out, err := n.crictl(ctx, "images")
	if err != nil {
		return err
	}
	for _, ref := range n.imageRefs {
		repo, tag, _ := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
		if !strings.Contains(out, repo) || !strings.Contains(out, tag) {
			return fmt.Errorf("CRI does not list %s after the import:\n%s", ref, out)
		}
	}
	return nil
}

// startKubelet makes the kubelet's root directory a shared mount (as mount
// propagation of CSI volumes will need), writes its configuration and
// starts it with the admin kubeconfig.
func (n *node) startKubelet(ctx context.Context) error {
	root := n.kubeletRoot()
	if err := os.MkdirAll(root, 0o750); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "mount", "--bind", root, root).CombinedOutput(); err != nil {
		return fmt.Errorf("bind-mount %s: %w: %s", root, err, out)
	}
	if out, err := exec.CommandContext(ctx, "mount", "--make-rshared", root).CombinedOutput(); err != nil {
		return fmt.Errorf("make %s rshared: %w: %s", root, err, out)
	}
	if err := addNodeAddress(ctx); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	healthz, err := freePort()
	if err != nil {
		return err
	}
	// cgroupfs and failCgroupV1: false, as this machine has cgroup v1 and
	// no systemd. No iptables chains: the kubelet would add KUBE-FIREWALL
	// (drop non-local traffic to 127.0.0.0/8) and canaries to the host's
	// tables, and nothing here needs them. Evictions only when the machine is really short, so that
	// a full disk elsewhere does not evict the test's pod.
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
  x509:
    clientCAFile: %s
authorization:
  mode: AlwaysAllow
podLogsDir: %s
resolvConf: /etc/resolv.conf
registerNode: true
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
makeIPTablesUtilChains: false
featureGates:
  CSIVolumeHealth: true
volumeStatsAggPeriod: 10s
`, n.containerdSock(), nodeAddress, port, healthz, n.cp.pki.CAFile, filepath.Join(n.dir, "pod-logs"))
	configFile := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	n.kubeletArgs = []string{
		"--config=" + configFile,
		"--kubeconfig=" + n.cp.adminKubeconfig,
		"--root-dir=" + root,
		"--cert-dir=" + filepath.Join(root, "pki"), // default: /var/lib/kubelet/pki
		"--hostname-override=" + n.name,
		"--node-ip=" + nodeAddress,
		"--v=2",
	}
	return n.launchKubelet("kubelet")
}

// addNodeAddress adds nodeAddress to the loopback interface.
func addNodeAddress(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, "ip", "addr", "add", nodeAddressCIDR, "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("ip addr add %s dev lo: %w: %s", nodeAddressCIDR, err, out)
	}
	return nil
}

// launchKubelet starts the kubelet process, its log in NAME.log.
func (n *node) launchKubelet(name string) error {
	p, err := startProcess(n.logs, name, n.tool("kubelet"), n.kubeletArgs...)
	if err != nil {
		return err
	}
	n.kubelet = p
	n.procs = append(n.procs, p)
	return nil
}

// waitNodeReady waits until the kubelet has registered its Node and reports
// it Ready, and removes its not-ready taint.
func (n *node) waitNodeReady(ctx context.Context) error {
	return n.waitUntil(ctx, "Node "+n.name+" Ready", 2*time.Minute, func(ctx context.Context) error {
		node, err := n.kube.core.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status != corev1.ConditionTrue {
					return fmt.Errorf("Ready=%s: %s: %s", c.Status, c.Reason, c.Message)
				}
				ready = true
			}
		}
		if !ready {
			return errors.New("no Ready condition yet")
		}
		// The kubelet registers its Node with the taint
		// node.kubernetes.io/not-ready:NoSchedule, which the node
		// lifecycle controller removes once the Node is Ready; the
		// harness's controller-manager does not run that controller, so
		// the test does its job.
		var taints []corev1.Taint
		for _, taint := range node.Spec.Taints {
			if taint.Key != corev1.TaintNodeNotReady {
				taints = append(taints, taint)
			}
		}
		if len(taints) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = taints
		if _, err := n.kube.core.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("remove the not-ready taint: %w", err)
		}
		return errors.New("removed the not-ready taint; checking again")
	})
}

// newBusyboxPod returns a pod of one busybox container, named container, that
// runs script with an emptyDir at /data (no service account token: the
// test's API server has no token controller).
func newBusyboxPod(name, container, script string) *corev1.Pod {
	noToken := false
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &noToken,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            container,
				Image:           busyboxImage,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/sh", "-c", script},
				VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{
				Name:         "data",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			}},
		},
	}
}

// startPod creates pod (kube-scheduler places it) and waits until its phase
// is want.
func (n *node) startPod(ctx context.Context, pod *corev1.Pod, want corev1.PodPhase) error {
	if _, err := n.kube.core.CoreV1().Pods(testNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod: %w", err)
	}
	return n.waitPodPhase(ctx, pod.Name, want)
}

// waitPodPhase waits until the pod's phase is want; any other end is final.
func (n *node) waitPodPhase(ctx context.Context, name string, want corev1.PodPhase) error {
	pods := n.kube.core.CoreV1().Pods(testNamespace)
	err := n.waitUntil(ctx, "pod "+name+" "+string(want), 2*time.Minute, func(ctx context.Context) error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case want:
			return nil
		case corev1.PodFailed, corev1.PodSucceeded:
			return permanent(fmt.Errorf("pod ended: %s %s %s %+v", p.Status.Phase, p.Status.Reason, p.Status.Message, p.Status.ContainerStatuses))
		}
		return fmt.Errorf("phase %s on node %q", p.Status.Phase, p.Spec.NodeName)
	})
	if err != nil {
		return fmt.Errorf("%w; events: %s", err, n.events(ctx, "Pod", name))
	}
	return nil
}

// runBusybox runs a pod that writes a file into an emptyDir and reads it
// back, waits until it has succeeded and checks what it read: its
// termination message and its log.
func (n *node) runBusybox(ctx context.Context) error {
	const text = "written by the kubelet e2e test"
	script := fmt.Sprintf(`set -e; echo %q > /data/file; cat /data/file; cat /data/file > /dev/termination-log`, text)
	if err := n.startPod(ctx, newBusyboxPod(busyboxPod, "busybox", script), corev1.PodSucceeded); err != nil {
		return err
	}
	// The termination message is the file as the container read it back,
	// the log is what the API server fetches from the kubelet.
	p, err := n.kube.core.CoreV1().Pods(testNamespace).Get(ctx, busyboxPod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
		return fmt.Errorf("unexpected container status: %+v", p.Status.ContainerStatuses)
	}
	if msg := strings.TrimSpace(p.Status.ContainerStatuses[0].State.Terminated.Message); msg != text {
		return fmt.Errorf("the termination message is %q, want %q", msg, text)
	}
	log, err := n.kube.core.CoreV1().Pods(testNamespace).GetLogs(busyboxPod, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("the pod's log: %w", err)
	}
	if strings.TrimSpace(string(log)) != text {
		return fmt.Errorf("the container's log is %q, want %q", log, text)
	}
	return nil
}

// runSleeper runs a pod that keeps running until it is deleted and waits
// until it is Running, so that the next phase deletes a running pod.
func (n *node) runSleeper(ctx context.Context) error {
	// sh as PID 1 ignores SIGTERM unless it traps it.
	script := `trap 'exit 0' TERM; echo up > /data/up; sleep 3600 & wait`
	return n.startPod(ctx, newBusyboxPod(sleeperPod, "sleeper", script), corev1.PodRunning)
}

// deletePod deletes a pod and waits until the kubelet has confirmed it gone
// and the runtime runs no sandbox of it (the kubelet's garbage collector removes
// stopped ones later).
func (n *node) deletePod(ctx context.Context, name string) error {
	pods := n.kube.core.CoreV1().Pods(testNamespace)
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := n.waitGone(ctx, "pod "+name, time.Minute, func(ctx context.Context) error {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	return n.waitUntil(ctx, "the pod's sandbox stopped", time.Minute, func(ctx context.Context) error {
		// Only this pod's: the node plugin's runs on.
		out, err := n.crictl(ctx, "pods", "-q", "--state", "ready", "--name", "^"+name+"$")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("sandboxes still ready: %s", strings.Fields(out))
		}
		return nil
	})
}
