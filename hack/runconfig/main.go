// Command runconfig writes what `make run` needs to serve the embedded
// cluster and talk to it: the driver's cluster config (config.json), and the
// CSI secrets (secrets.yaml, csi-sanity's --csi.secrets format) and
// StorageClass parameters (parameters.yaml) that hack/csic sends.
//
//	go run ./hack/runconfig CLUSTER_DIR RUN_DIR
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

// clusterID names the embedded cluster in the files written.
const clusterID = "embedded"

// secretRPCs are the keys of the secrets file: one map per RPC family.
var secretRPCs = []string{
	"CreateVolumeSecret", "DeleteVolumeSecret", "ControllerPublishVolumeSecret", "ControllerUnpublishVolumeSecret",
	"ControllerValidateVolumeCapabilitiesSecret", "NodeStageVolumeSecret", "NodePublishVolumeSecret",
	"CreateSnapshotSecret", "DeleteSnapshotSecret", "ListSnapshotsSecret", "ControllerExpandVolumeSecret", "NodeExpandVolumeSecret",
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: runconfig CLUSTER_DIR RUN_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "runconfig: %v\n", err)
		os.Exit(1)
	}
}

func run(clusterDir, runDir string) error {
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
	if err := clusterdesc.WriteDriverConfig(filepath.Join(runDir, "config.json"), map[string]*clusterdesc.Cluster{clusterID: c}); err != nil {
		return err
	}
	var secrets strings.Builder
	for _, rpc := range secretRPCs {
		fmt.Fprintf(&secrets, "%s:\n  adminID: admin\n  adminKey: %s\n", rpc, c.AdminKey)
	}
	if err := writeFile(filepath.Join(runDir, "secrets.yaml"), secrets.String()); err != nil {
		return err
	}
	return writeFile(filepath.Join(runDir, "parameters.yaml"), fmt.Sprintf("clusterID: %s\nfsName: %s\n", clusterID, c.FS))
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
