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
// Manifests step applies (dry run): the defaults, every switch flipped, and
// both optional classes with their parameters.
var chartValueSets = []string{
	`{}`,
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
// apply, dry run, strict field validation), as manifests does deploy/csi's.
func (s *scenario) chartManifests(ctx context.Context, t *testing.T) {
	dir := t.TempDir()
	for i, values := range chartValueSets {
		path, err := renderChart(ctx, s.repo, dir, values, i)
		if err != nil {
			t.Error(err)
			continue
		}
		if err := s.kube.applyFile(ctx, path, driverNamespace, true); err != nil {
			t.Errorf("chart with %s: %v", values, err)
		}
	}
}
