package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Storage capacity tracking runs as deploy/capacity sets it up: the
// CSIDriver says storageCapacity: true, csi-provisioner has
// --enable-capacity and names the controller's Deployment as the owner of its
// CSIStorageCapacity objects (--capacity-ownerref-level=2, from POD_NAME and
// NAMESPACE, with the Role of deploy/capacity), and the driver answers
// GetCapacity with a credential of its own (--controller-secret-dir).
const (
	// capacityPollInterval is csi-provisioner's --capacity-poll-interval:
	// deploy/capacity's is 1m, the test's short so that a pool quota shows
	// within seconds.
	capacityPollInterval = 2 * time.Second
	// capacityTimeout bounds the wait for an object and for an update: a
	// few poll intervals (the provisioner's API client is limited to one
	// request per second, --kube-api-capacity-qps).
	capacityTimeout = time.Minute
	capacityClass   = "e2e-capacity"
	// capacityQuota is the max_bytes quota put on the class's pool: far
	// below the memstore OSD's free space (about 4 GB), so it is the bound.
	capacityQuota = 256 << 20
	// controllerDeployment is deploy/csi's Deployment, which the test
	// creates for real (no deployment controller runs) as the owner of the
	// capacity objects; controllerReplicaSet and controllerPod stand for
	// what the deployment controller would make of it, and controllerPod is
	// csi-provisioner's POD_NAME.
	controllerDeployment = "cephfs-csi-controller"
	controllerReplicaSet = controllerDeployment + "-e2e"
	controllerPod        = controllerReplicaSet + "-host"
	// capacityComponent is deploy/capacity, relative to deploy/.
	capacityComponent = "capacity"
	// capacityFieldManager applies deploy/capacity's CSIDriver patch over
	// deploy/csi's object, as kustomize merges it.
	capacityFieldManager = fieldManager + "-capacity"
)

// capacityProvisionerArgs are csi-provisioner's flags for capacity tracking
// (deploy/capacity/deployment-controller-capacity.yaml, but the interval).
func capacityProvisionerArgs() []string {
	return []string{
		"--enable-capacity",
		"--capacity-ownerref-level=2",
		"--capacity-poll-interval=" + capacityPollInterval.String(),
	}
}

// capacityProvisionerEnv is what the Deployment's fieldRefs give the
// sidecar: the pod's name and namespace.
func capacityProvisionerEnv() []string {
	return []string{"POD_NAME=" + controllerPod, "NAMESPACE=" + driverNamespace}
}

// installCapacityObjects applies deploy/capacity's Role and RoleBinding and
// its CSIDriver patch (storageCapacity: true), and the controller's
// Deployment with the ReplicaSet and the pod that csi-provisioner walks up
// from to find the owner of its objects.
func (e *env) installCapacityObjects(ctx context.Context) error {
	dir := filepath.Join(e.repo, "deploy", capacityComponent)
	for _, name := range []string{"role-capacity.yaml", "rolebinding-capacity.yaml"} {
		if err := e.kube.applyFile(ctx, filepath.Join(dir, name), driverNamespace, false); err != nil {
			return err
		}
	}
	patch, err := readManifest(filepath.Join(dir, "csidriver-storage-capacity.yaml"))
	if err != nil {
		return err
	}
	for _, obj := range patch {
		if err := e.kube.applyAs(ctx, obj, "", false, capacityFieldManager); err != nil {
			return fmt.Errorf("deploy/capacity: %s %q: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return e.createControllerPod(ctx)
}

// createControllerPod creates deploy/csi's controller Deployment, and the
// ReplicaSet and pod the deployment controller would make of it, each owned
// by the one before. The pod is never scheduled (no scheduler, no kubelet):
// it only gives csi-provisioner, which runs on the host, a pod to start from.
func (e *env) createControllerPod(ctx context.Context) error {
	if err := e.kube.applyFile(ctx, filepath.Join(e.repo, "deploy", "csi", "deployment-controller.yaml"), driverNamespace, false); err != nil {
		return err
	}
	apps := e.kube.core.AppsV1()
	dep, err := apps.Deployments(driverNamespace).Get(ctx, controllerDeployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("Deployment %s: %w", controllerDeployment, err)
	}
	template := *dep.Spec.Template.DeepCopy()
	template.Labels["pod-template-hash"] = "e2e"
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: controllerReplicaSet, Namespace: driverNamespace, Labels: template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: dep.Spec.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: template.Labels},
			Template: template,
		},
	}
	if rs, err = apps.ReplicaSets(driverNamespace).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ReplicaSet %s: %w", controllerReplicaSet, err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: controllerPod, Namespace: driverNamespace, Labels: template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: template.Spec,
	}
	if _, err := e.kube.core.CoreV1().Pods(driverNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Pod %s: %w", controllerPod, err)
	}
	return nil
}

// controllerSecretDir is the driver's --controller-secret-dir.
func (e *env) controllerSecretDir() string { return filepath.Join(e.work, "controller-secret") }

// writeControllerSecret lays out the controller's own credential as the
// kubelet mounts a Secret: one file per key, readable by root only.
// removeControllerSecret deletes it once the driver has stopped.
func (e *env) writeControllerSecret() error {
	dir := e.controllerSecretDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for key, value := range e.ceph.secrets() {
		if err := os.WriteFile(filepath.Join(dir, key), []byte(value), 0o600); err != nil {
			return fmt.Errorf("controller credential: %w", err)
		}
	}
	return nil
}

func (e *env) removeControllerSecret() error {
	if e.work == "" {
		return nil
	}
	return os.RemoveAll(e.controllerSecretDir())
}

// capacity checks the CSIStorageCapacity objects csi-provisioner makes for
// a WaitForFirstConsumer class of the driver (it skips Immediate ones): one
// appears with what GetCapacity reports, the pool's free space from `ceph
// df`, owned by the controller's Deployment; a quota put on the class's pool
// shows up in the next ones within a few polls; none is left once the class
// is gone. The class names the filesystem's second data pool, which no other
// step uses, and the quota is lifted at the end.
//
// The objects are seen through a watch, which also counts deletions: for a
// driver without a topology segment, csi-provisioner v6.4.0 deleted each
// object as soon as its informer saw it (capacity.go's WorkItem.equals
// compares the segment's selector, whose MatchLabels is an empty map, with
// the stored object's, whose MatchLabels is nil: reflect.DeepEqual says they
// differ, so the object is "obsolete") and made a new one at the next poll.
// The driver's node plugin reports a segment since, so the object must stay
// (docs/design.md, "Listing, volume health and capacity").
func (s *scenario) capacity(ctx context.Context, t *testing.T) {
	pool := s.ceph.desc.ExtraPool
	seen, err := s.watchCapacity(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	binding := storagev1.VolumeBindingWaitForFirstConsumer
	class := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: capacityClass},
		Provisioner: driverName,
		Parameters: withSecretParams(map[string]string{"clusterID": clusterID, "fsName": s.ceph.fs, "pool": pool},
			"provisioner", "controller-expand", "node-stage"),
		VolumeBindingMode: &binding,
	}
	classes := s.kube.core.StorageV1().StorageClasses()
	if _, err := classes.Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create StorageClass %s: %v", capacityClass, err)
	}
	classDeleted := false
	t.Cleanup(func() {
		if !classDeleted {
			_ = classes.Delete(context.Background(), capacityClass, metav1.DeleteOptions{})
		}
	})

	// Before any quota: the pool's max_avail. The OSD's free space moves
	// with what the MDS and the mgr write between the provisioner's
	// GetCapacity and the test's `ceph df` (kilobytes of metadata here);
	// 1% of it (about 40 MB) is far more than that and far less than any
	// other pool's or a quota's figure would differ by.
	csc := s.waitCapacityObject(ctx, t, seen, "with the pool's free space", func(c *storagev1.CSIStorageCapacity, u poolUsage) error {
		want := u.available()
		if got := c.Capacity; got == nil || abs(got.Value()-want) > want/100 {
			return fmt.Errorf("capacity %v, want %d (pool %s: %+v) within 1%%", got, want, pool, u)
		}
		return nil
	})
	t.Logf("CSIStorageCapacity of class %s:\n%s", capacityClass, capacityJSON(csc))
	s.checkCapacityObject(t, csc)

	// A quota on the pool bounds it: what the quota leaves, exactly (no
	// other step writes to this pool, so `stored` does not move).
	if _, err := s.ceph.ceph(ctx, "osd", "pool", "set-quota", pool, "max_bytes", strconv.Itoa(capacityQuota)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.ceph.ceph(context.Background(), "osd", "pool", "set-quota", pool, "max_bytes", "0"); err != nil {
			t.Errorf("lift the quota of %s: %v", pool, err)
		}
	})
	start := time.Now()
	csc = s.waitCapacityObject(ctx, t, seen, "bounded by the pool's quota", func(c *storagev1.CSIStorageCapacity, u poolUsage) error {
		if u.quota != capacityQuota {
			return fmt.Errorf("ceph df: pool %s has quota %d, want %d", pool, u.quota, capacityQuota)
		}
		want := u.available()
		if got := c.Capacity; got == nil || got.Value() != want {
			return fmt.Errorf("capacity %v, want %d (pool %s: %+v)", got, want, pool, u)
		}
		return nil
	})
	t.Logf("the quota showed after %v (poll interval %v):\n%s", time.Since(start).Round(100*time.Millisecond),
		capacityPollInterval, capacityJSON(csc))
	// One object all along, updated in place: made once, never deleted
	// while its class lives (what the scheduler needs to find one).
	if added, deleted := seen.counts(); added != 1 || deleted != 0 {
		t.Errorf("csi-provisioner made %d CSIStorageCapacity objects for class %s and deleted %d in %v; want 1, updated in place",
			added, capacityClass, deleted, time.Since(seen.start).Round(100*time.Millisecond))
	}

	// None is left once the class is gone.
	if err := classes.Delete(ctx, capacityClass, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete StorageClass %s: %v", capacityClass, err)
	}
	classDeleted = true
	err = s.waitUntil(ctx, "CSIStorageCapacity objects of class "+capacityClass+" deleted", capacityTimeout, func(ctx context.Context) error {
		names, err := s.capacityObjects(ctx, capacityClass)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("%v are still there", names)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	added, deleted := seen.counts()
	t.Logf("csi-provisioner made %d CSIStorageCapacity objects for class %s and deleted %d in %v",
		added, capacityClass, deleted, time.Since(seen.start).Round(100*time.Millisecond))
}

// capacityEvents records the driver's CSIStorageCapacity objects as a
// watch reports them.
type capacityEvents struct {
	start   time.Time
	mu      sync.Mutex
	objects []*storagev1.CSIStorageCapacity // added or modified, in order
	deleted int
}

func (c *capacityEvents) since(i int) []*storagev1.CSIStorageCapacity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[min(i, len(c.objects)):]
}

func (c *capacityEvents) counts() (added, deleted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := map[string]bool{}
	for _, o := range c.objects {
		names[o.Name] = true
	}
	return len(names), c.deleted
}

// watchCapacity watches the driver's CSIStorageCapacity objects of
// capacityClass until the step ends.
func (s *scenario) watchCapacity(ctx context.Context, t *testing.T) (*capacityEvents, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.kube.core.StorageV1().CSIStorageCapacities(driverNamespace).Watch(ctx, metav1.ListOptions{
		LabelSelector: capacityDriverLabel + "=" + driverName,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch CSIStorageCapacity objects: %w", err)
	}
	seen := &capacityEvents{start: time.Now()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			c, ok := ev.Object.(*storagev1.CSIStorageCapacity)
			if !ok || c.StorageClassName != capacityClass {
				continue
			}
			seen.mu.Lock()
			switch ev.Type {
			case watch.Added, watch.Modified:
				seen.objects = append(seen.objects, c)
			case watch.Deleted:
				seen.deleted++
			}
			seen.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return seen, nil
}

// waitCapacityObject waits until an object of the class that check accepts
// (with the pool's usage as `ceph df` reports it then) is created or
// updated, and returns it.
func (s *scenario) waitCapacityObject(ctx context.Context, t *testing.T, seen *capacityEvents, what string,
	check func(*storagev1.CSIStorageCapacity, poolUsage) error,
) *storagev1.CSIStorageCapacity {
	t.Helper()
	pool := s.ceph.desc.ExtraPool
	var found *storagev1.CSIStorageCapacity
	next := 0
	err := s.waitUntil(ctx, "CSIStorageCapacity of class "+capacityClass+" "+what, capacityTimeout, func(ctx context.Context) error {
		objects := seen.since(next)
		if len(objects) == 0 {
			return fmt.Errorf("none new; last errors of csi-provisioner:\n%s", s.lastErrorsOf("csi-provisioner"))
		}
		next += len(objects)
		usage, err := s.ceph.poolUsages(ctx)
		if err != nil {
			return err
		}
		u, ok := usage[pool]
		if !ok {
			return fmt.Errorf("ceph df: no pool %s", pool)
		}
		var errs []error
		for _, c := range objects {
			if err := check(c, u); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
				continue
			}
			found = c
			return nil
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// capacityDriverLabel is the label csi-provisioner puts on its objects.
const capacityDriverLabel = "csi.storage.k8s.io/drivername"

// checkCapacityObject checks what deploy/capacity promises of the object
// besides its capacity: the driver's labels, the Deployment as its owner
// (so that it goes with the driver), a topology that selects the nodes of
// the driver's segment (NodeGetInfo's, the same on every node), and no
// maximum volume size (GetCapacity reports none).
func (s *scenario) checkCapacityObject(t *testing.T, c *storagev1.CSIStorageCapacity) {
	t.Helper()
	if got := c.Labels[capacityDriverLabel]; got != driverName {
		t.Errorf("%s: label %s %q, want %q", c.Name, capacityDriverLabel, got, driverName)
	}
	owners := c.OwnerReferences
	if len(owners) != 1 || owners[0].Kind != "Deployment" || owners[0].Name != controllerDeployment ||
		owners[0].Controller == nil || !*owners[0].Controller {
		t.Errorf("%s: owners %+v, want the Deployment %s as controller", c.Name, owners, controllerDeployment)
	}
	want := map[string]string{topologyKey: "true"}
	if c.NodeTopology == nil || !maps.Equal(c.NodeTopology.MatchLabels, want) || len(c.NodeTopology.MatchExpressions) > 0 {
		t.Errorf("%s: node topology %+v, want the nodes of the driver's segment %v", c.Name, c.NodeTopology, want)
	}
	if c.MaximumVolumeSize != nil {
		t.Errorf("%s: maximumVolumeSize %s, want none", c.Name, c.MaximumVolumeSize)
	}
}

// capacityObjects returns the names of the driver's CSIStorageCapacity
// objects of a class.
func (e *env) capacityObjects(ctx context.Context, class string) ([]string, error) {
	list, err := e.kube.core.StorageV1().CSIStorageCapacities(driverNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: capacityDriverLabel + "=" + driverName,
	})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range list.Items {
		if c.StorageClassName == class {
			names = append(names, c.Name)
		}
	}
	return names, nil
}

// lastErrorsOf returns the last error lines of a component's log.
func (e *env) lastErrorsOf(name string) string {
	for _, p := range e.procs {
		if p.name == name {
			return lastErrors(p.logPath, 3)
		}
	}
	return "(not running)"
}

// capacityJSON renders the object for the log, without its managed fields.
func capacityJSON(c *storagev1.CSIStorageCapacity) string {
	c = c.DeepCopy()
	c.ManagedFields = nil
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
