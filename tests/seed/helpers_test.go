package seed

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// EnvVar names the seed profile's cluster directory.
const EnvVar = "CEPHFS_CSI_SEED_CLUSTER"

// seedCluster is the seed profile's cluster and the name of its EC pool.
type seedCluster struct {
	*testcluster.Cluster
	ECPool string
}

// getSeed returns the seed cluster, or skips the test when none was started.
func getSeed(t *testing.T) *seedCluster {
	t.Helper()
	dir := os.Getenv(EnvVar)
	if dir == "" {
		t.Skipf("%s is not set: `make test-seed` boots the seed profile's cluster", EnvVar)
	}
	testcluster.RequireRoot(t, "mounting needs root")
	desc, err := clusterdesc.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Profile != clusterdesc.ProfileSeed {
		t.Fatalf("%s=%s is a cluster of profile %q, want %q (hack/cluster.sh up DIR --profile seed)",
			EnvVar, dir, desc.Profile, clusterdesc.ProfileSeed)
	}
	c, err := testcluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &seedCluster{Cluster: c, ECPool: desc.ECPool}
}

// ecParams are StorageClass parameters that put volumes in the EC pool.
func (c *seedCluster) ecParams() map[string]string {
	p := c.Params()
	p["pool"] = c.ECPool
	return p
}

// createVolume makes a volume with params (from src when not nil) and
// deletes it when the test ends.
func createVolume(t *testing.T, drv *testcluster.Clients, c *seedCluster, name string, params map[string]string, src *csi.VolumeContentSource) *csi.Volume {
	t.Helper()
	resp, err := drv.Controller.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: name + "-" + time.Now().Format("150405.000"), CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{testcluster.RWX}, Parameters: params, Secrets: c.Secrets(),
		VolumeContentSource: src,
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	id := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() { deleteVolume(t, drv, c, id) })
	return resp.GetVolume()
}

// deleteVolume deletes a volume, retrying what a CO retries (a clone still
// being copied, a mgr failing over).
func deleteVolume(t *testing.T, drv *testcluster.Clients, c *seedCluster, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for try := 1; ; try++ {
		_, err := drv.Controller.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: c.Secrets()})
		if err == nil {
			return
		}
		if try == 2 && retryable(err) {
			c.logFreshClient(t, err)
		}
		if !retryable(err) || time.Now().After(deadline) {
			t.Errorf("DeleteVolume %s: %v", id, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// logFreshClient says, when the driver's calls keep failing, whether a new
// client (the rados tool) reaches the driver's records and claims: telling
// a cluster that does not answer from a driver's client that asks in vain.
func (c *seedCluster) logFreshClient(t *testing.T, err error) {
	t.Helper()
	var fss []struct {
		MetadataPool string `json:"metadata_pool"`
	}
	c.CephJSON(t, &fss, "fs", "ls")
	if len(fss) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	out, lerr := exec.CommandContext(ctx, "rados", "-c", c.Conf, "-p", fss[0].MetadataPool, "-N", "cephfs-csi",
		"--rados-osd-op-timeout", "10", "ls").CombinedOutput()
	t.Logf("the driver answered twice %v; a new client lists the driver's records in %v: %v, %d bytes: %.300s",
		err, time.Since(start).Round(time.Millisecond), lerr, len(out), out)
}

// retryable: the codes a CO retries the same call on.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// writeRandom writes size pseudo-random bytes to path, fsyncs them and
// returns their SHA-256.
func writeRandom(t *testing.T, path string, size int, seed byte) [32]byte {
	t.Helper()
	data := make([]byte, size)
	x := uint32(seed) + 1
	for i := range data { // xorshift: incompressible enough, reproducible
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// clusterSh runs `hack/cluster.sh COMMAND DIR DAEMON` on the seed cluster
// (daemon-kill, daemon-start); both return once the process is gone or has
// written its pid file, so a minute only bounds a hang.
func (c *seedCluster) clusterSh(t *testing.T, command, daemon string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(testcluster.Root(), "hack", "cluster.sh"), command, c.Dir, daemon).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh %s %s: %v\n%s", command, daemon, err, out)
	}
}

// waitFor polls ok until it holds, failing the test after a generous
// deadline (the cluster's report intervals are seconds; this only bounds a
// hang).
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
