// Package config reads the cluster configuration file. The format is the one
// ceph-csi uses for its config.json ConfigMap, so that an existing ConfigMap can
// be mounted unchanged: a JSON list of clusters, each with an ID, its monitors
// and CephFS defaults. Keys this driver does not use (rbd, readAffinity, ...)
// are ignored.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Cluster is one entry of the cluster configuration.
type Cluster struct {
	ClusterID string   `json:"clusterID"`
	Monitors  []string `json:"monitors"`
	CephFS    CephFS   `json:"cephFS"`
}

// CephFS holds the CephFS defaults of a cluster.
type CephFS struct {
	SubvolumeGroup     string `json:"subvolumeGroup"`
	KernelMountOptions string `json:"kernelMountOptions"`
	FuseMountOptions   string `json:"fuseMountOptions"`
	// RadosNamespace is where ceph-csi keeps its journal in the metadata
	// pool (its default: "csi"); read to serve ceph-csi's volumes.
	RadosNamespace string `json:"radosNamespace"`
}

// Config is the parsed configuration, indexed by cluster ID.
type Config struct {
	clusters map[string]*Cluster
	order    []string
}

// ErrUnknownCluster is returned by Cluster for an ID that is not configured.
var ErrUnknownCluster = errors.New("cluster ID not found in the cluster config")

// Load reads and validates the configuration file at path. Every error names
// the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster config %s: %w", path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("cluster config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse validates a configuration document.
func Parse(data []byte) (*Config, error) {
	var list []*Cluster
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("not a JSON list of clusters: %w", err)
	}
	cfg := &Config{clusters: make(map[string]*Cluster, len(list))}
	for i, c := range list {
		if c == nil {
			return nil, fmt.Errorf("entry %d: null", i)
		}
		c.ClusterID = strings.TrimSpace(c.ClusterID)
		if c.ClusterID == "" {
			return nil, fmt.Errorf("entry %d: clusterID is empty", i)
		}
		if _, dup := cfg.clusters[c.ClusterID]; dup {
			return nil, fmt.Errorf("entry %d: clusterID %q appears twice", i, c.ClusterID)
		}
		mons := make([]string, 0, len(c.Monitors))
		for _, m := range c.Monitors {
			if m = strings.TrimSpace(m); m != "" {
				mons = append(mons, m)
			}
		}
		if len(mons) == 0 {
			return nil, fmt.Errorf("cluster %q: no monitors", c.ClusterID)
		}
		for _, m := range mons {
			if strings.ContainsAny(m, " \t\n\",;") {
				return nil, fmt.Errorf("cluster %q: monitor %q: unexpected character", c.ClusterID, m)
			}
		}
		c.Monitors = mons
		cfg.clusters[c.ClusterID] = c
		cfg.order = append(cfg.order, c.ClusterID)
	}
	return cfg, nil
}

// Cluster returns the entry for id.
func (c *Config) Cluster(id string) (*Cluster, error) {
	if cl, ok := c.clusters[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownCluster, id)
}

// Clusters returns every entry, in file order.
func (c *Config) Clusters() []*Cluster {
	out := make([]*Cluster, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.clusters[id])
	}
	return out
}

// MonHost is the monitor list in the form librados takes for mon_host and
// the kernel client takes as a mount source prefix.
func (c *Cluster) MonHost() string {
	return strings.Join(c.Monitors, ",")
}

// MonitorAddrs returns the plain addresses of the cluster's monitors, in the
// form ceph-fuse's -m and the kernel client's mount source take: messenger
// prefixes and nonces dropped ("v2:1.2.3.4:3300/0" → "1.2.3.4:3300"), the
// "[v2:a:3300,v1:a:6789]" form split, IPv6 brackets ("[::1]:3300") kept.
// A port is not added where the entry has none.
func (c *Cluster) MonitorAddrs() []string {
	var out []string
	for _, m := range c.monitors() {
		out = append(out, m.addr)
	}
	return out
}

// Msgr2Addrs returns those of MonitorAddrs that the config marks as msgr2
// endpoints: a "v2:" address, or an unmarked one on msgr2's port 3300. The
// kernel client speaks one protocol to every monitor it is given, so it
// must be given only the addresses that speak it.
func (c *Cluster) Msgr2Addrs() []string {
	var out []string
	for _, m := range c.monitors() {
		if m.msgr2 {
			out = append(out, m.addr)
		}
	}
	return out
}

// monitor is one address of a monitor entry.
type monitor struct {
	addr  string
	msgr2 bool
}

func (c *Cluster) monitors() []monitor {
	var out []monitor
	for _, entry := range c.Monitors {
		entry = strings.TrimSpace(entry)
		if strings.HasPrefix(entry, "[v") || strings.HasPrefix(entry, "[V") {
			entry = strings.Trim(entry, "[]")
		}
		for _, a := range strings.Split(entry, ",") {
			a = strings.TrimSpace(a)
			lower := strings.ToLower(a)
			v1, v2 := strings.HasPrefix(lower, "v1:"), strings.HasPrefix(lower, "v2:")
			if v1 || v2 {
				a = a[3:]
			}
			if i := strings.Index(a, "/"); i >= 0 {
				a = a[:i]
			}
			if a != "" {
				out = append(out, monitor{addr: a, msgr2: v2 || (!v1 && strings.HasSuffix(a, ":3300"))})
			}
		}
	}
	return out
}

// DefaultSubvolumeGroup is the group of a cluster whose config names none
// (ceph-csi's default too).
const DefaultSubvolumeGroup = "csi"

// SubvolumeGroup is the cluster's default subvolume group.
func (c *Cluster) SubvolumeGroup() string {
	if c.CephFS.SubvolumeGroup != "" {
		return c.CephFS.SubvolumeGroup
	}
	return DefaultSubvolumeGroup
}
