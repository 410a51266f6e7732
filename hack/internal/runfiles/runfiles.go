// Package runfiles writes what `make run` needs to serve the embedded
// cluster and talk to it, in RUN_DIR: the driver's cluster config
// (config.json), and the CSI secrets (secrets.yaml, csi-sanity's --csi.secrets
// format) and StorageClass parameters (parameters.yaml) that hack/csic sends,
// and the controller's own credential (controller-secret/, the driver's
// --controller-secret-dir: ListVolumes and GetCapacity carry no secrets).
// The driver serves on RUN_DIR/csi.sock.
package runfiles

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

// The files of RUN_DIR, and the socket the driver serves on there.
const (
	Socket     = "csi.sock"
	Config     = "config.json"
	Secrets    = "secrets.yaml"
	Parameters = "parameters.yaml"
	// ControllerSecretDir holds adminID and adminKey, as a mounted Secret does.
	ControllerSecretDir = "controller-secret"
)

// ClusterID names the embedded cluster in the files written.
const ClusterID = "embedded"

// Write writes the files of RUN_DIR for the cluster described in
// CLUSTER_DIR/cluster.json, replacing those of an earlier run.
func Write(clusterDir, runDir string) error {
	c, err := clusterdesc.Load(clusterDir)
	if err != nil {
		return err
	}
	// The secrets file holds the admin key: only root may enter RUN_DIR,
	// whatever mode an earlier run left it with.
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	if err := os.Chmod(runDir, 0o700); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	if err := clusterdesc.WriteDriverConfig(filepath.Join(runDir, Config), map[string]*clusterdesc.Cluster{ClusterID: c}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(runDir, Secrets), clusterdesc.SecretsFile(c.AdminKey)); err != nil {
		return err
	}
	own := filepath.Join(runDir, ControllerSecretDir)
	if err := os.MkdirAll(own, 0o700); err != nil {
		return fmt.Errorf("controller secret dir: %w", err)
	}
	if err := writeFile(filepath.Join(own, "adminID"), "admin"); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(own, "adminKey"), c.AdminKey); err != nil {
		return err
	}
	return writeFile(filepath.Join(runDir, Parameters), fmt.Sprintf("clusterID: %s\nfsName: %s\n", ClusterID, c.FS))
}

// writeFile writes a 0600 file, also when it existed with another mode.
func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
