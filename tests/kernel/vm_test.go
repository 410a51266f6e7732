// Package kernel tests the driver's kernel mounter with a real CephFS
// kernel client: Debian's own kernel (which has ceph.ko, unlike the
// machines the suite runs on) boots in a QEMU guest (hack/kernel-vm.sh),
// the driver's node service runs inside it, and the test drives it over
// CSI from the host. The guest and an embedded Ceph cluster share a bridge
// in a network namespace the test creates; nothing else can reach either.
package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

const (
	// gateEnv must be 1 for the test to run (make e2e-kernel sets it).
	gateEnv = "CEPHFS_CSI_E2E_KERNEL"
	// The test's network: a namespace with a bridge carrying the cluster's
	// address and a tap for the guest.
	netns     = "cephfs-csi-kernel"
	bridge    = "cckbr0"
	tap       = "ccktap0"
	hostCIDR  = "10.77.0.1/24"
	hostIP    = "10.77.0.1"
	guestCIDR = "10.77.0.2/24"
	guestIP   = "10.77.0.2"
	// Ports of the driver's node and controller endpoints and of the agent
	// in the guest.
	driverPort     = "10000"
	agentPort      = "10001"
	controllerPort = "10002"
	// clusterID names the cluster in the driver's config.
	clusterID = "kernel"
	// nodeID is the guest's node ID.
	nodeID = "kernel-vm"
)

// vm is the guest with the driver's node service, and the cluster beside it.
type vm struct {
	repo    string
	dir     string // shared with the guest, at the same path
	cluster *testcluster.Cluster
	qemu    *exec.Cmd
	qemuErr chan error
	node    csi.NodeClient
	ident   csi.IdentityClient
	agent   *http.Client
}

// start brings up the namespace, the cluster, the guest and the clients;
// everything is undone when the test ends, also when it fails.
func start(t *testing.T) *vm {
	t.Helper()
	if os.Getenv(gateEnv) != "1" {
		t.Skipf("%s is not 1: run `make e2e-kernel`", gateEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("the kernel test creates network namespaces and runs QEMU: it needs root")
	}
	v := &vm{repo: testcluster.Root()}
	v.dir = filepath.Join(v.repo, "_build", "kernel-e2e")
	if err := os.RemoveAll(v.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(v.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	step := func(name string, fn func() error) {
		t.Helper()
		begin := time.Now()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, time.Since(begin).Round(time.Millisecond))
	}
	step("prepare the kernel and the initramfs", func() error { _, err := v.script("kernel-vm.sh", "prepare"); return err })
	_, _ = v.script("kernel-vm.sh", "net-down", netns) // left by an interrupted run
	t.Cleanup(func() {
		if _, err := v.script("kernel-vm.sh", "net-down", netns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	step("create the network", func() error {
		_, err := v.script("kernel-vm.sh", "net-up", netns, "--bridge", bridge, "--address", hostCIDR, "--tap", tap)
		return err
	})
	clusterDir := filepath.Join(v.repo, "_build", "cluster-kernel")
	t.Cleanup(func() {
		if _, err := v.inNetns("hack/cluster.sh", "wipe", clusterDir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	step("boot the Ceph cluster in the namespace", func() error {
		if _, err := v.inNetns("hack/cluster.sh", "up", clusterDir, "--name", "kernel", "--address", hostIP); err != nil {
			return err
		}
		var err error
		v.cluster, err = testcluster.Load(clusterDir)
		return err
	})
	step("build the driver and the agent", v.build)
	t.Cleanup(func() { v.stop(t) })
	step("boot the guest", v.boot)
	step("wait for the agent and the driver", v.waitReady)
	return v
}

// script runs hack/NAME with args and returns its standard output.
func (v *vm) script(name string, args ...string) (string, error) {
	return v.run(filepath.Join(v.repo, "hack", name), args...)
}

// inNetns runs a program of the repository (or the PATH) inside the namespace.
func (v *vm) inNetns(prog string, args ...string) (string, error) {
	if strings.Contains(prog, "/") {
		prog = filepath.Join(v.repo, prog)
	}
	return v.run("ip", append([]string{"netns", "exec", netns, prog}, args...)...)
}

func (v *vm) run(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = v.repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", prog, strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return string(out), nil
}

// ceph runs the ceph CLI against the cluster, inside the namespace.
func (v *vm) ceph(args ...string) (string, error) {
	return v.inNetns("ceph", append([]string{"-c", v.cluster.Conf, "--connect-timeout", "20"}, args...)...)
}

// build builds the driver (against the host's Ceph libraries: the guest
// runs the host's own root, read-only over 9p) and the agent, writes the
// driver's cluster config and the guest's start script into the shared
// directory.
func (v *vm) build() error {
	for _, b := range []struct{ out, pkg string }{{"cephfs-csi", "./cmd/cephfs-csi"}, {"agent", "./tests/kernel/agent"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(v.dir, b.out), b.pkg)
		cmd.Dir = v.repo
		if b.out == "agent" {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	config := []map[string]any{{
		"clusterID": clusterID,
		"monitors":  []string{v.cluster.Mon},
		"cephFS":    map[string]any{"subvolumeGroup": v.cluster.Group, "kernelMountOptions": configKernelOption},
	}}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(v.dir, "config.json"), data, 0o644); err != nil {
		return err
	}
	guest := fmt.Sprintf(`#!/bin/sh
# The guest's program (hack/kernel-vm.sh boot): the driver's node service
# (default mounter auto: the kernel client where the kernel has it), then
# the agent in the foreground.
set -e
cd %[1]s
./cephfs-csi --mode=node --nodeid=%[2]s --endpoint=tcp://%[3]s:%[4]s \
	--cluster-config=%[1]s/config.json --keys-dir=/run/cephfs-csi/keys \
	--default-mounter=auto -v=5 >%[1]s/driver.log 2>&1 &
# The controller service too, for csi-sanity (it reaches the cluster from
# the guest as the node service does).
./cephfs-csi --mode=controller --endpoint=tcp://%[3]s:%[6]s \
	--cluster-config=%[1]s/config.json -v=4 >%[1]s/controller.log 2>&1 &
exec ./agent -listen %[3]s:%[5]s >%[1]s/agent.log 2>&1
`, v.dir, nodeID, guestIP, driverPort, agentPort, controllerPort)
	return os.WriteFile(filepath.Join(v.dir, "guest.sh"), []byte(guest), 0o755)
}

// boot starts QEMU in the background; stop ends it.
func (v *vm) boot() error {
	v.qemu = exec.Command(filepath.Join(v.repo, "hack", "kernel-vm.sh"), "boot",
		"--netns", netns, "--tap", tap, "--guest-ip", guestCIDR, "--gateway", hostIP,
		"--share", v.dir, "--memory", "1536", "--console", filepath.Join(v.dir, "console.log"),
		"--", "/bin/sh", filepath.Join(v.dir, "guest.sh"))
	log, err := os.Create(filepath.Join(v.dir, "boot.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	v.qemu.Stdout, v.qemu.Stderr = log, log
	v.qemu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.qemu.Start(); err != nil {
		return err
	}
	v.qemuErr = make(chan error, 1)
	go func() { v.qemuErr <- v.qemu.Wait() }()
	v.agent = &http.Client{Transport: &http.Transport{DialContext: dialInNetns}, Timeout: 3 * time.Minute}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(guestIP, driverPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dialInNetns(ctx, "tcp", addr) }))
	if err != nil {
		return err
	}
	v.node, v.ident = csi.NewNodeClient(conn), csi.NewIdentityClient(conn)
	return nil
}

// waitReady waits until the agent answers and the driver's Probe is ready.
func (v *vm) waitReady() error {
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-v.qemuErr:
			v.qemuErr <- err
			return fmt.Errorf("QEMU ended (%v); console:\n%s", err, v.console(30))
		default:
		}
		last = v.probe()
		if last == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 3m: %v; console:\n%s", last, v.console(30))
}

func (v *vm) probe() error {
	resp, err := v.agent.Get("http://" + net.JoinHostPort(guestIP, agentPort) + "/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := v.ident.Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return err
	}
	if !p.GetReady().GetValue() {
		return fmt.Errorf("driver not ready")
	}
	return nil
}

// stop ends QEMU (its process group: the script and qemu) and keeps the
// guest's logs in the shared directory.
func (v *vm) stop(t *testing.T) {
	if v.qemu == nil || v.qemu.Process == nil {
		return
	}
	_ = syscall.Kill(-v.qemu.Process.Pid, syscall.SIGTERM)
	select {
	case <-v.qemuErr:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-v.qemu.Process.Pid, syscall.SIGKILL)
		<-v.qemuErr
	}
	if t.Failed() {
		t.Logf("guest console, last lines:\n%s", v.console(40))
		if data, err := os.ReadFile(filepath.Join(v.dir, "driver.log")); err == nil {
			t.Logf("driver log, last lines:\n%s", lastLines(string(data), 40))
		}
	}
}

func (v *vm) console(n int) string {
	data, _ := os.ReadFile(filepath.Join(v.dir, "console.log"))
	return lastLines(string(data), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dialInNetns connects to addr from inside the test's namespace: the
// socket is made by a thread that has entered the namespace, and keeps it.
func dialInNetns(ctx context.Context, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + netns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter the namespace %s: %w", netns, err)
	}
	conn, dialErr := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays in the namespace: never unlock it, so that
		// the runtime ends it with this goroutine.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leave the namespace %s: %w", netns, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// exec runs a command in the guest.
func (v *vm) exec(t *testing.T, args ...string) execResult {
	t.Helper()
	var res execResult
	v.post(t, "/exec", map[string]any{"args": args, "timeout": 120}, &res)
	return res
}

// sh runs a shell script in the guest and fails the test unless it succeeds.
func (v *vm) sh(t *testing.T, script string) string {
	t.Helper()
	res := v.exec(t, "/bin/sh", "-c", script)
	if res.Code != 0 {
		t.Fatalf("guest: %s: exit %d: %s%s", script, res.Code, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

// scan lists where in the guest the needle appears: process arguments and
// environments, and the files below dirs.
func (v *vm) scan(t *testing.T, needle string, dirs ...string) []string {
	t.Helper()
	var res struct {
		Found []string `json:"found"`
	}
	v.post(t, "/scan", map[string]any{"needle": needle, "dirs": dirs}, &res)
	return res.Found
}

type execResult struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

func (v *vm) post(t *testing.T, path string, req, resp any) {
	t.Helper()
	if err := v.call(path, req, resp); err != nil {
		t.Fatal(err)
	}
}

// call sends req to the agent's path and decodes its answer into resp.
func (v *vm) call(path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := v.agent.Post("http://"+net.JoinHostPort(guestIP, agentPort)+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("agent %s: %s", path, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(resp); err != nil {
		return fmt.Errorf("agent %s: %w", path, err)
	}
	return nil
}

// guestRun runs a command in the guest and fails unless it succeeds; for
// callers without a *testing.T (csi-sanity's hooks).
func (v *vm) guestRun(args ...string) (string, error) {
	var res execResult
	if err := v.call("/exec", map[string]any{"args": args, "timeout": 60}, &res); err != nil {
		return "", err
	}
	if res.Code != 0 {
		return res.Stdout, fmt.Errorf("guest: %s: exit %d: %s", strings.Join(args, " "), res.Code, res.Stderr)
	}
	return res.Stdout, nil
}
