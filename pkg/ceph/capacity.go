package ceph

import (
	"context"
	"encoding/json"
	"fmt"
)

// PoolUsage is what the monitors report of one pool (`ceph df detail`).
type PoolUsage struct {
	Stored   int64 // bytes stored, before replication
	MaxAvail int64 // bytes that can still be written, before replication
	Quota    int64 // the pool's max_bytes quota; 0 = none
}

// Available is what can still be written to the pool: MaxAvail, bounded by
// what the quota leaves. Pacific 16.2.15's MAX AVAIL ignores the pool quota
// (seen: 4064038656 for a pool with a 10 MB quota), hence the bound.
func (u PoolUsage) Available() int64 {
	avail := u.MaxAvail
	if u.Quota > 0 {
		avail = min(avail, max(u.Quota-u.Stored, 0))
	}
	return avail
}

// Full reports whether no more can be written to the pool: the OSDs it maps
// to are full, or its quota is reached.
func (u PoolUsage) Full() bool { return u.Available() <= 0 }

// PoolUsages returns the usage of every pool of the cluster, by name, in one
// mon command (no mgr command: it never waits behind the volumes module).
func (a *Admin) PoolUsages(ctx context.Context) (map[string]PoolUsage, error) {
	buf, err := json.Marshal(map[string]string{"prefix": "df", "detail": "detail", "format": "json"})
	if err != nil {
		return nil, err
	}
	out, err := bounded(ctx, a.call("df"), "pool usage (df)", func() ([]byte, error) {
		out, status, err := a.mgr.MonCommand(buf)
		if err != nil && status != "" {
			err = fmt.Errorf("%w: %s", err, status)
		}
		return out, err
	})
	if err != nil {
		return nil, err
	}
	return parseDF(out)
}

func parseDF(out []byte) (map[string]PoolUsage, error) {
	var r struct {
		Pools []struct {
			Name  string `json:"name"`
			Stats struct {
				Stored     int64 `json:"stored"`
				MaxAvail   int64 `json:"max_avail"`
				QuotaBytes int64 `json:"quota_bytes"`
			} `json:"stats"`
		} `json:"pools"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("unexpected df answer: %w", err)
	}
	usage := make(map[string]PoolUsage, len(r.Pools))
	for _, p := range r.Pools {
		usage[p.Name] = PoolUsage{Stored: p.Stats.Stored, MaxAvail: p.Stats.MaxAvail, Quota: p.Stats.QuotaBytes}
	}
	return usage, nil
}
