package chart

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/tests/chart/render"
)

// rendered is one render of the chart, with accessors that fail the test when
// what they look for is not there.
type rendered struct {
	t    *testing.T
	objs map[string]render.Object
}

func renderWith(t *testing.T, vals string) rendered {
	t.Helper()
	return rendered{t, index(t, renderObjects(t, values(t, vals)))}
}

func (r rendered) obj(key string) render.Object {
	r.t.Helper()
	obj, ok := r.objs[key]
	if !ok {
		r.t.Fatalf("no %s among %v", key, sortedKeys(r.objs))
	}
	return obj
}

func (r rendered) has(key string) bool {
	_, ok := r.objs[key]
	return ok
}

// podSpec is the pod template's spec of a Deployment or DaemonSet.
func (r rendered) podSpec(key string) map[string]any {
	r.t.Helper()
	return get(r.t, r.obj(key), "spec", "template", "spec").(map[string]any)
}

func (r rendered) container(key, name string) map[string]any {
	r.t.Helper()
	for _, c := range get(r.t, r.obj(key), "spec", "template", "spec", "containers").([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	r.t.Fatalf("%s has no container %s", key, name)
	return nil
}

func (r rendered) containerNames(key string) []string {
	var names []string
	for _, c := range get(r.t, r.obj(key), "spec", "template", "spec", "containers").([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	return names
}

// get follows a path of map keys.
func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", strings.Join(path[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %s", strings.Join(path[:i+1], "."))
		}
	}
	return v
}

func args(c map[string]any) []string {
	var out []string
	for _, a := range c["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

// hostPaths lists a pod spec's hostPath volumes.
func hostPaths(spec map[string]any) []string {
	var out []string
	for _, v := range spec["volumes"].([]any) {
		if hp, ok := v.(map[string]any)["hostPath"].(map[string]any); ok {
			out = append(out, hp["path"].(string))
		}
	}
	return out
}

func volumeNames(spec map[string]any) []string {
	var out []string
	for _, v := range spec["volumes"].([]any) {
		out = append(out, v.(map[string]any)["name"].(string))
	}
	return out
}

func mountPaths(c map[string]any) []string {
	var out []string
	for _, m := range c["volumeMounts"].([]any) {
		out = append(out, m.(map[string]any)["mountPath"].(string))
	}
	return out
}

func jsonEq(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	var gv any
	_ = json.Unmarshal(g, &gv)
	if fmt.Sprint(gv) != fmt.Sprint(w) {
		t.Errorf("%s: got %s, want %s", what, g, want)
	}
}

const (
	nodeDS       = "DaemonSet/" + namespace + "/cephfs-csi-node"
	holderDS     = "DaemonSet/" + namespace + "/cephfs-csi-mount-holder"
	controllerD  = "Deployment/" + namespace + "/cephfs-csi-controller"
	clusterCM    = "ConfigMap/" + namespace + "/ceph-csi-config"
	csiDriverKey = "CSIDriver/cephfs-csi.io"
)

// TestChartDriverName: another driver name reaches the CSIDriver object, both
// drivers' --drivername, the kubelet paths and the classes.
func TestChartDriverName(t *testing.T) {
	r := renderWith(t, `{"driverName": "cephfs.csi.ceph.com", "storageClass": {"create": true},
		"volumeSnapshotClass": {"create": true}}`)
	r.obj("CSIDriver/cephfs.csi.ceph.com")
	if r.has(csiDriverKey) {
		t.Errorf("%s rendered with another driver name", csiDriverKey)
	}
	for _, c := range []map[string]any{r.container(nodeDS, "cephfs-csi"), r.container(controllerD, "cephfs-csi")} {
		if !slices.Contains(args(c), "--drivername=cephfs.csi.ceph.com") {
			t.Errorf("%v: no --drivername=cephfs.csi.ceph.com", args(c))
		}
	}
	reg := args(r.container(nodeDS, "node-driver-registrar"))
	if !slices.Contains(reg, "--kubelet-registration-path=/var/lib/kubelet/plugins/cephfs.csi.ceph.com/csi.sock") {
		t.Errorf("registrar args %v", reg)
	}
	if got := get(t, r.obj("StorageClass/cephfs-csi"), "provisioner"); got != "cephfs.csi.ceph.com" {
		t.Errorf("StorageClass provisioner %v", got)
	}
	if got := get(t, r.obj("VolumeSnapshotClass/cephfs-csi"), "driver"); got != "cephfs.csi.ceph.com" {
		t.Errorf("VolumeSnapshotClass driver %v", got)
	}
}

// TestChartKubeletDir: every host path below the kubelet's directory moves,
// and the driver's mounts are at the same paths inside the container (the
// kubelet passes host paths in CSI calls).
func TestChartKubeletDir(t *testing.T) {
	const dir = "/var/lib/k0s/kubelet"
	for _, builtin := range []bool{false, true} {
		r := renderWith(t, fmt.Sprintf(`{"kubeletDir": %q, "builtinRegistration": %v}`, dir, builtin))
		for _, key := range []string{nodeDS, holderDS} {
			for _, p := range hostPaths(r.podSpec(key)) {
				if strings.Contains(p, "kubelet") && !strings.HasPrefix(p, dir+"/") {
					t.Errorf("builtin %v: %s: host path %s not below %s", builtin, key, p, dir)
				}
			}
		}
		driver := r.container(nodeDS, "cephfs-csi")
		for _, p := range []string{dir + "/pods", dir + "/plugins/kubernetes.io/csi"} {
			if !slices.Contains(mountPaths(driver), p) {
				t.Errorf("builtin %v: node driver mounts %v, not %s", builtin, mountPaths(driver), p)
			}
		}
		reg := "--kubelet-registration-path=" + dir + "/plugins/cephfs-csi.io/csi.sock"
		regArgs := args(driver)
		if !builtin {
			regArgs = args(r.container(nodeDS, "node-driver-registrar"))
		}
		if !slices.Contains(regArgs, reg) {
			t.Errorf("builtin %v: no %s in %v", builtin, reg, regArgs)
		}
		if h := args(r.container(holderDS, "mount-holder")); !slices.Contains(h, "--mount-holder-root="+dir+"/plugins/kubernetes.io/csi") {
			t.Errorf("mount holder args %v", h)
		}
	}
}

// TestChartSwitches: the mount holder and the built-in registration on and
// off, container by container.
func TestChartSwitches(t *testing.T) {
	for _, tc := range []struct {
		values            string
		holder            bool
		nodeContainers    []string
		controllerLastTwo []string
	}{
		{`{}`, true, []string{"cephfs-csi", "node-driver-registrar", "liveness-probe"}, []string{"liveness-probe", "cephfs-csi"}},
		{`{"builtinRegistration": true}`, true, []string{"cephfs-csi"}, []string{"csi-snapshotter", "cephfs-csi"}},
		{`{"mountHolder": {"enabled": false}}`, false, []string{"cephfs-csi", "node-driver-registrar", "liveness-probe"}, []string{"liveness-probe", "cephfs-csi"}},
	} {
		r := renderWith(t, tc.values)
		if r.has(holderDS) != tc.holder {
			t.Errorf("%s: mount holder DaemonSet rendered %v, want %v", tc.values, r.has(holderDS), tc.holder)
		}
		if got := r.containerNames(nodeDS); !slices.Equal(got, tc.nodeContainers) {
			t.Errorf("%s: node containers %v, want %v", tc.values, got, tc.nodeContainers)
		}
		got := r.containerNames(controllerD)
		if got = got[len(got)-2:]; !slices.Equal(got, tc.controllerLastTwo) {
			t.Errorf("%s: controller's last containers %v, want %v", tc.values, got, tc.controllerLastTwo)
		}
		if got := get(t, r.obj(nodeDS), "spec", "updateStrategy"); tc.values == `{}` {
			jsonEq(t, "node updateStrategy", got, `{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}}`)
		}
		if hasVol := slices.Contains(volumeNames(r.podSpec(nodeDS)), "mount-holder-dir"); hasVol != tc.holder {
			t.Errorf("%s: node plugin mounts the holder's directory: %v", tc.values, hasVol)
		}
	}
}

// TestChartWorkloadValues: images, pull policies, replicas, ports, log
// levels, resources and scheduling reach the pods.
func TestChartWorkloadValues(t *testing.T) {
	r := renderWith(t, `{
		"image": {"repository": "registry.example/cephfs-csi", "tag": "v9", "pullPolicy": "Always"},
		"imagePullSecrets": [{"name": "regcred"}],
		"logLevel": 5, "sidecarLogLevel": 3, "defaultMounter": "kernel",
		"nodeplugin": {
			"httpMetrics": {"containerPort": 19810},
			"livenessprobe": {"port": 19809},
			"registrar": {"image": {"repository": "mirror/registrar", "tag": "v1", "pullPolicy": "Never"}},
			"tolerations": [{"operator": "Exists"}],
			"nodeSelector": {"storage": "ceph"},
			"plugin": {"resources": {"requests": {"cpu": "1"}}, "extraArgs": ["--mount-timeout=2m"]}
		},
		"provisioner": {
			"replicaCount": 3, "clustername": "prod", "setmetadata": false,
			"httpMetrics": {"containerPort": 18080},
			"tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
			"affinity": null,
			"provisioner": {"extraArgs": ["--feature-gates=Topology=false"]},
			"plugin": {"resources": {"limits": {"memory": "1Gi"}}}
		}
	}`)
	driver := r.container(nodeDS, "cephfs-csi")
	if driver["image"] != "registry.example/cephfs-csi:v9" || driver["imagePullPolicy"] != "Always" {
		t.Errorf("node driver image %v %v", driver["image"], driver["imagePullPolicy"])
	}
	if h := r.container(holderDS, "mount-holder"); h["image"] != "registry.example/cephfs-csi:v9" {
		t.Errorf("mount holder image %v", h["image"])
	}
	if reg := r.container(nodeDS, "node-driver-registrar"); reg["image"] != "mirror/registrar:v1" || reg["imagePullPolicy"] != "Never" {
		t.Errorf("registrar image %v %v", reg["image"], reg["imagePullPolicy"])
	}
	for _, want := range []string{"--metrics-address=:19810", "-v=5", "--default-mounter=kernel", "--mount-timeout=2m"} {
		if !slices.Contains(args(driver), want) {
			t.Errorf("node driver args %v lack %s", args(driver), want)
		}
	}
	if lp := args(r.container(nodeDS, "liveness-probe")); !slices.Contains(lp, "--http-endpoint=:19809") {
		t.Errorf("node liveness-probe args %v", lp)
	}
	jsonEq(t, "node driver ports", driver["ports"],
		`[{"name":"healthz","containerPort":19809,"protocol":"TCP"},{"name":"metrics","containerPort":19810,"protocol":"TCP"}]`)
	jsonEq(t, "node driver resources", driver["resources"], `{"requests":{"cpu":"1"}}`)
	for _, key := range []string{nodeDS, holderDS} {
		spec := r.podSpec(key)
		jsonEq(t, key+" tolerations", spec["tolerations"], `[{"operator":"Exists"}]`)
		jsonEq(t, key+" nodeSelector", spec["nodeSelector"], `{"storage":"ceph"}`)
		jsonEq(t, key+" imagePullSecrets", spec["imagePullSecrets"], `[{"name":"regcred"}]`)
	}

	if got := get(t, r.obj(controllerD), "spec", "replicas"); fmt.Sprint(got) != "3" {
		t.Errorf("replicas %v", got)
	}
	spec := r.podSpec(controllerD)
	jsonEq(t, "controller tolerations", spec["tolerations"], `[{"key":"infra","operator":"Exists","effect":"NoSchedule"}]`)
	if _, ok := spec["affinity"]; ok {
		t.Errorf("controller affinity %v, want none", spec["affinity"])
	}
	ctrl := r.container(controllerD, "cephfs-csi")
	for _, want := range []string{"--metrics-address=:18080", "-v=5", "--cluster-name=prod", "--set-metadata=false"} {
		if !slices.Contains(args(ctrl), want) {
			t.Errorf("controller driver args %v lack %s", args(ctrl), want)
		}
	}
	jsonEq(t, "controller driver resources", ctrl["resources"], `{"requests":{"cpu":"20m","memory":"64Mi"},"limits":{"memory":"1Gi"}}`)
	prov := args(r.container(controllerD, "csi-provisioner"))
	for _, want := range []string{"--v=3", "--feature-gates=Topology=false"} {
		if !slices.Contains(prov, want) {
			t.Errorf("csi-provisioner args %v lack %s", prov, want)
		}
	}
}

// TestChartClusterConfig: csiConfig becomes config.json; Rook's ConfigMap can
// be mounted instead.
func TestChartClusterConfig(t *testing.T) {
	r := renderWith(t, `{"csiConfig": [{"clusterID": "c1", "monitors": ["192.0.2.1:6789", "192.0.2.2:6789"],
		"cephFS": {"subvolumeGroup": "k8s", "kernelMountOptions": "noatime"}}]}`)
	cfg := get(t, r.obj(clusterCM), "data", "config.json").(string)
	jsonEq(t, "config.json", json.RawMessage(cfg), `[{"clusterID":"c1","monitors":["192.0.2.1:6789","192.0.2.2:6789"],
		"cephFS":{"subvolumeGroup":"k8s","kernelMountOptions":"noatime"}}]`)

	r = renderWith(t, `{"externallyManagedConfigmap": true, "configMapName": "rook-ceph-csi-config",
		"configMapKey": "csi-cluster-config-json"}`)
	if r.has(clusterCM) || r.has("ConfigMap/"+namespace+"/rook-ceph-csi-config") {
		t.Errorf("a ConfigMap rendered although it is managed elsewhere: %v", sortedKeys(r.objs))
	}
	for _, key := range []string{nodeDS, controllerD} {
		for _, v := range r.podSpec(key)["volumes"].([]any) {
			if v := v.(map[string]any); v["name"] == "ceph-csi-config" {
				jsonEq(t, key+" config volume", v["configMap"],
					`{"name":"rook-ceph-csi-config","items":[{"key":"csi-cluster-config-json","path":"config.json"}]}`)
			}
		}
	}
}

// TestChartCSIDriverAndSELinux: the CSIDriver's fields, and the host's
// /etc/selinux in the node plugin.
func TestChartCSIDriverAndSELinux(t *testing.T) {
	r := renderWith(t, `{"CSIDriver": {"fsGroupPolicy": "None", "seLinuxMount": false}, "selinuxMount": false}`)
	jsonEq(t, "CSIDriver spec", get(t, r.obj(csiDriverKey), "spec"),
		`{"attachRequired":false,"podInfoOnMount":false,"fsGroupPolicy":"None","seLinuxMount":false,"volumeLifecycleModes":["Persistent"]}`)
	if slices.Contains(volumeNames(r.podSpec(nodeDS)), "etc-selinux") ||
		slices.Contains(mountPaths(r.container(nodeDS, "cephfs-csi")), "/etc/selinux") {
		t.Error("selinuxMount false: the node plugin still mounts /etc/selinux")
	}
}

// TestChartClasses: the optional StorageClass and VolumeSnapshotClass, off by
// default; empty parameters left out, secrets in the release's namespace.
func TestChartClasses(t *testing.T) {
	r := renderWith(t, `{}`)
	if r.has("StorageClass/cephfs-csi") || r.has("VolumeSnapshotClass/cephfs-csi") {
		t.Errorf("classes rendered by default: %v", sortedKeys(r.objs))
	}
	r = renderWith(t, `{
		"storageClass": {"create": true, "name": "fast", "clusterID": "c1", "fsName": "fs1", "pool": "fs1-ssd",
			"mounter": "kernel", "kernelMountOptions": "noatime", "parameters": {"uid": 1000, "mode": "0775"},
			"nodeStageSecretNamespace": "rook-ceph", "reclaimPolicy": "Retain", "mountOptions": ["debug"]},
		"volumeSnapshotClass": {"create": true, "clusterID": "c1", "deletionPolicy": "Retain"}
	}`)
	sc := r.obj("StorageClass/fast")
	jsonEq(t, "StorageClass parameters", sc["parameters"], `{"clusterID":"c1","fsName":"fs1","pool":"fs1-ssd",
		"mounter":"kernel","kernelMountOptions":"noatime","uid":"1000","mode":"0775",
		"csi.storage.k8s.io/provisioner-secret-name":"csi-cephfs-provisioner",
		"csi.storage.k8s.io/provisioner-secret-namespace":"cephfs-csi",
		"csi.storage.k8s.io/controller-expand-secret-name":"csi-cephfs-provisioner",
		"csi.storage.k8s.io/controller-expand-secret-namespace":"cephfs-csi",
		"csi.storage.k8s.io/node-stage-secret-name":"csi-cephfs-node",
		"csi.storage.k8s.io/node-stage-secret-namespace":"rook-ceph"}`)
	if sc["reclaimPolicy"] != "Retain" || sc["allowVolumeExpansion"] != true {
		t.Errorf("StorageClass reclaimPolicy %v allowVolumeExpansion %v", sc["reclaimPolicy"], sc["allowVolumeExpansion"])
	}
	jsonEq(t, "StorageClass mountOptions", sc["mountOptions"], `["debug"]`)
	vsc := r.obj("VolumeSnapshotClass/cephfs-csi")
	jsonEq(t, "VolumeSnapshotClass", map[string]any{"deletionPolicy": vsc["deletionPolicy"], "parameters": vsc["parameters"]},
		`{"deletionPolicy":"Retain","parameters":{"clusterID":"c1",
		"csi.storage.k8s.io/snapshotter-secret-name":"csi-cephfs-provisioner",
		"csi.storage.k8s.io/snapshotter-secret-namespace":"cephfs-csi"}}`)
}

// TestChartReleaseName: another release name prefixes every name, and the
// RBAC bindings follow.
func TestChartReleaseName(t *testing.T) {
	out, err := render.Chart(chartDir(t), "storage", "ceph", nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Objects(out)
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{t, index(t, objs)}
	r.obj("DaemonSet/ceph/storage-cephfs-csi-node")
	crb := r.obj("ClusterRoleBinding/storage-cephfs-csi-provisioner")
	jsonEq(t, "ClusterRoleBinding", map[string]any{"subjects": crb["subjects"], "roleRef": crb["roleRef"]},
		`{"subjects":[{"kind":"ServiceAccount","name":"storage-cephfs-csi-controller","namespace":"ceph"}],
		"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"storage-cephfs-csi-provisioner"}}`)
}

// TestChartUpdateStrategy: ceph-csi's string form, or a whole object.
func TestChartUpdateStrategy(t *testing.T) {
	for vals, want := range map[string]string{
		`{"nodeplugin": {"updateStrategy": "OnDelete"}}`:                                                            `{"type":"OnDelete"}`,
		`{"nodeplugin": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}}}`: `{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"10%"}}`,
	} {
		jsonEq(t, vals, get(t, renderWith(t, vals).obj(nodeDS), "spec", "updateStrategy"), want)
	}
}

// TestChartRefusesCephCSINodeMountOptions: ceph-csi's node-wide mount options
// have no counterpart flag; a values file carrying them fails with where to
// put them instead of losing them.
func TestChartRefusesCephCSINodeMountOptions(t *testing.T) {
	_, err := render.Chart(chartDir(t), release, namespace, values(t, `{"nodeplugin": {"kernelmountoptions": "noatime"}}`))
	if err == nil || !strings.Contains(err.Error(), "csiConfig[].cephFS.kernelMountOptions") {
		t.Errorf("got %v, want a failure naming csiConfig[].cephFS.kernelMountOptions", err)
	}
	// Empty, as in ceph-csi's own defaults, they pass.
	renderWith(t, `{"nodeplugin": {"kernelmountoptions": "", "fusemountoptions": "", "forcecephkernelclient": true}}`)
}

// TestChartSchemaRefuses: values.schema.json stops a typo before anything is
// installed.
func TestChartSchemaRefuses(t *testing.T) {
	for _, vals := range []string{
		`{"defaultMounter": "kernal"}`,
		`{"CSIDriver": {"fsGroupPolicy": "file"}}`,
		`{"storageClass": {"mounter": "ceph-fuse"}}`,
		`{"nodeplugin": {"httpMetrics": {"containerPort": "9810"}}}`,
		`{"image": {"pullPolicy": "always"}}`,
		`{"kubeletDir": "/var/lib/kubelet/"}`,
	} {
		if _, err := render.Chart(chartDir(t), release, namespace, values(t, vals)); err == nil {
			t.Errorf("%s: rendered", vals)
		} else if !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: %v, want a schema error", vals, err)
		}
	}
}
