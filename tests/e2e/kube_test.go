package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/remotecommand"
)

// fieldManager owns what the test applies.
const fieldManager = "cephfs-csi-e2e"

// kube holds the test's API clients (admin rights).
type kube struct {
	core   kubernetes.Interface
	snap   snapclient.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newKube(cfg *rest.Config) (*kube, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200 // the test polls; no client-side throttling
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	snap, err := snapclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(core.Discovery()))
	return &kube{core: core, snap: snap, dyn: dyn, mapper: mapper}, nil
}

// readManifest returns the objects of a YAML file (one or more documents).
func readManifest(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	objs, err := decodeObjects(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// applyFile server-side applies every object of a manifest, with strict
// field validation (an unknown or duplicate field is an error). Namespaced
// objects without a namespace go to defaultNamespace. With dryRun the API
// server validates and admits the objects but stores nothing.
func (k *kube) applyFile(ctx context.Context, path, defaultNamespace string, dryRun bool) error {
	objs, err := readManifest(path)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("%s: no objects", path)
	}
	for _, obj := range objs {
		if err := k.apply(ctx, obj, defaultNamespace, dryRun); err != nil {
			return fmt.Errorf("%s: %s %q: %w", filepath.Base(path), obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// resourceVersions returns the resourceVersion of each object as the API
// server holds it, by kind, namespace and name; "" for one that does not
// exist. Namespaced objects without a namespace are looked up in
// defaultNamespace.
func (k *kube) resourceVersions(ctx context.Context, objs []*unstructured.Unstructured, defaultNamespace string) (map[string]string, error) {
	versions := map[string]string{}
	for _, obj := range objs {
		client, err := k.resourceClient(obj, defaultNamespace)
		if err != nil {
			return nil, err
		}
		key := fmt.Sprintf("%s %s/%s", obj.GetKind(), obj.GetNamespace(), obj.GetName())
		got, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			versions[key] = ""
		case err != nil:
			return nil, fmt.Errorf("%s: %w", key, err)
		default:
			versions[key] = got.GetResourceVersion()
		}
	}
	return versions, nil
}

// resourceClient is the dynamic client of the object's resource, in its
// namespace (defaultNamespace when it names none) if it is namespaced.
func (k *kube) resourceClient(obj *unstructured.Unstructured, defaultNamespace string) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return k.dyn.Resource(mapping.Resource), nil
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = defaultNamespace
	}
	return k.dyn.Resource(mapping.Resource).Namespace(ns), nil
}

func (k *kube) apply(ctx context.Context, obj *unstructured.Unstructured, defaultNamespace string, dryRun bool) error {
	return k.applyAs(ctx, obj, defaultNamespace, dryRun, fieldManager)
}

// applyAs is apply under another field manager: what it applies merges
// with the fields the others own, as a kustomize patch merges with its base.
func (k *kube) applyAs(ctx context.Context, obj *unstructured.Unstructured, defaultNamespace string, dryRun bool, manager string) error {
	client, err := k.resourceClient(obj, defaultNamespace)
	if err != nil {
		return err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: manager, Force: &force, FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = client.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// snapshotCRDFiles lists the CRD manifests of the external-snapshotter client
// module this module requires (the snapshot-controller's version).
func snapshotCRDFiles(ctx context.Context) ([]string, error) {
	const module = "github.com/kubernetes-csi/external-snapshotter/client/v8"
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m %s: %w", module, err)
	}
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "*.storage.k8s.io_*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no CRD manifests in %s/config/crd (%v)", out, err)
	}
	sort.Strings(files)
	return files, nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdEstablished fails unless the CRD exists and is established.
func (k *kube) crdEstablished(ctx context.Context, name string) error {
	crd, err := k.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("CRD %s is not established yet", name)
}

// tokenKubeconfig writes a kubeconfig that authenticates as a service
// account, with a token from the TokenRequest API.
func (e *env) tokenKubeconfig(ctx context.Context, namespace, serviceAccount, path string) error {
	expiry := int64(2 * time.Hour / time.Second)
	tr, err := e.kube.core.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s/%s: %w", namespace, serviceAccount, err)
	}
	return e.cp.writeKubeconfig(path, clientcmdapi.AuthInfo{Token: tr.Status.Token})
}

// waitPVCBound waits until the claim is Bound and returns it and its PV.
func (e *env) waitPVCBound(ctx context.Context, name string, timeout time.Duration) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume, error) {
	var pvc *corev1.PersistentVolumeClaim
	err := e.waitUntil(ctx, "PVC "+name+" Bound", timeout, func(ctx context.Context) error {
		var err error
		pvc, err = e.kube.core.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pvc.Status.Phase != corev1.ClaimBound {
			return fmt.Errorf("phase %s; events: %s", pvc.Status.Phase, e.events(ctx, "PersistentVolumeClaim", name))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	pv, err := e.kube.core.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	return pvc, pv, err
}

// waitSnapshotReady waits until the VolumeSnapshot is ready to use.
func (e *env) waitSnapshotReady(ctx context.Context, name string, timeout time.Duration) (*snapv1.VolumeSnapshot, error) {
	var snap *snapv1.VolumeSnapshot
	err := e.waitUntil(ctx, "VolumeSnapshot "+name+" ready", timeout, func(ctx context.Context) error {
		var err error
		snap, err = e.kube.snap.SnapshotV1().VolumeSnapshots(testNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if st := snap.Status; st == nil || st.ReadyToUse == nil || !*st.ReadyToUse {
			return fmt.Errorf("not ready; status %+v; events: %s", st, e.events(ctx, "VolumeSnapshot", name))
		}
		return nil
	})
	return snap, err
}

// waitGone waits until get answers NotFound.
func (e *env) waitGone(ctx context.Context, what string, timeout time.Duration, get func(context.Context) error) error {
	return e.waitUntil(ctx, what+" deleted", timeout, func(ctx context.Context) error {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("still there")
	})
}

// events summarises the events about an object of the test namespace, to
// explain why a wait did not end.
func (e *env) events(ctx context.Context, kind, name string) string {
	return e.eventsIn(ctx, testNamespace, kind, name)
}

// eventsIn is events for an object of another namespace.
func (e *env) eventsIn(ctx context.Context, namespace, kind, name string) string {
	list, err := e.kube.core.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	var lines []string
	for _, ev := range list.Items {
		lines = append(lines, fmt.Sprintf("%s %s: %s (x%d)", ev.Type, ev.Reason, ev.Message, ev.Count))
	}
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "; ")
}

// permanentError ends a wait at once.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// permanent marks an error that no retry can fix.
func permanent(err error) error { return permanentError{err} }

// waitUntil calls check until it returns nil, a permanent error, a
// component dies, or timeout passes; the last error explains a timeout.
func (e *env) waitUntil(parent context.Context, what string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	var last error // the last error that is not the end of ctx
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%s: %w", what, perm.error)
		}
		if dead := e.deadProcess(); dead != nil {
			return fmt.Errorf("%s: %w", what, dead)
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil { // the test's deadline, or an interrupt
				return fmt.Errorf("%s: %w (last: %v)", what, parent.Err(), last)
			}
			return fmt.Errorf("%s: not done after %v: %w", what, timeout, last)
		case <-ticker.C:
		}
	}
}

// execInPod runs command in a container of a pod of the test namespace
// through the API server (as kubectl exec does) and returns its standard
// output; its standard error comes with a failure.
func (e *env) execInPod(ctx context.Context, pod, container string, command ...string) (string, error) {
	req := e.kube.core.CoreV1().RESTClient().Post().Resource("pods").Namespace(testNamespace).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: command, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	executor, err := remotecommand.NewWebSocketExecutor(e.cp.admin, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	if err := executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return stdout.String(), fmt.Errorf("exec %s in %s/%s: %w: %s", strings.Join(command, " "), pod, container, err, stderr.String())
	}
	return stdout.String(), nil
}
