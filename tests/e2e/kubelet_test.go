package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubelet is the first step towards `make e2e-kubelet`: a real kubelet,
// with containerd and runc, running pods on this machine. It starts the
// control plane of the e2e harness (etcd, kube-apiserver,
// kube-controller-manager) and kube-scheduler, then containerd with its own
// root, state, socket and CNI configuration, loads the images that
// hack/e2e-kubelet.sh assembles (no registry), starts the kubelet, waits for
// the Node to be Ready, runs a busybox pod that writes and reads a file in
// an emptyDir, and deletes it and a pod that runs until it is deleted. Then
// the node plugin: the driver's image (hack/image.sh) is imported, a Ceph
// cluster of its own booted (_build/cluster-kubelet), and the driver runs as
// a DaemonSet pod that registers itself with the kubelet (the CSINode lists
// it); the kubelet stages and publishes a static PV of a subvolume into a
// busybox pod that writes a file, which the test reads through the staging
// mount and through a ceph-fuse mount of its own; deleting the pod must
// unstage the volume (no mount, no ceph-fuse left). Each phase is timed. Everything it started is stopped, unmounted and removed at
// the end, also when it fails or is interrupted (see teardown).
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
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
	n := &node{env: e, name: kubeletNodeName, dir: work, hostDirs: missing(hostDirs)}
	t.Cleanup(func() { n.teardown(t) })

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
	phase("start the node plugin", n.startNodePlugin)
	phase("wait for the driver's registration", n.waitDriverRegistered)
	phase("create a static PV and its claim", n.createStaticVolume)
	phase("run a pod with the CephFS volume", n.runVolumePod)
	phase("delete the pod with the volume", func(ctx context.Context) error { return n.deletePod(ctx, kubeletVolumePod) })
	phase("check the kubelet unstaged the volume", n.checkUnstaged)
	phase("read the file from the subvolume", n.readSubvolume)
	phase("delete the node plugin", n.deleteNodePlugin)
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
	hostDirs   []string // of hostDirs, those that did not exist before the test
	containerd *process
	kubelet    *process

	driverImageFile      string // hack/image.sh's tarball
	kubeletSubvolumePath string // the static volume's path in the filesystem
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
	out, err := n.runScript(ctx, "e2e-kubelet.sh", "images", dir)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		file, _, _ := strings.Cut(line, " ")
		n.images = append(n.images, file)
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
	for _, ref := range []string{pauseImage, busyboxImage} {
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
address: 127.0.0.1
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
`, n.containerdSock(), port, healthz, n.cp.pki.CAFile, filepath.Join(n.dir, "pod-logs"))
	configFile := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	p, err := startProcess(n.logs, "kubelet", n.tool("kubelet"),
		"--config="+configFile,
		"--kubeconfig="+n.cp.adminKubeconfig,
		"--root-dir="+root,
		"--cert-dir="+filepath.Join(root, "pki"), // default: /var/lib/kubelet/pki
		"--hostname-override="+n.name,
		"--node-ip=127.0.0.1",
		"--v=2",
	)
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
// is want; any other end is final.
func (n *node) startPod(ctx context.Context, pod *corev1.Pod, want corev1.PodPhase) error {
	pods := n.kube.core.CoreV1().Pods(testNamespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod: %w", err)
	}
	err := n.waitUntil(ctx, "pod "+pod.Name+" "+string(want), 2*time.Minute, func(ctx context.Context) error {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
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
		return fmt.Errorf("%w; events: %s", err, n.events(ctx, "Pod", pod.Name))
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
	// The termination message is the file as the container read it back.
	// The log comes from the runtime: the API server cannot fetch it from
	// the kubelet, as it dials the Node's Hostname address first, and
	// "e2e-kubelet" does not resolve.
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
	id, err := n.crictl(ctx, "ps", "-a", "-q", "--name", "busybox")
	if err != nil {
		return err
	}
	log, err := n.crictl(ctx, "logs", strings.TrimSpace(id))
	if err != nil {
		return err
	}
	if strings.TrimSpace(log) != text {
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
