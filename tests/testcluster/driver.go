package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the driver once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cephfs-csi-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cephfs-csi")
		out, err := exec.Command("go", "build", "-o", binPath, filepath.Join(Root(), "cmd", "cephfs-csi")).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Process is the driver running as a separate process.
type Process struct {
	*Clients
	cmd  *exec.Cmd
	conn *grpc.ClientConn
}

// Kill ends the process with SIGKILL, as a crash would.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.conn.Close()
}

// StartProcess runs the driver binary in "all" mode on this cluster, with
// its socket and key directory in dir (so that a restarted process can use
// the same ones), and kills it when the test ends.
func (c *Cluster) StartProcess(t testing.TB, dir string) *Process {
	t.Helper()
	opts := driver.DefaultOptions()
	opts.Endpoint = "unix://" + filepath.Join(dir, "csi.sock")
	opts.KeyDir = filepath.Join(dir, "keys")
	cmd := exec.Command(Binary(t), "--mode=all", "--nodeid=test-node", "--endpoint="+opts.Endpoint,
		"--cluster-config="+c.ConfigFile(t), "--keys-dir="+opts.KeyDir, "-v=4")
	logFile, err := os.OpenFile(filepath.Join(dir, "driver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	conn, err := grpc.NewClient(opts.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, conn: conn, Clients: &Clients{
		Identity: csi.NewIdentityClient(conn), Controller: csi.NewControllerClient(conn),
		Node: csi.NewNodeClient(conn), Options: opts,
	}}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.Kill()
		}
	})
	// Wait for the socket to answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := p.Identity.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "driver.log"))
			t.Fatalf("driver did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
