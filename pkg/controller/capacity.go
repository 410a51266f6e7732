package controller

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// GetCapacity reports what can still be written to the data pool a
// StorageClass's volumes would get — its `pool`, else the filesystem's
// first data pool — from the monitors' pool statistics (`df`: one mon
// command, no mgr command), with the controller's own credential. Without
// parameters it reports the most any configured filesystem offers. The
// figure is before replication, as a volume's quota is, and bounded by the
// pool's quota.
func (s *Server) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
			return nil, err
		}
	}
	if len(req.GetParameters()) == 0 {
		var most int64
		for _, cluster := range s.cfg.Clusters() {
			avail, err := s.capacityOf(ctx, cluster, "", "")
			if err != nil {
				return nil, fmt.Errorf("cluster %q: %w", cluster.ClusterID, err)
			}
			most = max(most, avail)
		}
		return &csi.GetCapacityResponse{AvailableCapacity: most}, nil
	}
	p, err := parseParams(req.GetParameters(), s.cfg)
	if err != nil {
		return nil, err
	}
	avail, err := s.capacityOf(ctx, p.cluster, p.fsName, p.pool)
	if err != nil {
		return nil, err
	}
	return &csi.GetCapacityResponse{AvailableCapacity: avail}, nil
}

// capacityOf returns the bytes available in a pool of filesystem fsName
// (its first data pool when pool is empty); with no fsName, the most of any
// filesystem's first data pool.
func (s *Server) capacityOf(ctx context.Context, cluster *config.Cluster, fsName, pool string) (int64, error) {
	sess, err := s.openOwn(ctx, cluster)
	if err != nil {
		return 0, err
	}
	defer sess.Release()
	var pools []string
	if pool != "" {
		pools = []string{pool}
	} else {
		names := []string{fsName}
		if fsName == "" {
			if names, err = sess.Filesystems(ctx); err != nil {
				return 0, err
			}
		}
		for _, name := range names {
			dp, err := sess.DataPools(ctx, name)
			if err != nil {
				return 0, err
			}
			if len(dp) > 0 {
				pools = append(pools, dp[0])
			}
		}
	}
	usage, err := sess.PoolUsages(ctx)
	if err != nil {
		return 0, err
	}
	var most int64
	for _, p := range pools {
		u, ok := usage[p]
		if !ok {
			return 0, contract.Invalid("pool %q of filesystem %q is not in cluster %q", p, fsName, cluster.ClusterID)
		}
		most = max(most, u.Available())
	}
	return most, nil
}
