package chart

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/tests/chart/render"
)

// The chart is written by hand and deploy/csi stays the plain manifests that
// `kubectl apply -k` installs; this test keeps the two in agreement: for each
// switch the chart has and deploy/ has as a kustomize directory or
// component, the chart's render (release cephfs-csi in namespace cephfs-csi)
// must be kustomize's render in substance. "In substance" leaves out what
// only one of them says and that changes nothing the API server stores
// differently:
//   - Helm's labels (app.kubernetes.io/instance, app.kubernetes.io/managed-by,
//     helm.sh/chart);
//   - imagePullPolicy IfNotPresent, the API server's default for a tagged image;
//   - the layout of JSON in a ConfigMap (the cluster config): compared parsed;
//   - the order of env, ports, volumes and volumeMounts entries, which the API
//     server keys by name (kustomize's patches append where the chart's
//     templates write each entry in its place).
//
// Everything else — every object, name, argument, probe, resource and path —
// must be equal.
func TestChartAgreesWithKustomize(t *testing.T) {
	repo := repoRoot(t)
	csi := filepath.Join(repo, "deploy", "csi")
	builtin := filepath.Join(repo, "deploy", "csi-builtin")
	withoutHolder := filepath.Join(repo, "deploy", "without-mount-holder")
	capacity := filepath.Join(repo, "deploy", "capacity")
	for _, tc := range []struct {
		name      string
		values    string
		kustomize func() (string, error)
	}{
		{"deploy/csi", `{"createNamespace": true}`,
			func() (string, error) { return render.Kustomize(csi) }},
		{"deploy/csi-builtin", `{"createNamespace": true, "builtinRegistration": true}`,
			func() (string, error) { return render.Kustomize(builtin) }},
		{"deploy/csi without-mount-holder", `{"createNamespace": true, "mountHolder": {"enabled": false}}`,
			func() (string, error) { return render.KustomizeWith(csi, withoutHolder) }},
		{"deploy/csi-builtin without-mount-holder",
			`{"createNamespace": true, "builtinRegistration": true, "mountHolder": {"enabled": false}}`,
			func() (string, error) { return render.KustomizeWith(builtin, withoutHolder) }},
		{"deploy/csi capacity",
			`{"createNamespace": true, "provisioner": {"capacity": {"enabled": true}}}`,
			func() (string, error) { return render.KustomizeWith(csi, capacity) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.kustomize()
			if err != nil {
				t.Fatal(err)
			}
			wantObjs, err := render.Objects(want)
			if err != nil {
				t.Fatal(err)
			}
			got := renderObjects(t, values(t, tc.values))
			compareObjects(t, index(t, normalize(got)), index(t, normalize(wantObjs)))
		})
	}
}

// TestDefaultRenderLacksOnlyTheNamespace: by default (createNamespace false,
// as `helm install --create-namespace` or an existing namespace expects) the
// chart renders deploy/csi but the Namespace object.
func TestDefaultRenderLacksOnlyTheNamespace(t *testing.T) {
	withNS := index(t, renderObjects(t, values(t, `{"createNamespace": true}`)))
	plain := index(t, renderObjects(t, nil))
	for key := range withNS {
		if _, ok := plain[key]; !ok && !strings.HasPrefix(key, "Namespace/") {
			t.Errorf("default render lacks %s", key)
		}
	}
	for key := range plain {
		if strings.HasPrefix(key, "Namespace/") {
			t.Errorf("default render has %s", key)
		}
	}
}

var helmLabels = []string{"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"}

// normalize removes what "in substance" leaves out (see above), in place.
func normalize(objs []render.Object) []render.Object {
	for _, obj := range objs {
		if data, ok := obj["data"].(map[string]any); ok && obj["kind"] == "ConfigMap" {
			for k, v := range data {
				var parsed any
				if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &parsed) == nil {
					data[k] = parsed
				}
			}
		}
		walk(obj, func(m map[string]any) {
			if labels, ok := m["labels"].(map[string]any); ok {
				for _, l := range helmLabels {
					delete(labels, l)
				}
			}
			if p, ok := m["imagePullPolicy"]; ok && p == "IfNotPresent" {
				if img, _ := m["image"].(string); img != "" && !strings.HasSuffix(img, ":latest") {
					delete(m, "imagePullPolicy")
				}
			}
			for _, key := range []string{"env", "volumes", "volumeMounts"} {
				sortList(m, key, func(e map[string]any) string { return fmt.Sprint(e["name"], e["mountPath"]) })
			}
			sortList(m, "ports", func(e map[string]any) string { return fmt.Sprint(e["containerPort"]) })
		})
	}
	return objs
}

func sortList(m map[string]any, key string, by func(map[string]any) string) {
	list, ok := m[key].([]any)
	if !ok {
		return
	}
	slices.SortStableFunc(list, func(a, b any) int {
		am, _ := a.(map[string]any)
		bm, _ := b.(map[string]any)
		return cmp.Compare(by(am), by(bm))
	})
}

// walk calls fn on every map in v, depth first.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, e := range v {
			walk(e, fn)
		}
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	}
}

// compareObjects reports objects only one side has, and for each object both
// have, the paths where they differ.
func compareObjects(t *testing.T, got, want map[string]render.Object) {
	t.Helper()
	for _, key := range sortedKeys(want) {
		g, ok := got[key]
		if !ok {
			t.Errorf("chart lacks %s", key)
			continue
		}
		for _, d := range diff(key, g, want[key]) {
			t.Errorf("%s", d)
		}
	}
	for _, key := range sortedKeys(got) {
		if _, ok := want[key]; !ok {
			t.Errorf("chart has %s, which kustomize does not render", key)
		}
	}
}

// diff lists the paths at which got and want differ.
func diff(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var out []string
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			out = append(out, diff(path+"."+k, g[k], w[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var out []string
		for i := range w {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	return []string{fmt.Sprintf("%s: chart %s, kustomize %s", path, js(got), js(want))}
}

func js(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestChartClassesAgreeWithExamples: the chart's StorageClass and
// VolumeSnapshotClass, given the values of deploy/examples' own, are those
// (but the labels, which say "example" there).
func TestChartClassesAgreeWithExamples(t *testing.T) {
	repo := repoRoot(t)
	got := renderObjects(t, values(t, `{"storageClass": {"create": true, "pool": "myfs-replicated"},
		"volumeSnapshotClass": {"create": true}}`))
	var want []render.Object
	for _, f := range []string{"storageclass.yaml", "volumesnapshotclass.yaml"} {
		b, err := os.ReadFile(filepath.Join(repo, "deploy", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := render.Objects(string(b))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, objs...)
	}
	gotIdx, wantIdx := index(t, got), index(t, want)
	for key, w := range wantIdx {
		g, ok := gotIdx[key]
		if !ok {
			t.Errorf("chart lacks %s", key)
			continue
		}
		delete(g["metadata"].(map[string]any), "labels")
		delete(w["metadata"].(map[string]any), "labels")
		for _, d := range diff(key, g, w) {
			t.Error(d)
		}
	}
}
