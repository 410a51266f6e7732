package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	// binEnv names the directory of the binaries hack/e2e-tools.sh built.
	binEnv = "CEPHFS_CSI_E2E_BIN"
	// driverName is the driver's default --drivername and the name in
	// deploy/csi/csidriver.yaml.
	driverName = "cephfs-csi.io"
	// topologyKey is the key of the segment the node plugin reports
	// (pkg/driver.TopologyKey of driverName; this module does not import
	// the driver's).
	topologyKey = "topology.cephfs-csi.io/node-plugin"
	// clusterID names the embedded cluster in the driver's cluster config.
	clusterID = "e2e"
	// driverNamespace is the namespace of deploy/csi.
	driverNamespace = "cephfs-csi"
	// controllerServiceAccount is what the sidecars run as
	// (deploy/csi/serviceaccount-controller.yaml).
	controllerServiceAccount = "cephfs-csi-controller"
	// testNamespace holds the test's claims and snapshots.
	testNamespace = "default"
	// stopGrace is how long a component may take to exit on SIGTERM.
	stopGrace = 10 * time.Second
)

// env is everything the test runs: the embedded Ceph cluster, the control
// plane, the driver and its sidecars, and the simulated kubelet.
type env struct {
	repo string // repository root
	bin  string // the tools hack/e2e-tools.sh built
	work string // certificates, etcd data, sockets, mounts: removed at the end
	logs string // one log per component: kept

	procs   []*process // in start order
	ceph    *cephCluster
	cp      *controlPlane
	kube    *kube
	conn    *grpc.ClientConn // to the driver
	kubelet *kubelet
}

// repoRoot is the repository's top directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// setup starts everything, or skips the test when the tools were not
// built. Everything is stopped and removed when the test ends.
func setup(ctx context.Context, t *testing.T) *env {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Skipf("%s is not set: run `make e2e` (it builds the Kubernetes components with hack/e2e-tools.sh)", binEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("the e2e test mounts volumes: it needs root")
	}
	e := &env{repo: repoRoot(), bin: bin}
	e.logs = filepath.Join(e.repo, "_build", "e2e-logs")
	if err := resetDir(e.logs); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "cephfs-csi-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	e.work = work
	t.Cleanup(func() { e.teardown(t) })

	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"boot the Ceph cluster", e.bootCeph},
		{"start the control plane", e.startKubernetes},
		{"install the driver's objects", e.installDriverObjects},
		{"start the driver", e.startDriver},
		{"register the node", func(ctx context.Context) error { return e.kubelet.register(ctx) }},
		{"start the sidecars", e.startSidecars},
	} {
		start := time.Now()
		if err := step.fn(ctx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		t.Logf("%s: %v", step.name, time.Since(start).Round(time.Millisecond))
	}
	return e
}

func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// start starts a component of the test; teardown stops it.
func (e *env) start(name, binary string, args ...string) error {
	return e.startWithEnv(name, nil, binary, args...)
}

// startWithEnv is start with variables (NAME=value) added to the test's
// environment.
func (e *env) startWithEnv(name string, extraEnv []string, binary string, args ...string) error {
	p, err := startProcessWithEnv(e.logs, name, extraEnv, binary, args...)
	if err != nil {
		return err
	}
	e.procs = append(e.procs, p)
	return nil
}

// tool is the path of one of the binaries hack/e2e-tools.sh built.
func (e *env) tool(name string) string { return filepath.Join(e.bin, name) }

// deadProcess returns an error naming the first component that exited.
func (e *env) deadProcess() error {
	for _, p := range e.procs {
		if err := p.exitError(); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) bootCeph(ctx context.Context) error {
	var err error
	e.ceph, err = bootCeph(ctx, e.repo, filepath.Join(e.repo, "_build", "cluster-e2e"), "e2e", filepath.Join(e.logs, "ceph-cluster.log"))
	return err
}

func (e *env) startKubernetes(ctx context.Context) error {
	var err error
	if e.cp, err = e.startControlPlane(ctx); err != nil {
		return err
	}
	e.kube, err = newKube(e.cp.admin)
	return err
}

// installDriverObjects creates what the sidecars need before they start:
// the namespace, the snapshot CRDs, from deploy/csi the CSIDriver, the
// controller's service account and its RBAC, so that the sidecars run with
// exactly the rights the manifests grant, and deploy/capacity's objects.
func (e *env) installDriverObjects(ctx context.Context) error {
	csiDir := filepath.Join(e.repo, "deploy", "csi")
	if err := e.kube.applyFile(ctx, filepath.Join(csiDir, "namespace.yaml"), "", false); err != nil {
		return err
	}
	if err := e.installSnapshotCRDs(ctx); err != nil {
		return err
	}
	for _, name := range []string{
		"csidriver.yaml", "serviceaccount-controller.yaml",
		"clusterrole-provisioner.yaml", "clusterrole-resizer.yaml", "clusterrole-snapshotter.yaml",
		"clusterrolebinding-provisioner.yaml", "clusterrolebinding-resizer.yaml", "clusterrolebinding-snapshotter.yaml",
	} {
		if err := e.kube.applyFile(ctx, filepath.Join(csiDir, name), driverNamespace, false); err != nil {
			return err
		}
	}
	return e.installCapacityObjects(ctx)
}

// installSnapshotCRDs applies the VolumeSnapshot (and VolumeGroupSnapshot:
// the snapshot-controller watches them too) CRDs and waits until they are
// served.
func (e *env) installSnapshotCRDs(ctx context.Context) error {
	files, err := snapshotCRDFiles(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := e.kube.applyFile(ctx, f, "", false); err != nil {
			return err
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml") // group_plural
		group, plural, _ := strings.Cut(name, "_")
		err := e.waitUntil(ctx, "CRD "+plural+"."+group+" established", time.Minute, func(ctx context.Context) error {
			return e.kube.crdEstablished(ctx, plural+"."+group)
		})
		if err != nil {
			return err
		}
	}
	e.kube.mapper.Reset() // discover the new kinds
	return nil
}

// startDriver builds the driver from this checkout, runs it in "all" mode
// and waits until its Probe answers ready.
func (e *env) startDriver(ctx context.Context) error {
	binary := filepath.Join(e.work, "cephfs-csi")
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/cephfs-csi")
	build.Dir = e.repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/cephfs-csi: %w\n%s", err, out)
	}
	configFile := filepath.Join(e.work, "config.json")
	if err := e.ceph.writeDriverConfig(configFile, clusterID); err != nil {
		return err
	}
	if err := e.writeControllerSecret(); err != nil {
		return err
	}
	socket := e.driverSocket()
	err := e.start("cephfs-csi", binary,
		"--mode=all",
		"--endpoint=unix://"+socket,
		"--nodeid=e2e-node",
		"--cluster-config="+configFile,
		"--keys-dir="+filepath.Join(e.work, "keys"),
		"--controller-secret-dir="+e.controllerSecretDir(),
		"-v=4",
	)
	if err != nil {
		return err
	}
	if e.conn, err = grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return fmt.Errorf("connect to the driver: %w", err)
	}
	e.kubelet = newKubelet(csi.NewNodeClient(e.conn), e.kube.core, filepath.Join(e.work, "kubelet"))
	identity := csi.NewIdentityClient(e.conn)
	return e.waitUntil(ctx, "driver ready", time.Minute, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			return err
		}
		if resp.GetReady() != nil && !resp.GetReady().GetValue() {
			return fmt.Errorf("Probe: not ready")
		}
		return nil
	})
}

func (e *env) driverSocket() string { return filepath.Join(e.work, "csi.sock") }

// startSidecars starts csi-provisioner, csi-resizer and csi-snapshotter with
// the flags of deploy/csi/deployment-controller.yaml and csi-provisioner's
// of deploy/capacity (but no leader election, shorter retries, a shorter
// capacity poll, and no topology for Immediate classes), as the
// controller's service account; and the snapshot-controller with admin
// rights.
func (e *env) startSidecars(ctx context.Context) error {
	kubeconfig := filepath.Join(e.work, "controller.kubeconfig")
	if err := e.tokenKubeconfig(ctx, driverNamespace, controllerServiceAccount, kubeconfig); err != nil {
		return err
	}
	common := []string{
		"--csi-address=" + e.driverSocket(),
		"--kubeconfig=" + kubeconfig,
		"--leader-election=false",
		"--timeout=150s",
		"--retry-interval-max=5s",
		"--v=4",
	}
	sidecars := []struct {
		name  string
		extra []string
		env   []string
	}{
		{"csi-provisioner", append([]string{"--extra-create-metadata", "--immediate-topology=false"}, capacityProvisionerArgs()...),
			capacityProvisionerEnv()},
		{"csi-resizer", []string{"--handle-volume-inuse-error=false"}, nil},
		{"csi-snapshotter", []string{"--extra-create-metadata"}, nil},
	}
	for _, s := range sidecars {
		if err := e.startWithEnv(s.name, s.env, e.tool(s.name), append(append([]string{}, common...), s.extra...)...); err != nil {
			return err
		}
	}
	return e.startSnapshotController()
}

// startSnapshotController starts the snapshot-controller with admin rights.
func (e *env) startSnapshotController() error {
	return e.start("snapshot-controller", e.tool("snapshot-controller"),
		"--kubeconfig="+e.cp.adminKubeconfig,
		"--leader-election=false",
		"--retry-interval-max=5s",
		"--v=4",
	)
}

// teardown unmounts what is mounted, stops every component, wipes the Ceph
// cluster and removes the work directory, whatever state the test left.
// Each stage has its own deadline, so that a stuck one does not keep the
// next from running; all together stay below the 5 minutes between the
// test's own timeout and `go test -timeout 20m`.
func (e *env) teardown(t *testing.T) {
	if e.kubelet != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := e.kubelet.unmountAll(ctx); err != nil {
			t.Errorf("teardown: %v", err)
		}
		cancel()
	}
	if e.conn != nil {
		e.conn.Close()
	}
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop(stopGrace)
	}
	if err := e.removeControllerSecret(); err != nil {
		t.Errorf("teardown: %v", err)
	}
	mountsLeft := forceUnmount(e.work)
	if len(mountsLeft) != 0 {
		t.Errorf("teardown: still mounted: %v", mountsLeft)
	}
	e.reportDenials(t)
	if t.Failed() {
		e.reportFailure(t)
	}
	if e.ceph != nil {
		if err := e.ceph.wipe(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
	if len(mountsLeft) == 0 {
		if err := os.RemoveAll(e.work); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}
}

// forceUnmount lazily unmounts whatever is still mounted below dir (after a
// failure in the middle of a test), deepest first, and returns what could
// not be unmounted.
func forceUnmount(dir string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mounts, err := mountsUnder(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for len(mounts) > 0 {
		deepest := ""
		for m := range mounts {
			if len(m) > len(deepest) {
				deepest = m
			}
		}
		delete(mounts, deepest)
		if out, err := exec.CommandContext(ctx, "umount", "-l", deepest).CombinedOutput(); err != nil {
			left = append(left, fmt.Sprintf("%s (%v: %s)", deepest, err, strings.TrimSpace(string(out))))
		}
	}
	return left
}

// reportFailure keeps the Ceph cluster's logs next to the components' and
// prints where they are, with the last errors each component logged.
func (e *env) reportFailure(t *testing.T) {
	if e.ceph != nil {
		dst := filepath.Join(e.logs, "ceph")
		if out, err := exec.Command("cp", "-r", filepath.Join(e.ceph.dir, "log"), dst).CombinedOutput(); err != nil {
			t.Logf("copy the Ceph logs: %v: %s", err, out)
		}
	}
	for _, p := range e.procs {
		if errs := lastErrors(p.logPath, 3); errs != "" {
			t.Logf("last errors of %s:\n%s", p.name, errs)
		}
	}
	t.Logf("the logs of every component are in %s", e.logs)
}

// reportDenials logs the API requests RBAC refused to the sidecars. They run
// with the rights of deploy/csi's ClusterRoles, which are written for the
// sidecar images of deploy/csi/deployment-controller.yaml; newer sidecars
// may ask for more (optional features degrade without it).
func (e *env) reportDenials(t *testing.T) {
	for _, p := range e.procs {
		for _, denial := range rbacDenials(p.logPath) {
			t.Logf("RBAC: %s was refused: %s", p.name, denial)
		}
	}
}
