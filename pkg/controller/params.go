package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mountopts"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// StorageClass parameter keys (ceph-csi's names, plus mode/uid/gid).
const (
	paramClusterID          = "clusterID"
	paramFSName             = "fsName"
	paramPool               = "pool"
	paramSubvolumeGroup     = "subvolumeGroup"
	paramVolumeNamePrefix   = "volumeNamePrefix"
	paramMounter            = "mounter"
	paramKernelMountOptions = "kernelMountOptions"
	paramFuseMountOptions   = "fuseMountOptions"
	paramMode               = "mode"
	paramUID                = "uid"
	paramGID                = "gid"
	paramBackingSnapshot    = "backingSnapshot"

	// sidecarPrefix marks keys the external-provisioner adds or reads itself.
	sidecarPrefix = "csi.storage.k8s.io/"

	defaultNamePrefix = "csi-vol-"
)

// volumeParams are the validated StorageClass parameters of a CreateVolume.
type volumeParams struct {
	cluster    *config.Cluster
	fsName     string
	pool       string
	group      string
	namePrefix string
	mounter    string
	kernelOpts string
	fuseOpts   string
	mode       int      // 0 = Ceph's default
	uid, gid   int      // -1 = Ceph's default
	ignored    []string // ceph-csi keys accepted without effect (logged)
	// backingSnapshot: nil = shallow when the request allows it (shallow.go).
	backingSnapshot *bool
}

// parseParams validates the parameters in one pass. Every key ceph-csi
// documents is accepted (cephcsiparams.go lists those without effect here);
// any other is an error naming it, so that a typo never silently changes a
// volume.
func parseParams(params map[string]string, cfg *config.Config) (*volumeParams, error) {
	p := &volumeParams{namePrefix: defaultNamePrefix, uid: -1, gid: -1}
	var clusterID string
	var encrypted bool
	for k, v := range params {
		var err error
		switch k {
		case paramClusterID:
			clusterID = v
		case paramFSName:
			p.fsName = v
		case paramPool:
			p.pool = v
		case paramSubvolumeGroup:
			p.group = v
		case paramVolumeNamePrefix:
			p.namePrefix = v
		case paramMounter:
			p.mounter, err = v, contract.CheckMounter(v)
		case paramKernelMountOptions:
			p.kernelOpts, err = v, mountopts.Validate(v)
		case paramFuseMountOptions:
			p.fuseOpts, err = v, mountopts.Validate(v)
		case paramMode:
			p.mode, err = parseMode(v)
		case paramUID:
			p.uid, err = parseID(v)
		case paramGID:
			p.gid, err = parseID(v)
		case paramEncrypted:
			var on *bool
			if on, err = parseBool(v); err == nil {
				encrypted = *on
			}
		case paramEncryptionKMSID, paramEncryptionType:
			// Meaningful only with encryption on, which is refused below.
		case paramBackingSnapshot:
			p.backingSnapshot, err = parseBool(v)
		default:
			if reason, ok := ignoredParams[k]; ok {
				p.ignored = append(p.ignored, k+": "+reason)
			} else if !strings.HasPrefix(k, sidecarPrefix) {
				return nil, contract.Invalid("unknown parameter %q", k)
			}
		}
		if err != nil {
			return nil, contract.Invalid("parameter %s=%q: %v", k, v, err)
		}
	}
	if encrypted {
		return nil, refuseEncryption(params)
	}
	slices.Sort(p.ignored)
	if clusterID == "" {
		return nil, contract.Invalid("parameter %q is required", paramClusterID)
	}
	if p.fsName == "" {
		return nil, contract.Invalid("parameter %q is required", paramFSName)
	}
	cluster, err := cfg.Cluster(clusterID)
	if err != nil {
		return nil, contract.Invalid("parameter %s: %v", paramClusterID, err)
	}
	p.cluster = cluster
	if p.group == "" {
		p.group = cluster.SubvolumeGroup()
	}
	for name, v := range map[string]string{paramFSName: p.fsName, paramSubvolumeGroup: p.group} {
		if !volumeid.ValidName(v) {
			return nil, contract.Invalid("parameter %s=%q: must be printable ASCII without ':' or '/'", name, v)
		}
	}
	if p.namePrefix != "" && !volumeid.ValidName(p.namePrefix) {
		return nil, contract.Invalid("parameter %s=%q: must be printable ASCII without ':' or '/'", paramVolumeNamePrefix, p.namePrefix)
	}
	if p.pool != "" && !volumeid.ValidName(p.pool) {
		return nil, contract.Invalid("parameter %s=%q: not a pool name", paramPool, p.pool)
	}
	return p, nil
}

func parseMode(v string) (int, error) {
	m, err := strconv.ParseUint(v, 8, 32)
	if err != nil || m == 0 || m > 0o7777 {
		return 0, fmt.Errorf("want an octal mode between 1 and 7777, such as 0775")
	}
	return int(m), nil
}

func parseBool(v string) (*bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("want \"true\" or \"false\"")
	}
	return &b, nil
}

func parseID(v string) (int, error) {
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("want a non-negative decimal number")
	}
	return int(n), nil
}
