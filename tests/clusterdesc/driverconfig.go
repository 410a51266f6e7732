package clusterdesc

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// driverCluster is one entry of the driver's cluster config (ceph-csi's
// config.json format).
type driverCluster struct {
	ClusterID string       `json:"clusterID"`
	Monitors  []string     `json:"monitors"`
	CephFS    driverCephFS `json:"cephFS"`
}

type driverCephFS struct {
	SubvolumeGroup string `json:"subvolumeGroup"`
}

// WriteDriverConfig writes the driver's cluster config naming each cluster
// by its key in clusters, mode 0600, replacing path atomically. Only MonV2
// and Group of each cluster are used.
func WriteDriverConfig(path string, clusters map[string]*Cluster) error {
	if len(clusters) == 0 {
		return fmt.Errorf("driver config %s: no clusters", path)
	}
	entries := make([]driverCluster, 0, len(clusters))
	for _, id := range slices.Sorted(maps.Keys(clusters)) {
		c := clusters[id]
		switch {
		case id == "":
			return fmt.Errorf("driver config %s: empty cluster ID", path)
		case c == nil || c.MonV2 == "" || c.Group == "":
			return fmt.Errorf("driver config %s: cluster %q has no msgr2 monitor address or subvolume group", path, id)
		}
		// The msgr2 form: for a port other than 3300 a bare address makes
		// clients try msgr1 too, where a wrong key is retried until the
		// connect timeout instead of being refused at once.
		entries = append(entries, driverCluster{
			ClusterID: id,
			Monitors:  []string{c.MonV2},
			CephFS:    driverCephFS{SubvolumeGroup: c.Group},
		})
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return fmt.Errorf("driver config %s: %w", path, err)
	}
	if err := writeFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("driver config: %w", err)
	}
	return nil
}

// writeFile replaces path with data through a temporary file in the same
// directory, so that the driver never reads half a config and the file is
// 0600 even when an older one had another mode.
func writeFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
