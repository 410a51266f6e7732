// Package e2e proves the Kubernetes path of the driver without a kubelet: a
// real etcd, kube-apiserver and kube-controller-manager, the real CSI
// sidecars and snapshot-controller, the driver built from this checkout and
// the embedded Ceph cluster, all local processes on 127.0.0.1. The kubelet's
// node calls are made by the test itself (see kubelet), with real ceph-fuse
// mounts.
//
// Run it with `make e2e` (as root); without CEPHFS_CSI_E2E_BIN it skips.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// overallTimeout bounds the whole test, below `go test -timeout` so that
// the cleanup always runs.
const overallTimeout = 15 * time.Minute

// Timeouts of the waits: binding takes well under a second, a snapshot about
// one, a restore or clone a few (csi-provisioner retries while Ceph copies).
const (
	bindTimeout     = time.Minute
	copyTimeout     = 2 * time.Minute
	snapshotTimeout = time.Minute
	resizeTimeout   = time.Minute
	deleteTimeout   = 2 * time.Minute
)

// Names of the objects the test makes.
const (
	secretName           = "cephfs-csi-e2e"
	deleteClass          = "e2e-delete"
	retainClass          = "e2e-retain"
	snapshotClass        = "e2e"
	snapshotName         = "data-snapshot"
	staticSubvolume      = "static-e2e"
	staticPVName         = "static-e2e"
	beforeSnapshotText   = "written before the snapshot\n"
	afterSnapshotText    = "written after the snapshot\n"
	dataFile             = "data.txt"
	initialSize          = 64 << 20
	expandedSize         = 128 << 20
	staticSize           = 32 << 20
	retainedSize         = 16 << 20
	subvolumeNameAttr    = "subvolumeName"
	subvolumeGroupAttr   = "subvolumeGroup"
	secretNameParam      = "csi.storage.k8s.io/%s-secret-name"
	secretNamespaceParam = "csi.storage.k8s.io/%s-secret-namespace"
)

// claim is a PVC of the test and what it was bound to.
type claim struct {
	name      string
	pv        string
	subvolume string // empty for the static volume
	group     string
}

// scenario is the state the steps pass on.
type scenario struct {
	*env
	data, restored, clone, retained, static claim
}

func TestKubernetes(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("e2e wall time: %v", time.Since(start).Round(100*time.Millisecond)) })
	ctx, cancel := context.WithTimeout(context.Background(), overallTimeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := &scenario{env: setup(ctx, t)}
	t.Logf("setup: %v", time.Since(start).Round(100*time.Millisecond))
	for _, step := range []struct {
		name        string
		run         func(context.Context, *testing.T)
		independent bool // later steps do not need it to pass
	}{
		{"Manifests", s.manifests, true},
		{"Capacity", s.capacity, true},
		{"Provision", s.provision, false},
		{"StageAndPublish", s.stageAndPublish, false},
		{"Expand", s.expand, false},
		{"Snapshot", s.snapshot, false},
		{"Restore", s.restore, false},
		{"Clone", s.cloneClaim, false},
		{"StaticVolume", s.staticVolume, false},
		{"Reclaim", s.reclaim, false},
	} {
		if !t.Run(step.name, func(t *testing.T) { step.run(ctx, t) }) && !step.independent {
			t.FailNow() // the next steps build on this one
		}
	}
}

// manifests checks that the API server accepts every manifest of deploy/csi
// and deploy/examples, and charts/cephfs-csi rendered with several value sets
// (server-side apply, dry run, strict field validation).
// The namespace, the CRDs and the RBAC objects were applied for real by setup.
func (s *scenario) manifests(ctx context.Context, t *testing.T) {
	for _, dir := range []string{"csi", "examples"} {
		files, err := filepath.Glob(filepath.Join(s.repo, "deploy", dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests in deploy/%s (%v)", dir, err)
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" { // not an object
				continue
			}
			if err := s.kube.applyFile(ctx, f, driverNamespace, true); err != nil {
				t.Errorf("deploy/%s: %v", dir, err)
			}
		}
	}
	s.chartManifests(ctx, t)
}

// provision creates the driver's secret and StorageClasses and a claim, and
// checks its PV and its subvolume.
func (s *scenario) provision(ctx context.Context, t *testing.T) {
	s.createSecret(ctx, t)
	s.createStorageClass(ctx, t, deleteClass, corev1.PersistentVolumeReclaimDelete)
	s.createStorageClass(ctx, t, retainClass, corev1.PersistentVolumeReclaimRetain)
	s.data = s.createClaim(ctx, t, "data", deleteClass, initialSize, nil)
	pv := s.getPV(ctx, t, s.data.pv)
	src := pv.Spec.CSI
	if src.NodeStageSecretRef == nil || src.NodeStageSecretRef.Name != secretName ||
		src.ControllerExpandSecretRef == nil || src.ControllerExpandSecretRef.Name != secretName {
		t.Errorf("PV %s: want the node-stage and controller-expand secret refs naming %s, got %+v and %+v",
			pv.Name, secretName, src.NodeStageSecretRef, src.ControllerExpandSecretRef)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("PV %s: reclaim policy %s, want Delete", pv.Name, pv.Spec.PersistentVolumeReclaimPolicy)
	}
	s.checkCapacity(ctx, t, s.data, initialSize)
}

// stageAndPublish mounts the claim's volume as the kubelet would, writes a
// file through the pod's path and reads it back.
func (s *scenario) stageAndPublish(ctx context.Context, t *testing.T) {
	vm := s.mount(ctx, t, s.data)
	writeFile(t, vm, beforeSnapshotText)
	requireFile(t, vm, beforeSnapshotText)
	// Both paths show the same filesystem.
	if got, err := os.ReadFile(filepath.Join(vm.staging, dataFile)); err != nil || string(got) != beforeSnapshotText {
		t.Errorf("staging path: read %q, %v; want %q", got, err, beforeSnapshotText)
	}
}

// expand grows the claim online; the PV, the claim's status, the subvolume's
// quota and the mount's size follow.
func (s *scenario) expand(ctx context.Context, t *testing.T) {
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":"%d"}}}}`, expandedSize)
	if _, err := s.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Patch(ctx, s.data.name,
		types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("expand PVC %s: %v", s.data.name, err)
	}
	want := resource.NewQuantity(expandedSize, resource.BinarySI)
	err := s.waitUntil(ctx, "PVC "+s.data.name+" expanded", resizeTimeout, func(ctx context.Context) error {
		pvc, err := s.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, s.data.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got := pvc.Status.Capacity[corev1.ResourceStorage]
		if got.Cmp(*want) != 0 {
			return fmt.Errorf("status capacity %s; conditions %+v; events: %s", got.String(), pvc.Status.Conditions,
				s.events(ctx, "PersistentVolumeClaim", s.data.name))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.checkCapacity(ctx, t, s.data, expandedSize)
	vm := s.mount(ctx, t, s.data) // already mounted: the kubelet's view
	err = s.waitUntil(ctx, "mount of "+s.data.pv+" showing the new size", resizeTimeout, func(ctx context.Context) error {
		total, err := s.kubelet.volumeStats(ctx, vm)
		if err != nil {
			return err
		}
		if total != expandedSize {
			return fmt.Errorf("NodeGetVolumeStats: total %d bytes, want %d", total, expandedSize)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// snapshot takes a VolumeSnapshot of the claim, then changes the file, so
// that a restore must show the old content.
func (s *scenario) snapshot(ctx context.Context, t *testing.T) {
	class := &snapv1.VolumeSnapshotClass{
		ObjectMeta:     metav1.ObjectMeta{Name: snapshotClass},
		Driver:         driverName,
		DeletionPolicy: snapv1.VolumeSnapshotContentDelete,
		Parameters:     withSecretParams(map[string]string{"clusterID": clusterID}, "snapshotter"),
	}
	if _, err := s.kube.snap.SnapshotV1().VolumeSnapshotClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VolumeSnapshotClass: %v", err)
	}
	source := s.data.name
	snap := &snapv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: snapshotName, Namespace: testNamespace},
		Spec: snapv1.VolumeSnapshotSpec{
			VolumeSnapshotClassName: &class.Name,
			Source:                  snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: &source},
		},
	}
	if _, err := s.kube.snap.SnapshotV1().VolumeSnapshots(testNamespace).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VolumeSnapshot: %v", err)
	}
	ready, err := s.waitSnapshotReady(ctx, snapshotName, snapshotTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if rs := ready.Status.RestoreSize; rs == nil || rs.Value() != expandedSize {
		t.Errorf("VolumeSnapshot %s: restoreSize %v, want %d", snapshotName, rs, expandedSize)
	}
	writeFile(t, s.mount(ctx, t, s.data), afterSnapshotText)
}

// restore makes a claim from the snapshot: it holds the snapshot's data.
func (s *scenario) restore(ctx context.Context, t *testing.T) {
	source := &corev1.TypedLocalObjectReference{
		APIGroup: &snapv1.SchemeGroupVersion.Group, Kind: "VolumeSnapshot", Name: snapshotName,
	}
	s.restored = s.createClaim(ctx, t, "restored", deleteClass, expandedSize, source)
	s.checkCapacity(ctx, t, s.restored, expandedSize)
	requireFile(t, s.mount(ctx, t, s.restored), beforeSnapshotText)
}

// cloneClaim makes a claim from the first claim: it holds its current data.
func (s *scenario) cloneClaim(ctx context.Context, t *testing.T) {
	source := &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: s.data.name}
	s.clone = s.createClaim(ctx, t, "clone", deleteClass, expandedSize, source)
	s.checkCapacity(ctx, t, s.clone, expandedSize)
	requireFile(t, s.mount(ctx, t, s.clone), afterSnapshotText)
}

// staticPV is a PV made by hand for an existing path of the filesystem: RWX,
// Retain, no StorageClass, staged with the admin Secret secret of the
// driver's namespace.
func staticPV(name, handle string, size int64, secret string, attrs map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver:             driverName,
				VolumeHandle:       handle,
				VolumeAttributes:   attrs,
				NodeStageSecretRef: &corev1.SecretReference{Name: secret, Namespace: driverNamespace},
			}},
		},
	}
}

// staticVolume mounts an existing path of the filesystem through a PV made
// by hand. The path is a subvolume made outside the driver, with its own
// quota: the mount reporting that quota as its size shows that it is
// rooted at that path.
func (s *scenario) staticVolume(ctx context.Context, t *testing.T) {
	path, err := s.ceph.createSubvolume(ctx, s.ceph.group, staticSubvolume, staticSize)
	if err != nil {
		t.Fatal(err)
	}
	pv := staticPV(staticPVName, staticSubvolume, staticSize, secretName, map[string]string{
		"clusterID": clusterID, "fsName": s.ceph.fs, "rootPath": path, "staticVolume": "true",
	})
	if _, err := s.kube.core.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create static PV: %v", err)
	}
	pvc := claimSpec("static", "", staticSize, nil)
	pvc.Spec.VolumeName = staticPVName
	s.static = s.bindClaim(ctx, t, pvc, bindTimeout)
	if s.static.pv != staticPVName {
		t.Fatalf("PVC static bound to %s, want %s", s.static.pv, staticPVName)
	}
	vm := s.mount(ctx, t, s.static)
	writeFile(t, vm, beforeSnapshotText)
	requireFile(t, vm, beforeSnapshotText)
	total, err := s.kubelet.volumeStats(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	if total != staticSize {
		t.Errorf("static volume: NodeGetVolumeStats total %d bytes, want the quota of %s (%d): is it mounted at %s?",
			total, staticSubvolume, staticSize, path)
	}
}

// reclaim deletes the claims: the subvolumes of claims of the Delete class
// go, the one of the Retain class and the static path stay.
func (s *scenario) reclaim(ctx context.Context, t *testing.T) {
	s.retained = s.createClaim(ctx, t, "retained", retainClass, retainedSize, nil)
	if err := s.kubelet.unmountAll(ctx); err != nil {
		t.Fatal(err) // a mounted subvolume must not be deleted under the mount
	}
	// The snapshot first, so that the source's subvolume is removed for good.
	snaps := s.kube.snap.SnapshotV1().VolumeSnapshots(testNamespace)
	if err := snaps.Delete(ctx, snapshotName, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete VolumeSnapshot: %v", err)
	}
	if err := s.waitGone(ctx, "VolumeSnapshot "+snapshotName, deleteTimeout, func(ctx context.Context) error {
		_, err := snaps.Get(ctx, snapshotName, metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	deleted := []claim{s.data, s.restored, s.clone}
	kept := []claim{s.retained, s.static}
	for _, c := range append(append([]claim{}, deleted...), kept...) {
		if err := s.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Delete(ctx, c.name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete PVC %s: %v", c.name, err)
		}
	}
	pvs := s.kube.core.CoreV1().PersistentVolumes()
	for _, c := range deleted {
		if err := s.waitGone(ctx, "PV "+c.pv, deleteTimeout, func(ctx context.Context) error {
			_, err := pvs.Get(ctx, c.pv, metav1.GetOptions{})
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	for _, c := range kept {
		if err := s.waitUntil(ctx, "PV "+c.pv+" Released", deleteTimeout, func(ctx context.Context) error {
			pv, err := pvs.Get(ctx, c.pv, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if pv.Status.Phase != corev1.VolumeReleased {
				return fmt.Errorf("phase %s", pv.Status.Phase)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	staticPath := claim{name: s.static.name, subvolume: staticSubvolume, group: s.ceph.group}
	s.checkSubvolumes(ctx, t, deleted, []claim{s.retained, staticPath})
}

// checkSubvolumes checks that the subvolumes of gone are gone and those of
// kept exist.
func (s *scenario) checkSubvolumes(ctx context.Context, t *testing.T, gone, kept []claim) {
	existing, err := s.ceph.subvolumes(ctx, s.ceph.group)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range gone {
		if existing[c.subvolume] {
			t.Errorf("subvolume %s of deleted PVC %s (Delete policy) still exists", c.subvolume, c.name)
		}
	}
	for _, c := range kept {
		if !existing[c.subvolume] {
			t.Errorf("subvolume %s (PVC %q, Retain policy or static) was deleted", c.subvolume, c.name)
		}
	}
}

// createSecret creates the Secret the StorageClasses and the static PV
// name: the admin's CephX credentials.
func (s *scenario) createSecret(ctx context.Context, t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: driverNamespace},
		StringData: s.ceph.secrets(),
	}
	if _, err := s.kube.core.CoreV1().Secrets(driverNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret: %v", err)
	}
}

// createStorageClass creates a class of the embedded cluster's filesystem
// that names the secret for every step. Binding is Immediate: without a
// kubelet no node is ever selected.
func (s *scenario) createStorageClass(ctx context.Context, t *testing.T, name string, reclaim corev1.PersistentVolumeReclaimPolicy) {
	expand, binding := true, storagev1.VolumeBindingImmediate
	class := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name},
		Provisioner:          driverName,
		Parameters:           withSecretParams(map[string]string{"clusterID": clusterID, "fsName": s.ceph.fs}, "provisioner", "controller-expand", "node-stage"),
		ReclaimPolicy:        &reclaim,
		AllowVolumeExpansion: &expand,
		VolumeBindingMode:    &binding,
	}
	if _, err := s.kube.core.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create StorageClass %s: %v", name, err)
	}
}

// withSecretParams adds the csi.storage.k8s.io/<step>-secret-{name,namespace}
// parameters naming the test's secret for each step.
func withSecretParams(params map[string]string, steps ...string) map[string]string {
	for _, step := range steps {
		params[fmt.Sprintf(secretNameParam, step)] = secretName
		params[fmt.Sprintf(secretNamespaceParam, step)] = driverNamespace
	}
	return params
}

func claimSpec(name, class string, size int64, source *corev1.TypedLocalObjectReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: &class,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI),
			}},
			DataSource: source,
		},
	}
}

// createClaim creates a claim of a class (from source, if any) and waits
// until it is bound to a PV of the driver.
func (s *scenario) createClaim(ctx context.Context, t *testing.T, name, class string, size int64, source *corev1.TypedLocalObjectReference) claim {
	t.Helper()
	timeout := bindTimeout
	if source != nil {
		timeout = copyTimeout
	}
	c := s.bindClaim(ctx, t, claimSpec(name, class, size, source), timeout)
	if c.subvolume == "" || c.group == "" {
		t.Fatalf("PV %s of PVC %s: no %s or %s in the volume attributes", c.pv, name, subvolumeNameAttr, subvolumeGroupAttr)
	}
	return c
}

// bindClaim creates the claim and waits until it is Bound.
func (s *scenario) bindClaim(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim, timeout time.Duration) claim {
	t.Helper()
	start := time.Now()
	if _, err := s.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PVC %s: %v", pvc.Name, err)
	}
	_, pv, err := s.waitPVCBound(ctx, pvc.Name, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PVC %s bound to PV %s in %v", pvc.Name, pv.Name, time.Since(start).Round(time.Millisecond))
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName {
		t.Fatalf("PV %s is not a volume of %s: %+v", pv.Name, driverName, pv.Spec.PersistentVolumeSource)
	}
	attrs := pv.Spec.CSI.VolumeAttributes
	return claim{name: pvc.Name, pv: pv.Name, subvolume: attrs[subvolumeNameAttr], group: attrs[subvolumeGroupAttr]}
}

func (s *scenario) getPV(ctx context.Context, t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	pv, err := s.kube.core.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// checkCapacity checks the PV's capacity and the subvolume's quota. The PV
// follows an expansion asynchronously: wait for it.
func (s *scenario) checkCapacity(ctx context.Context, t *testing.T, c claim, size int64) {
	t.Helper()
	want := resource.NewQuantity(size, resource.BinarySI)
	err := s.waitUntil(ctx, "capacity of PV "+c.pv, resizeTimeout, func(ctx context.Context) error {
		pv, err := s.kube.core.CoreV1().PersistentVolumes().Get(ctx, c.pv, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(*want) != 0 {
			return fmt.Errorf("capacity %s, want %s", got.String(), want.String())
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	quota, err := s.ceph.subvolumeQuota(ctx, c.group, c.subvolume)
	if err != nil {
		t.Fatal(err)
	}
	if quota != size {
		t.Errorf("subvolume %s/%s of PVC %s: quota %d bytes, want %d", c.group, c.subvolume, c.name, quota, size)
	}
}

// mount stages and publishes the claim's PV.
func (s *scenario) mount(ctx context.Context, t *testing.T, c claim) *volumeMount {
	t.Helper()
	vm, err := s.kubelet.mount(ctx, c.pv)
	if err != nil {
		t.Fatal(err)
	}
	fstype, err := mountFSType(vm.target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fstype, "ceph") {
		t.Errorf("%s is mounted with %s, want CephFS", vm.target, fstype)
	}
	return vm
}

// writeFile writes the test's file into the volume, synced.
func writeFile(t *testing.T, vm *volumeMount, text string) {
	t.Helper()
	f, err := os.Create(filepath.Join(vm.target, dataFile))
	if err == nil {
		_, err = f.WriteString(text)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("write %s into PV %s: %v", dataFile, vm.pv.Name, err)
	}
}

// requireFile fails unless the volume's file holds text.
func requireFile(t *testing.T, vm *volumeMount, text string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(vm.target, dataFile))
	if err != nil {
		t.Fatalf("read %s from PV %s: %v", dataFile, vm.pv.Name, err)
	}
	if string(got) != text {
		t.Fatalf("PV %s: %s holds %q, want %q", vm.pv.Name, dataFile, got, text)
	}
}
