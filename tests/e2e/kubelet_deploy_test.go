package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The driver as users install it: deploy/csi-builtin (deploy/csi without
// the node-driver-registrar and livenessprobe images, which the module
// proxy does not serve) rendered by kubectl kustomize and applied as it is,
// but for what this one-machine cluster needs, changed in Go below (see
// adaptPodSpec): the kubelet's root, the locally built images, host
// networking for the controller, free ports.
const (
	// builtinOverlay is the kustomization the test installs.
	builtinOverlay = "deploy/csi-builtin"
	// defaultKubeletRoot is the kubelet root the manifests assume.
	defaultKubeletRoot = "/var/lib/kubelet"
	// driverRepository is the driver image's name in the manifests.
	driverRepository = "quay.io/cephfs-csi/cephfs-csi"
	// nodeSecret and provisionerSecret are the secrets of
	// deploy/examples (secret-node.yaml, secret-provisioner.yaml).
	nodeSecret        = "csi-cephfs-node"
	provisionerSecret = "csi-cephfs-provisioner"
	// exampleClass is deploy/examples/storageclass.yaml's class (and
	// volumesnapshotclass.yaml's).
	exampleClass = "cephfs-csi"
	// controllerLabels selects the controller's pods.
	controllerLabels = "app.kubernetes.io/name=cephfs-csi,app.kubernetes.io/component=controller"
	// nodeLabels selects the node plugin's pods.
	nodeLabels = "app.kubernetes.io/name=cephfs-csi,app.kubernetes.io/component=node"
)

// renderOverlay runs kubectl kustomize on a kustomization directory and
// returns its objects, with every path below /var/lib/kubelet moved below this
// node's kubelet root (as users of a kubelet with another --root-dir do).
func (n *node) renderOverlay(ctx context.Context, dir string) ([]*unstructured.Unstructured, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, n.tool("kubectl"), "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w: %s", dir, err, stderr.String())
	}
	text := strings.ReplaceAll(string(out), defaultKubeletRoot+"/", n.kubeletRoot()+"/")
	return decodeObjects(strings.NewReader(text))
}

// decodeObjects reads a stream of YAML documents.
func decodeObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(obj) != 0 { // a document of comments only is empty
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// installDriver applies the rendered overlay: the cluster config of the
// test's Ceph cluster in its ConfigMap, the controller and the node plugin
// adapted by adaptController and adaptNodePlugin.
func (n *node) installDriver(ctx context.Context) error {
	return n.installKustomization(ctx, filepath.Join(n.repo, builtinOverlay))
}

// installKustomization applies the kustomization in dir as installDriver
// describes.
func (n *node) installKustomization(ctx context.Context, dir string) error {
	objs, err := n.renderOverlay(ctx, dir)
	if err != nil {
		return err
	}
	config, err := n.driverConfig()
	if err != nil {
		return err
	}
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ConfigMap":
			if obj.GetName() == kubeletConfigMap {
				err = unstructured.SetNestedField(obj.Object, config, "data", "config.json")
			}
		case "Deployment":
			err = convertTyped(obj, func(d *appsv1.Deployment) error { return n.adaptController(d) })
		case "DaemonSet":
			err = convertTyped(obj, func(d *appsv1.DaemonSet) error { return n.adaptNodePlugin(d) })
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if err := n.kube.apply(ctx, obj, driverNamespace, false); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// convertTyped edits obj as a T.
func convertTyped[T any](obj *unstructured.Unstructured, edit func(*T) error) error {
	var typed T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &typed); err != nil {
		return err
	}
	if err := edit(&typed); err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&typed)
	if err != nil {
		return err
	}
	obj.Object = m
	// ToUnstructured writes the zero status and creationTimestamp: null,
	// which strict server-side apply accepts, but keep the object as the
	// manifest had it.
	unstructured.RemoveNestedField(obj.Object, "status")
	return nil
}

// adaptController fits the controller Deployment to this cluster: one
// replica (one node), host networking (the embedded Ceph cluster's monitors
// listen on 127.0.0.1, which a pod's own network namespace cannot reach)
// and, as there is no kube-proxy behind the kubernetes Service, the API
// server's real address for the sidecars' in-cluster configuration.
func (n *node) adaptController(d *appsv1.Deployment) error {
	one := int32(1)
	d.Spec.Replicas = &one
	spec := &d.Spec.Template.Spec
	spec.HostNetwork = true
	u, err := url.Parse(n.cp.server)
	if err != nil {
		return err
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.Env = append(c.Env,
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: u.Hostname()},
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: u.Port()},
		)
	}
	return adaptPodSpec(spec)
}

// adaptNodePlugin fits the node plugin DaemonSet to this cluster.
func (n *node) adaptNodePlugin(d *appsv1.DaemonSet) error {
	return adaptPodSpec(&d.Spec.Template.Spec)
}

// adaptPodSpec points the driver's containers at the image the test built
// and imported, forbids pulls (no registry: every image is local), and
// moves the host-network metrics port (/metrics and /healthz) to a free one.
func adaptPodSpec(spec *corev1.PodSpec) error {
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.ImagePullPolicy = corev1.PullNever
		if !strings.HasPrefix(c.Image, driverRepository+":") {
			continue
		}
		c.Image = driverImage
		port, err := freePort()
		if err != nil {
			return err
		}
		moved := false
		for j, arg := range c.Args {
			if strings.HasPrefix(arg, "--metrics-address=") {
				c.Args[j] = "--metrics-address=:" + strconv.Itoa(port)
				moved = true
			}
		}
		for j := range c.Ports {
			if c.Ports[j].Name == "metrics" && moved {
				c.Ports[j].ContainerPort = int32(port)
			}
		}
	}
	return nil
}

// driverConfig is the driver's cluster config for the test's Ceph cluster.
func (n *node) driverConfig() (string, error) {
	file := filepath.Join(n.dir, "config.json")
	if err := n.ceph.writeDriverConfig(file, clusterID); err != nil {
		return "", err
	}
	data, err := os.ReadFile(file)
	return string(data), err
}

// applyExample applies a manifest of deploy/examples after edit changed
// each of its objects.
func (n *node) applyExample(ctx context.Context, name string, edit func(*unstructured.Unstructured) error) error {
	objs, err := readManifest(filepath.Join(n.repo, "deploy", "examples", name))
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if edit != nil {
			if err := edit(obj); err != nil {
				return fmt.Errorf("%s: %s %s: %w", name, obj.GetKind(), obj.GetName(), err)
			}
		}
		if err := n.kube.apply(ctx, obj, testNamespace, false); err != nil {
			return fmt.Errorf("%s: %s %s: %w", name, obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// installExamples creates the examples' secrets (with the test cluster's
// admin credentials), StorageClass and VolumeSnapshotClass (for its
// clusterID and filesystem).
func (n *node) installExamples(ctx context.Context) error {
	credentials := map[string]any{}
	for k, v := range n.ceph.secrets() {
		credentials[k] = v
	}
	for _, name := range []string{"secret-node.yaml", "secret-provisioner.yaml"} {
		if err := n.applyExample(ctx, name, func(obj *unstructured.Unstructured) error {
			return unstructured.SetNestedMap(obj.Object, credentials, "stringData")
		}); err != nil {
			return err
		}
	}
	if err := n.applyExample(ctx, "storageclass.yaml", func(obj *unstructured.Unstructured) error {
		// The embedded cluster's filesystem has its default data pool
		// only; the example names a Rook pool.
		unstructured.RemoveNestedField(obj.Object, "parameters", "pool")
		if err := unstructured.SetNestedField(obj.Object, clusterID, "parameters", "clusterID"); err != nil {
			return err
		}
		return unstructured.SetNestedField(obj.Object, n.ceph.fs, "parameters", "fsName")
	}); err != nil {
		return err
	}
	return n.applyExample(ctx, "volumesnapshotclass.yaml", func(obj *unstructured.Unstructured) error {
		return unstructured.SetNestedField(obj.Object, clusterID, "parameters", "clusterID")
	})
}

// waitPodsReady waits until the pods of namespace matching selector are
// want in number, Running, and every container is ready.
func (n *node) waitPodsReady(ctx context.Context, namespace, selector string, want int, timeout time.Duration) ([]corev1.Pod, error) {
	var ready []corev1.Pod
	err := n.waitUntil(ctx, fmt.Sprintf("%d pod(s) %s ready", want, selector), timeout, func(ctx context.Context) error {
		pods, err := n.kube.core.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		if len(live) != want {
			return fmt.Errorf("%d pods", len(live))
		}
		for _, p := range live {
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s: phase %s; events: %s", p.Name, p.Status.Phase, n.eventsIn(ctx, namespace, "Pod", p.Name))
			}
			for _, c := range p.Status.ContainerStatuses {
				if !c.Ready {
					return fmt.Errorf("pod %s: container %s not ready (restarts %d, state %+v); events: %s",
						p.Name, c.Name, c.RestartCount, c.State, n.eventsIn(ctx, namespace, "Pod", p.Name))
				}
			}
		}
		ready = live
		return nil
	})
	return ready, err
}

// waitOnePodWith waits until the one pod of namespace matching selector is
// ready and satisfies ok (a replacement: not the old pod, or the new spec),
// and returns it.
func (n *node) waitOnePodWith(ctx context.Context, namespace, selector, what string, timeout time.Duration, ok func(corev1.Pod) bool) (*corev1.Pod, error) {
	var ready *corev1.Pod
	err := n.waitUntil(ctx, what+" ready", timeout, func(ctx context.Context) error {
		pods, err := n.waitPodsReady(ctx, namespace, selector, 1, 5*time.Second)
		if err != nil {
			return err
		}
		if !ok(pods[0]) {
			return fmt.Errorf("pod %s is still the old one", pods[0].Name)
		}
		ready = &pods[0]
		return nil
	})
	return ready, err
}

// notNamed is a waitOnePodWith condition: any pod but old.
func notNamed(old string) func(corev1.Pod) bool {
	return func(p corev1.Pod) bool { return p.Name != old }
}

// waitController waits until the controller's pod runs with all its
// containers (the driver and the three sidecars) ready.
func (n *node) waitController(ctx context.Context) error {
	_, err := n.waitPodsReady(ctx, driverNamespace, controllerLabels, 1, 3*time.Minute)
	return err
}
