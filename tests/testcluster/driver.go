package testcluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
)

// Clients are the CSI clients of a driver started by StartDriver.
type Clients struct {
	Identity   csi.IdentityClient
	Controller csi.ControllerClient
	Node       csi.NodeClient
	Options    driver.Options
}

// StartDriver runs the driver in-process in "all" mode on this cluster, on a
// socket in a temporary directory, and stops it when the test ends.
func (c *Cluster) StartDriver(t testing.TB, modify func(*driver.Options)) *Clients {
	t.Helper()
	dir := t.TempDir()
	opts := driver.DefaultOptions()
	opts.Endpoint = "unix://" + filepath.Join(dir, "csi.sock")
	opts.NodeID = "test-node"
	opts.ClusterConfig = c.ConfigFile(t)
	opts.KeyDir = filepath.Join(dir, "keys")
	opts.DrainTimeout = 5 * time.Second
	if modify != nil {
		modify(&opts)
	}
	d, err := driver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	conn, err := grpc.NewClient(opts.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
		if left, _ := os.ReadDir(opts.KeyDir); len(left) != 0 {
			t.Errorf("key files left behind in %s: %v", opts.KeyDir, left)
		}
	})
	return &Clients{
		Identity:   csi.NewIdentityClient(conn),
		Controller: csi.NewControllerClient(conn),
		Node:       csi.NewNodeClient(conn),
		Options:    opts,
	}
}
