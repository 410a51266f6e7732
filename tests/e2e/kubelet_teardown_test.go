package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// teardown stops the kubelet, removes every pod sandbox from containerd,
// stops containerd and the control plane, kills what the shims and the node
// plugin (ceph-fuse) left, unmounts everything below n.dir, wipes the Ceph
// cluster, removes the CNI bridge, the node's address and the kubelet's
// cgroups and then n.dir, whatever state the test left. Whatever is left
// behind is an error of the test.
func (n *node) teardown(t *testing.T) {
	begin := time.Now()
	if t.Failed() {
		// The pods' logs (the node plugin's among them) live below n.dir.
		if out, err := exec.Command("cp", "-rL", filepath.Join(n.dir, "pod-logs"), filepath.Join(n.logs, "pod-logs")).CombinedOutput(); err != nil {
			t.Logf("copy the pods' logs: %v: %s", err, out)
		}
	}
	if n.kubelet != nil {
		n.kubelet.stop(stopGrace)
	}
	if n.containerd != nil && n.containerd.exitError() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := n.crictl(ctx, "rmp", "--all", "--force"); err != nil {
			t.Errorf("teardown: %v", err)
		}
		cancel()
		n.containerd.stop(stopGrace)
	}
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].stop(stopGrace)
	}
	// ceph-fuse daemons the node plugin started for volumes the kubelet did
	// not unstage (a failed run) may outlive its container: their mounts
	// propagated to the host. They name the staging path, below n.dir.
	if left := processesNaming(n.dir, "ceph-fuse"); len(left) != 0 {
		t.Logf("teardown: killing ceph-fuse processes left running: %v", left)
		for _, p := range left {
			if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(time.Second)
	}
	if left := n.killLeftovers(); len(left) != 0 {
		t.Errorf("teardown: processes left running (killed): %v", left)
	}
	// Deepest first: the containers' root file systems and shm, then the
	// kubelet root's bind mount of itself.
	mountsLeft := forceUnmount(n.dir)
	if len(mountsLeft) != 0 {
		t.Errorf("teardown: still mounted: %v", mountsLeft)
	}
	if n.ceph != nil {
		if err := n.ceph.wipe(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
	if exec.Command("ip", "link", "show", cniBridge).Run() == nil { // else no pod got a network
		if out, err := exec.Command("ip", "link", "del", cniBridge).CombinedOutput(); err != nil {
			t.Errorf("teardown: remove bridge %s: %v: %s", cniBridge, err, out)
		}
	}
	if out, _ := exec.Command("ip", "-o", "addr", "show", "dev", "lo").Output(); strings.Contains(string(out), " "+nodeAddressCIDR+" ") {
		if out, err := exec.Command("ip", "addr", "del", nodeAddressCIDR, "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("teardown: remove %s from lo: %v: %s", nodeAddressCIDR, err, out)
		}
	}
	if left := n.removeHostFiles(); len(left) != 0 {
		t.Errorf("teardown: left on the host: %v", left)
	}
	if left := removeKubeletCgroups(); len(left) != 0 {
		t.Errorf("teardown: cgroups left: %v", left)
	}
	if t.Failed() {
		for _, p := range n.procs {
			if errs := lastErrors(p.logPath, 5); errs != "" {
				t.Logf("last errors of %s:\n%s", p.name, errs)
			}
		}
		t.Logf("the logs of every component are in %s", n.logs)
	}
	if len(mountsLeft) == 0 {
		if err := os.RemoveAll(n.dir); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
	t.Logf("phase teardown: %v", time.Since(begin).Round(time.Millisecond))
}

// killLeftovers kills the processes whose command line names n.dir (the
// containerd shims are started with -address n.dir/containerd/…) and which
// are still running after every component stopped, and returns them.
func (n *node) killLeftovers() []string {
	var left []string
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []string{err.Error()}
	}
	self := os.Getpid()
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), n.dir) {
			continue
		}
		args := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		left = append(left, fmt.Sprintf("%d %s", pid, args))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return left
}

// removeKubeletCgroups removes the cgroups the kubelet made with the
// cgroupfs driver (kubepods and below, in every cgroup v1 hierarchy, or in
// the unified one), deepest first, and returns those it could not remove.
func removeKubeletCgroups() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	var dirs []string
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var left []string
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !os.IsNotExist(err) {
			left = append(left, fmt.Sprintf("%s (%v)", d, err))
		}
	}
	return left
}

// hostDirs are the directories outside n.dir that the kubelet, containerd
// and the CNI plugins write to whatever they are told, children first:
//   - the device plugin socket, /var/lib/kubelet/device-plugins/kubelet.sock
//     (a constant of the device plugin API, not below --root-dir);
//   - the symlinks to the containers' logs in /var/log/containers;
//   - libcni's cache, /var/lib/cni/results (containerd 1.6 does not set it);
//   - the shims' sockets and fifos and runc's state under /run/containerd;
//   - the hostPath volumes of deploy/csi outside the kubelet root.
//
// Those that did not exist before the test are removed after it, if empty.
var hostDirs = []string{
	"/var/lib/kubelet/device-plugins", "/var/lib/kubelet",
	"/var/log/containers",
	"/var/lib/cni/results", "/var/lib/cni",
	"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd",
	// the node plugin's hostPath for modprobe: containerd creates a
	// missing source of a bind mount (this machine has no modules)
	"/lib/modules",
}

// missing returns those of dirs that do not exist.
func missing(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Lstat(d); os.IsNotExist(err) {
			out = append(out, d)
		}
	}
	return out
}

// removeHostFiles removes what the test left outside n.dir: the kubelet's
// device plugin socket, the log symlinks that point into n.dir, and those
// of hostDirs the test created. It returns what it could not remove.
func (n *node) removeHostFiles() []string {
	var left []string
	remove := func(path string) {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			left = append(left, err.Error())
		}
	}
	remove("/var/lib/kubelet/device-plugins/kubelet.sock")
	logs, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range logs {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, n.dir+"/") {
			remove(l)
		}
	}
	for _, d := range n.hostDirs {
		remove(d)
	}
	return left
}
