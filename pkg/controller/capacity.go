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
			avail, err := s.capacityOf(ctx, cluster, nil)
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
	avail, err := s.capacityOf(ctx, p.cluster, p)
	if err != nil {
		return nil, err
	}
	return &csi.GetCapacityResponse{AvailableCapacity: avail}, nil
}

// capacityOf returns the bytes available to a StorageClass's volumes: in
// its pool, checked as CreateVolume checks it, else in its filesystem's
// first data pool; with no parameters, the most of any filesystem's first
// data pool.
func (s *Server) capacityOf(ctx context.Context, cluster *config.Cluster, p *volumeParams) (int64, error) {
	sess, err := s.openOwn(ctx, cluster)
	if err != nil {
		return 0, err
	}
	defer sess.Release()
	var pools []string
	switch {
	case p != nil && p.pool != "":
		if err := checkPool(ctx, sess, p); err != nil {
			return 0, err
		}
		pools = []string{p.pool}
	default:
		var names []string
		if p != nil {
			names = []string{p.fsName}
		} else if names, err = sess.Filesystems(ctx); err != nil {
			return 0, err
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
	for _, pool := range pools {
		u, ok := usage[pool]
		if !ok {
			// Seen with Reef 18.2.7: a pool just created is missing from
			// `df` until the mgr has its statistics.
			return 0, fmt.Errorf("%w: no statistics for pool %q yet", contract.ErrUnavailable, pool)
		}
		most = max(most, u.Available())
	}
	return most, nil
}
