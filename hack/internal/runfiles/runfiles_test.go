package runfiles

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

func TestWrite(t *testing.T) {
	clusterDir, runDir := t.TempDir(), filepath.Join(t.TempDir(), "run")
	desc := map[string]any{
		"version": 1, "name": "t", "dir": clusterDir, "conf": clusterDir + "/ceph.conf",
		"keyring": clusterDir + "/keyring.admin", "mon": "127.0.0.1:3301", "monV2": "v2:127.0.0.1:3301",
		"adminKey": "AQBzZXJ2ZXIta2V5LW5vdC1yZWFsLTAwMDAwMA==", "fsid": "0b6a7d2e-8f51-4c1e-9d3a-6f1d2b3c4e5f",
		"fsName": "myfs", "subvolumeGroup": "csi", "extraDataPool": "myfs-data1", "cephRelease": "pacific",
	}
	data, err := json.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clusterDir, "cluster.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A second run replaces the files (and fixes modes) of the first.
	for range 2 {
		if err := Write(clusterDir, runDir); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(runDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("run dir: %v, %v; want mode 0700", fi, err)
	}
	want := map[string]string{
		"config.json":     `"monitors": [` + "\n" + `      "v2:127.0.0.1:3301"`,
		"secrets.yaml":    "NodeStageVolumeSecret:\n  adminID: admin\n  adminKey: AQBzZXJ2ZXIta2V5LW5vdC1yZWFsLTAwMDAwMA==\n",
		"parameters.yaml": "clusterID: embedded\nfsName: myfs\n",
		// The controller's own credential, files as a mounted Secret has them.
		"controller-secret/adminID":  "admin",
		"controller-secret/adminKey": "AQBzZXJ2ZXIta2V5LW5vdC1yZWFsLTAwMDAwMA==",
	}
	for name, fragment := range want {
		path := filepath.Join(runDir, name)
		content, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(content), fragment) {
			t.Errorf("%s:\n%s\nwant it to contain:\n%s", name, content, fragment)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if got, want := mustRead(t, filepath.Join(runDir, "secrets.yaml")), clusterdesc.SecretsFile("AQBzZXJ2ZXIta2V5LW5vdC1yZWFsLTAwMDAwMA=="); got != want {
		t.Errorf("secrets.yaml:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteNoDescriptor(t *testing.T) {
	clusterDir := t.TempDir()
	err := Write(clusterDir, filepath.Join(t.TempDir(), "run"))
	if err == nil || !strings.Contains(err.Error(), "cluster.json") {
		t.Errorf("run without a descriptor: %v, want an error naming cluster.json", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
