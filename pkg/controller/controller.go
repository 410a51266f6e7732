// Package controller implements the CSI Controller service: CephFS subvolumes
// as volumes, through the mgr volumes module.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/locks"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// Server is the Controller service.
type Server struct {
	csi.UnimplementedControllerServer
	cfg      *config.Config
	connect  Connector
	opts     Options
	inFlight *locks.InFlight
	// snapSizes: the sizes of ceph-csi's snapshots (snapsize.go).
	snapSizes snapshotSizes
}

// Options are the controller's settings.
type Options struct {
	// SetMetadata records the Kubernetes names the sidecars pass
	// (--extra-create-metadata) on subvolumes and snapshots (metadata.go).
	SetMetadata bool
	// ClusterName, when set with SetMetadata, is recorded on every
	// subvolume and snapshot under ceph-csi's key csi.ceph.com/cluster/name.
	ClusterName string
	// SecretDir is a mounted Secret holding the controller's own CephX
	// credential (owncreds.go), for the RPCs that carry no secrets:
	// ListVolumes, ControllerGetVolume and GetCapacity. Empty, or holding
	// no credential (an optional Secret that is absent): those are not
	// advertised.
	SecretDir string
}

// New returns a Controller service for the clusters in cfg.
func New(cfg *config.Config, connect Connector, opts Options) *Server {
	return &Server{cfg: cfg, connect: connect, opts: opts, inFlight: locks.New()}
}

var capabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
}

// ownCapabilities are what the controller's own credential makes possible.
var ownCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_GET_VOLUME,
	csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
	csi.ControllerServiceCapability_RPC_GET_CAPACITY,
}

// ControllerGetCapabilities lists what this controller does.
func (s *Server) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	resp := &csi.ControllerGetCapabilitiesResponse{}
	caps := capabilities
	if s.hasOwnCredential() {
		caps = append(slices.Clip(caps), ownCapabilities...)
	}
	for _, c := range caps {
		resp.Capabilities = append(resp.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}},
		})
	}
	return resp, nil
}

// open connects to the cluster an ID names, with the request's secrets. A
// cluster missing from the config is FailedPrecondition: the object may well
// exist, this driver cannot reach it.
func (s *Server) open(ctx context.Context, clusterID string, secrets map[string]string) (Session, *config.Cluster, error) {
	cluster, err := s.cfg.Cluster(clusterID)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: object of cluster %q: %w", contract.ErrFailedPrecondition, clusterID, err)
	}
	sess, err := s.connectTo(ctx, cluster, secrets)
	return sess, cluster, err
}

func (s *Server) connectTo(ctx context.Context, cluster *config.Cluster, secrets map[string]string) (Session, error) {
	creds, err := contract.CredentialsFromSecrets(secrets, true)
	if err != nil {
		return nil, err
	}
	return s.connect(ctx, cluster, creds)
}

// lock claims a subvolume for the duration of one operation.
func (s *Server) lock(vol volumeid.Volume) (func(), error) {
	return s.inFlight.Acquire(vol.ClusterID + "/" + vol.FSName + "/" + vol.Group + "/" + vol.Subvolume)
}

// lockSnapshot claims a snapshot name in a filesystem: snapshot names are
// unique per filesystem (see snapshot.go).
func (s *Server) lockSnapshot(snap volumeid.Snapshot) (func(), error) {
	return s.inFlight.Acquire("snapshot:" + snap.ClusterID + "/" + snap.FSName + "/" + snap.Name)
}

// ValidateVolumeCapabilities confirms every file-system capability on an
// existing volume.
func (s *Server) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, contract.Invalid("volume ID is required")
	}
	if err := validateCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if sh, err := volumeid.DecodeShallow(req.GetVolumeId()); err == nil {
		return s.validateShallow(ctx, sh, req)
	}
	sess, ref, err := s.openAnyVolume(ctx, req.GetVolumeId(), req.GetSecrets())
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	if ref.shallow() {
		if !readOnlyCapabilities(req.GetVolumeCapabilities()) {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: "a shallow volume is a read-only snapshot: only reader-only access modes are supported"}, nil
		}
	} else if _, err := existing(ctx, sess, ref.Volume); err != nil {
		return nil, err
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// existing returns a live subvolume; a subvolume deleted with its snapshots
// retained counts as gone.
func existing(ctx context.Context, svs Subvolumes, vol volumeid.Volume) (*ceph.Subvolume, error) {
	sv, err := svs.SubvolumeInfo(ctx, vol.FSName, vol.Group, vol.Subvolume)
	if err == nil && sv.Retained {
		err = fmt.Errorf("subvolume %s/%s/%s was deleted: %w", vol.FSName, vol.Group, vol.Subvolume, contract.ErrNotFound)
	}
	if errors.Is(err, contract.ErrNotFound) {
		klog.FromContext(ctx).V(4).Info("Volume does not exist", "subvolume", vol.Subvolume)
	}
	return sv, err
}
