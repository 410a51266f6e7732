package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/tests/chart/render"
)

const (
	release   = "cephfs-csi"
	namespace = "cephfs-csi"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "charts", "cephfs-csi", "Chart.yaml")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func chartDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "charts", "cephfs-csi")
}

// values decodes a value set written as JSON.
func values(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("values %s: %v", s, err)
	}
	return v
}

func renderObjects(t *testing.T, vals map[string]any) []render.Object {
	t.Helper()
	out, err := render.Chart(chartDir(t), release, namespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Objects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// index keys objects by kind/namespace/name; a key seen twice fails the test.
func index(t *testing.T, objs []render.Object) map[string]render.Object {
	t.Helper()
	m := map[string]render.Object{}
	for _, obj := range objs {
		key := key(obj)
		if _, dup := m[key]; dup {
			t.Errorf("%s rendered twice", key)
		}
		m[key] = obj
	}
	return m
}

func key(obj render.Object) string {
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	kind, _ := obj["kind"].(string)
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}
