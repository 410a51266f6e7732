package kernel

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

// sanityKernel runs csi-sanity against the guest: its node specs mount
// with the kernel client (the StorageClass parameters ask for it), its
// controller specs run against the guest's controller service. The paths
// it creates, checks and removes are the guest's, through the agent.
func sanityKernel(t *testing.T, v *vm) {
	dir := t.TempDir()
	params := fmt.Sprintf("clusterID: %s\nfsName: %s\nmounter: kernel\n", clusterID, v.cluster.FS)
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dial := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dialInNetns(ctx, "tcp", addr) })
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), dial}

	cfg := sanity.NewTestConfig()
	cfg.Address = "passthrough:///" + net.JoinHostPort(guestIP, driverPort)
	cfg.ControllerAddress = "passthrough:///" + net.JoinHostPort(guestIP, controllerPort)
	cfg.DialOptions, cfg.ControllerDialOptions = opts, opts
	cfg.TargetPath = filepath.Join(guestRun, "sanity", "target")
	cfg.StagingPath = filepath.Join(guestRun, "sanity", "staging")
	cfg.SecretsFile = write("secrets.yaml", clusterdesc.SecretsFile(v.cluster.AdminKey))
	cfg.TestVolumeParametersFile = write("parameters.yaml", params)
	cfg.TestVolumeSize = 1 << 30
	cfg.TestVolumeExpandSize = 2 << 30
	cfg.IdempotentCount = 2
	cfg.CreateTargetDir = func(path string) (string, error) { _, err := v.guestRun("mkdir", "-p", path); return path, err }
	cfg.CreateStagingDir = cfg.CreateTargetDir
	cfg.RemoveTargetPath = func(path string) error { _, err := v.guestRun("rm", "-rf", "--one-file-system", path); return err }
	cfg.RemoveStagingPath = cfg.RemoveTargetPath
	cfg.CheckPath = func(path string) (sanity.PathKind, error) {
		out, err := v.guestRun("/bin/sh", "-c", `if [ -d "$1" ]; then echo directory; elif [ -f "$1" ]; then echo file; elif [ -e "$1" ]; then echo other; else echo none; fi`, "sh", path)
		if err != nil {
			return sanity.PathIsOther, err
		}
		switch strings.TrimSpace(out) {
		case "directory":
			return sanity.PathIsDir, nil
		case "file":
			return sanity.PathIsFile, nil
		case "none":
			return sanity.PathIsNotFound, nil
		}
		return sanity.PathIsOther, nil
	}
	begin := time.Now()
	sanity.Test(t, cfg)
	t.Logf("csi-sanity against the guest: %v", time.Since(begin).Round(time.Second))
}
