// Package sanity runs csi-sanity (kubernetes-csi/csi-test) in-process against
// the driver on the embedded Ceph cluster, with real ceph-fuse mounts.
package sanity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSanity runs every csi-sanity spec; none is skipped by this file. The
// specs csi-sanity skips by itself are for capabilities the driver does not
// advertise: ControllerPublish/Unpublish (CephFS needs no attach),
// ControllerModifyVolume and the group controller service.
func TestSanity(t *testing.T) {
	c := testcluster.Get(t)
	testcluster.RequireRoot(t, "csi-sanity's node tests mount with ceph-fuse and need root")
	dir := t.TempDir()

	var params strings.Builder
	for k, v := range c.Params() {
		fmt.Fprintf(&params, "%s: %s\n", k, v)
	}

	// The controller's own credential, for ListVolumes, ControllerGetVolume
	// and GetCapacity (their requests carry no secrets).
	own := filepath.Join(dir, "controller-secret")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(own, "adminID"), "admin")
	writeFile(t, filepath.Join(own, "adminKey"), c.AdminKey)

	drv := c.StartDriver(t, func(o *driver.Options) {
		o.NodeID = "sanity-node"
		o.ControllerSecretDir = own
	})

	cfg := sanity.NewTestConfig()
	cfg.Address = drv.Options.Endpoint
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.SecretsFile = writeFile(t, filepath.Join(dir, "secrets.yaml"), clusterdesc.SecretsFile(c.AdminKey))
	cfg.TestVolumeParametersFile = writeFile(t, filepath.Join(dir, "parameters.yaml"), params.String())
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.IdempotentCount = 2
	cfg.CreatePathCmdTimeout = 30 * time.Second
	sanity.Test(t, cfg)
}
