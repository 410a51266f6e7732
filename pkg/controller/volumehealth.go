package controller

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// ControllerGetVolumeHealth reports a volume's adverse condition as the
// controller's own credential sees it in Ceph (health.go): no entry when
// none is known. NotFound as ControllerGetVolume.
func (s *Server) ControllerGetVolumeHealth(ctx context.Context, req *csi.ControllerGetVolumeHealthRequest) (*csi.ControllerGetVolumeHealthResponse, error) {
	_, cond, err := s.volumeInfo(ctx, req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	return &csi.ControllerGetVolumeHealthResponse{VolumeHealth: volumeHealth(req.GetVolumeId(), cond)}, nil
}

// ControllerListVolumeHealth lists the volumes with an adverse condition,
// paging through all volumes as ListVolumes does: a page holds at most
// max_entries entries, fewer when some of its volumes are well.
func (s *Server) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	page, next, err := s.listPage(ctx, req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ControllerListVolumeHealthResponse{NextToken: next}
	for _, v := range page {
		if v.cond != nil {
			resp.Entries = append(resp.Entries, volumeHealth(v.id, v.cond))
		}
	}
	return resp, nil
}

func volumeHealth(id string, cond *condition) *csi.VolumeHealth {
	vh := &csi.VolumeHealth{VolumeId: id}
	if cond != nil {
		vh.HealthStatuses = []*csi.VolumeHealth_VolumeHealthEntry{cond}
	}
	return vh
}
