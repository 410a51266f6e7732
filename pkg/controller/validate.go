package controller

import (
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
	// quotaUnit: CephFS statfs reports a quota that is not a multiple of
	// 4 MiB wrongly, so every size is rounded up to one.
	quotaUnit = 4 * mib
	// DefaultSize is the quota of a volume requested with no capacity.
	DefaultSize = 1 * gib
)

// validateCapabilities accepts mount access with any access mode and refuses
// block access, which CephFS cannot offer.
func validateCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return contract.Invalid("volume capabilities are required")
	}
	for _, c := range caps {
		if c.GetBlock() != nil {
			return contract.Invalid("block access is not supported: CephFS volumes are file systems")
		}
		if c.GetMount() == nil {
			return contract.Invalid("volume capability needs an access type (mount)")
		}
		if c.GetAccessMode() == nil || c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN {
			return contract.Invalid("volume capability needs an access mode")
		}
	}
	return nil
}

// quotaFor picks the quota for a capacity range: the required bytes rounded
// up to 4 MiB, DefaultSize when nothing is required (capped by the limit).
func quotaFor(r *csi.CapacityRange) (int64, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, contract.Invalid("capacity range: negative bytes")
	}
	if lim > 0 && req > lim {
		return 0, contract.Invalid("capacity range: required bytes %d exceed limit bytes %d", req, lim)
	}
	size := req
	if size == 0 {
		size = DefaultSize
		if lim > 0 && lim < size {
			size = lim / quotaUnit * quotaUnit
			if size == 0 {
				return 0, outOfRange("limit bytes %d are below the %d-byte quota unit", lim, quotaUnit)
			}
			return size, nil
		}
	}
	size = (size + quotaUnit - 1) / quotaUnit * quotaUnit
	if lim > 0 && size > lim {
		return 0, outOfRange("required %d bytes round up to %d (a multiple of 4 MiB), above the limit of %d", req, size, lim)
	}
	return size, nil
}

func outOfRange(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{contract.ErrOutOfRange}, args...)...)
}
