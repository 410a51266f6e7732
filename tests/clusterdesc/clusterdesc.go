// Package clusterdesc reads DIR/cluster.json, the description of an embedded
// Ceph cluster that `hack/cluster.sh up DIR` writes, and writes the driver's
// cluster config (ceph-csi's config.json) for such clusters. It is the one
// reader of that file: tests/testcluster, tests/e2e and hack/runconfig use it.
package clusterdesc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// FileName is the descriptor's name inside the cluster directory.
const FileName = "cluster.json"

// Version is the descriptor format hack/cluster.sh writes and Load reads.
// Fields may be added without changing it (Load ignores fields it does not
// know); renaming or removing one needs a new version.
const Version = 1

// Cluster describes one embedded cluster. Every field is required but those
// marked omitempty, which only some profiles (`up --profile`) write.
type Cluster struct {
	Version   int    `json:"version"`
	Name      string `json:"name"`           // the name given to `up --name`
	Dir       string `json:"dir"`            // the cluster directory
	Conf      string `json:"conf"`           // DIR/ceph.conf
	Keyring   string `json:"keyring"`        // client.admin's keyring
	Mon       string `json:"mon"`            // 127.0.0.1:PORT
	MonV2     string `json:"monV2"`          // v2:127.0.0.1:PORT
	AdminKey  string `json:"adminKey"`       // client.admin's CephX key
	FSID      string `json:"fsid"`           // the cluster's fsid
	FS        string `json:"fsName"`         // the CephFS filesystem
	Group     string `json:"subvolumeGroup"` // the subvolume group cluster.sh created
	ExtraPool string `json:"extraDataPool"`  // a second data pool of FS
	Release   string `json:"cephRelease"`    // the daemons' Ceph release: pacific, reef or tentacle

	// The default profile (one memstore OSD) writes neither of these.
	Profile string `json:"profile,omitempty"`    // ProfileSeed, or empty for the default profile
	ECPool  string `json:"ecDataPool,omitempty"` // the seed profile's EC 2+1 data pool of FS
}

// ProfileSeed names the cluster shaped like the seed's own Ceph: three
// BlueStore OSDs, an EC data pool, standby MDS and mgr.
const ProfileSeed = "seed"

// Load reads the descriptor of the cluster in dir.
func Load(dir string) (*Cluster, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		// Clusters booted by an older hack/cluster.sh have none; `up`
		// reuses them and writes it.
		return nil, fmt.Errorf("reading cluster descriptor (`hack/cluster.sh up %s` writes it): %w", dir, err)
	}
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("cluster descriptor %s: %w", path, err)
	}
	return c, nil
}

func parse(data []byte) (*Cluster, error) {
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if c.Version != Version {
		return nil, fmt.Errorf("version %d, want %d", c.Version, Version)
	}
	if missing := c.missing(); len(missing) > 0 {
		return nil, fmt.Errorf("missing or empty field(s) %s", strings.Join(missing, ", "))
	}
	if c.Profile == ProfileSeed && c.ECPool == "" {
		return nil, fmt.Errorf(`profile %q without "ecDataPool"`, c.Profile)
	}
	if !strings.HasPrefix(c.MonV2, "v2:") {
		return nil, fmt.Errorf(`"monV2" %q is not a msgr2 address (v2:HOST:PORT)`, c.MonV2)
	}
	return &c, nil
}

// missing lists the JSON names of the string fields that are empty, taken
// from the struct so that a new field is required without further code
// (unless it is omitempty: written by some profiles only).
func (c *Cluster) missing() []string {
	var names []string
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() == reflect.String && v.Field(i).String() == "" && opts != "omitempty" {
			names = append(names, fmt.Sprintf("%q", name))
		}
	}
	return names
}
