package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
)

// cephCluster is the embedded Ceph cluster of hack/cluster.sh that the test
// boots in its own directory, so that the clusters of the other tests are
// not disturbed.
type cephCluster struct {
	script string // hack/cluster.sh
	dir    string
	fs     string               // desc.FS
	group  string               // desc.Group
	desc   *clusterdesc.Cluster // DIR/cluster.json
}

// cephCLITimeout bounds one ceph command.
const cephCLITimeout = 60 * time.Second

// bootCeph starts (or reuses) the cluster called name in dir, so that the
// other tests' clusters are not disturbed; hack/cluster.sh's output goes to
// logPath. Once the boot was tried, the cluster comes back even with an
// error, so that the caller's teardown wipes a half-booted one too.
func bootCeph(ctx context.Context, repo, dir, name, logPath string) (*cephCluster, error) {
	c := &cephCluster{script: filepath.Join(repo, "hack", "cluster.sh"), dir: dir}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, "up", dir, "--name", name)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return c, fmt.Errorf("hack/cluster.sh up %s: %w; last lines of %s:\n%s", dir, err, logPath, tail(logPath, 20))
	}
	if c.desc, err = clusterdesc.Load(dir); err != nil {
		return c, err
	}
	c.fs, c.group = c.desc.FS, c.desc.Group
	return c, nil
}

// wipe stops the cluster's daemons and removes its directory.
func (c *cephCluster) wipe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, c.script, "wipe", c.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("hack/cluster.sh wipe %s: %w\n%s", c.dir, err, out)
	}
	return nil
}

// writeDriverConfig writes the driver's cluster config (ceph-csi's
// config.json) naming this cluster clusterID.
func (c *cephCluster) writeDriverConfig(path, clusterID string) error {
	return clusterdesc.WriteDriverConfig(path, map[string]*clusterdesc.Cluster{clusterID: c.desc})
}

// secrets are the admin credentials in the form the driver reads.
func (c *cephCluster) secrets() map[string]string {
	return map[string]string{"adminID": "admin", "adminKey": c.desc.AdminKey}
}

// ceph runs the ceph CLI on the cluster and returns its stdout.
func (c *cephCluster) ceph(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cephCLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ceph", append([]string{"-c", c.desc.Conf, "--connect-timeout", "20"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ceph %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// subvolumeQuota returns the quota (bytes) of a subvolume, 0 for none.
func (c *cephCluster) subvolumeQuota(ctx context.Context, group, name string) (int64, error) {
	out, err := c.ceph(ctx, "fs", "subvolume", "info", c.fs, name, "--group_name", group, "--format", "json")
	if err != nil {
		return 0, err
	}
	var info struct {
		BytesQuota json.RawMessage `json:"bytes_quota"` // a number, or "infinite"
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("subvolume info %s/%s: %w: %s", group, name, err, out)
	}
	quota, err := strconv.ParseInt(string(info.BytesQuota), 10, 64)
	if err != nil {
		return 0, nil // "infinite"
	}
	return quota, nil
}

// subvolumes returns the names of the subvolumes of a group.
func (c *cephCluster) subvolumes(ctx context.Context, group string) (map[string]bool, error) {
	out, err := c.ceph(ctx, "fs", "subvolume", "ls", c.fs, "--group_name", group, "--format", "json")
	if err != nil {
		return nil, err
	}
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("subvolume ls %s: %w: %s", group, err, out)
	}
	names := map[string]bool{}
	for _, sv := range list {
		names[sv.Name] = true
	}
	return names, nil
}

// createSubvolume makes a subvolume with a quota outside the driver and
// returns its path.
func (c *cephCluster) createSubvolume(ctx context.Context, group, name string, size int64) (string, error) {
	if _, err := c.ceph(ctx, "fs", "subvolume", "create", c.fs, name, strconv.FormatInt(size, 10), "--group_name", group); err != nil {
		return "", err
	}
	out, err := c.ceph(ctx, "fs", "subvolume", "getpath", c.fs, name, "--group_name", group)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// poolUsage is a pool's line of `ceph df detail`.
type poolUsage struct {
	stored, maxAvail, quota int64
}

// available is what can still be written to the pool, as the driver's
// GetCapacity computes it: max_avail, which ignores the pool's quota,
// bounded by what the quota leaves.
func (u poolUsage) available() int64 {
	if u.quota > 0 {
		return min(u.maxAvail, max(u.quota-u.stored, 0))
	}
	return u.maxAvail
}

// poolUsages returns every pool's usage by name (`ceph df detail`).
func (c *cephCluster) poolUsages(ctx context.Context) (map[string]poolUsage, error) {
	out, err := c.ceph(ctx, "df", "detail", "--format", "json")
	if err != nil {
		return nil, err
	}
	var df struct {
		Pools []struct {
			Name  string `json:"name"`
			Stats struct {
				Stored     int64 `json:"stored"`
				MaxAvail   int64 `json:"max_avail"`
				QuotaBytes int64 `json:"quota_bytes"`
			} `json:"stats"`
		} `json:"pools"`
	}
	if err := json.Unmarshal(out, &df); err != nil {
		return nil, fmt.Errorf("ceph df: %w: %s", err, out)
	}
	usage := map[string]poolUsage{}
	for _, p := range df.Pools {
		usage[p.Name] = poolUsage{stored: p.Stats.Stored, maxAvail: p.Stats.MaxAvail, quota: p.Stats.QuotaBytes}
	}
	return usage, nil
}
