package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// chartValueSets are the value sets of charts/cephfs-csi whose renders the
// Manifests step applies (dry run): the defaults, the optional sidecars,
// every switch flipped, and both optional classes with their parameters.
var chartValueSets = []string{
	`{}`,
	`{"provisioner": {"capacity": {"enabled": true, "pollInterval": "30s"}}}`,
	`{"createNamespace": true, "builtinRegistration": true, "mountHolder": {"enabled": false}, "selinuxMount": false}`,
	`{"driverName": "cephfs.csi.ceph.com", "kubeletDir": "/var/lib/k0s/kubelet", "defaultMounter": "fuse",
	  "CSIDriver": {"fsGroupPolicy": "None", "seLinuxMount": false},
	  "nodeplugin": {"tolerations": [{"operator": "Exists"}], "plugin": {"extraArgs": ["--mount-timeout=2m"]}},
	  "provisioner": {"replicaCount": 1, "affinity": null},
	  "storageClass": {"create": true, "pool": "myfs-replicated", "mounter": "kernel", "kernelMountOptions": "noatime",
	    "parameters": {"uid": "1000", "gid": "1000", "mode": "0775"}, "mountOptions": ["debug"]},
	  "volumeSnapshotClass": {"create": true}}`,
	`{"externallyManagedConfigmap": true, "configMapName": "rook-ceph-csi-config", "configMapKey": "csi-cluster-config-json"}`,
}

// renderChart renders charts/cephfs-csi into a file of dir with
// tests/chart's chart-render (Helm's library, in that module: this one does
// not depend on Helm).
func renderChart(ctx context.Context, repo, dir, values string, n int) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/chart-render",
		"-chart", filepath.Join(repo, "charts", "cephfs-csi"), "-namespace", driverNamespace, "-values", values)
	cmd.Dir = filepath.Join(repo, "tests", "chart")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chart-render %s: %w: %s", values, err, stderr.Bytes())
	}
	path := filepath.Join(dir, fmt.Sprintf("chart-%d.yaml", n))
	return path, os.WriteFile(path, out, 0o644)
}

// chartManifests applies each value set's render of the chart (server-side
// apply, dry run, strict field validation), as manifests does deploy/csi's,
// and checks that the dry run left every object as it found it: none
// created, none changed (the setup created some of the same names for real).
func (s *scenario) chartManifests(ctx context.Context, t *testing.T) {
	dir := t.TempDir()
	for i, values := range chartValueSets {
		path, err := renderChart(ctx, s.repo, dir, values, i)
		if err != nil {
			t.Error(err)
			continue
		}
		objs, err := readManifest(path)
		if err != nil {
			t.Fatal(err)
		}
		before, err := s.kube.resourceVersions(ctx, objs, driverNamespace)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.kube.applyFile(ctx, path, driverNamespace, true); err != nil {
			t.Errorf("chart with %s: %v", values, err)
		}
		after, err := s.kube.resourceVersions(ctx, objs, driverNamespace)
		if err != nil {
			t.Fatal(err)
		}
		for key, version := range before {
			if after[key] != version {
				t.Errorf("chart with %s: the dry run changed %s (resourceVersion %q, now %q)", values, key, version, after[key])
			}
		}
		t.Logf("chart with %s: %d objects accepted (dry run)", values, len(objs))
	}
}
