// Package testcluster gives tests the embedded Ceph cluster that
// `make cluster-up` (hack/cluster.sh) started. The Makefile passes its
// directory in CEPHFS_CSI_CLUSTER; without it, tests that need a cluster skip.
package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

// EnvVar names the shared cluster's directory; FaultEnvVar names a second
// cluster that tests may break (stop the mon, stall the mgr, kill clients)
// without disturbing tests that run in parallel on the shared one.
const (
	EnvVar      = "CEPHFS_CSI_CLUSTER"
	FaultEnvVar = "CEPHFS_CSI_FAULT_CLUSTER"
)

// ClusterID is the ID tests give the cluster in their cluster config.
const ClusterID = "test-cluster"

// Cluster is a running embedded cluster.
type Cluster struct {
	Dir      string
	Conf     string
	Mon      string // the msgr2 form, v2:127.0.0.1:PORT (see Load)
	FS       string
	Group    string
	AdminKey string
	FSID     string
}

// Root is the repository's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Get returns the shared cluster, or skips the test when none was started.
func Get(t testing.TB) *Cluster {
	t.Helper()
	return get(t, EnvVar)
}

// Fault returns the cluster that tests may break; tests using it must not
// run in parallel with each other.
func Fault(t testing.TB) *Cluster {
	t.Helper()
	return get(t, FaultEnvVar)
}

func get(t testing.TB, env string) *Cluster {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		t.Skipf("%s is not set: run through `make test` to get an embedded Ceph cluster", env)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatalf("embedded cluster in %s: %v", dir, err)
	}
	return c
}

// Load reads the cluster's descriptor, DIR/cluster.json, which
// `hack/cluster.sh up DIR` writes.
func Load(dir string) (*Cluster, error) {
	d, err := clusterdesc.Load(dir)
	if err != nil {
		return nil, err
	}
	// The msgr2 form: for a port other than 3300 a bare address makes
	// clients try msgr1 too, where a wrong key is retried until the connect
	// timeout instead of being refused at once.
	return &Cluster{
		Dir: dir, Conf: d.Conf, Mon: d.MonV2, FS: d.FS,
		Group: d.Group, AdminKey: d.AdminKey, FSID: d.FSID,
	}, nil
}

// Run runs hack/cluster.sh with a subcommand on this cluster (mon-stop,
// mon-start, ...).
func (c *Cluster) Run(t testing.TB, subcommand string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(Root(), "hack", "cluster.sh"), subcommand, c.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh %s: %v\n%s", subcommand, err, out)
	}
}

// Signal sends sig to one of the cluster's daemons ("mgr", "mon", ...).
func (c *Cluster) Signal(t testing.TB, daemon, sig string) {
	t.Helper()
	if out, err := exec.Command("pkill", "-"+sig, "-f", "ceph-"+daemon+" -c "+c.Conf).CombinedOutput(); err != nil {
		t.Fatalf("pkill -%s ceph-%s: %v\n%s", sig, daemon, err, out)
	}
}

// ConfigFile writes a cluster config (ceph-csi format) naming this cluster
// ClusterID and returns its path.
func (c *Cluster) ConfigFile(t testing.TB) string {
	t.Helper()
	return ConfigFile(t, map[string]*Cluster{ClusterID: c})
}

// ConfigFile writes a cluster config naming several clusters by ID. It is
// written from the fields of each Cluster (which a test may have changed),
// not from the descriptor they were loaded from.
func ConfigFile(t testing.TB, clusters map[string]*Cluster) string {
	t.Helper()
	descs := make(map[string]*clusterdesc.Cluster, len(clusters))
	for id, c := range clusters {
		descs[id] = &clusterdesc.Cluster{MonV2: c.Mon, Group: c.Group}
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := clusterdesc.WriteDriverConfig(path, descs); err != nil {
		t.Fatal(err)
	}
	return path
}

// Secrets are admin credentials in CSI secret form.
func (c *Cluster) Secrets() map[string]string {
	return map[string]string{"adminID": "admin", "adminKey": c.AdminKey}
}

// Params are StorageClass parameters for this cluster.
func (c *Cluster) Params() map[string]string {
	return map[string]string{"clusterID": ClusterID, "fsName": c.FS}
}

// Ceph runs the ceph CLI against the cluster and returns its standard
// output (some commands, such as "fs dump", talk on standard error too).
func (c *Cluster) Ceph(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ceph", append([]string{"-c", c.Conf, "--connect-timeout", "20"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ceph %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// CephJSON runs the ceph CLI with JSON output and decodes it into v.
func (c *Cluster) CephJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.Ceph(t, append(args, "--format", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ceph %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// CountSubvolumes counts the subvolumes named as volume volID names one
// (each name is unique in its group, so 0 or 1 unless something is wrong).
func (c *Cluster) CountSubvolumes(t testing.TB, volID string) int {
	t.Helper()
	v := decode(t, volID)
	var list []struct{ Name string }
	c.CephJSON(t, &list, "fs", "subvolume", "ls", v.FSName, "--group_name", v.Group)
	n := 0
	for _, e := range list {
		if e.Name == v.Subvolume {
			n++
		}
	}
	return n
}

// Snapshots lists the snapshots of volume volID's subvolume.
func (c *Cluster) Snapshots(t testing.TB, volID string) []string {
	t.Helper()
	v := decode(t, volID)
	var list []struct{ Name string }
	c.CephJSON(t, &list, "fs", "subvolume", "snapshot", "ls", v.FSName, v.Subvolume, "--group_name", v.Group)
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	return names
}

func decode(t testing.TB, volID string) volumeid.Volume {
	t.Helper()
	v, err := volumeid.DecodeVolume(volID)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
