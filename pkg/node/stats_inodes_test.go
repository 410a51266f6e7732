package node

import (
	"math"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

func TestInodeUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		files, ffree           uint64
		total, available, used int64
	}{
		// ceph-fuse on a volume with a file and a directory: no limit.
		{"no limit", 2, math.MaxUint64, 0, 0, 2},
		{"limit", 1000, 990, 1000, 990, 10},
		{"full", 10, 0, 10, 0, 10},
		// More free than exist: not a count of the volume's.
		{"inconsistent", 5, 7, 0, 0, 5},
		{"huge", math.MaxUint64 - 1, math.MaxUint64, 0, 0, math.MaxInt64},
	} {
		u := inodeUsage(tc.files, tc.ffree)
		if u.GetUnit() != csi.VolumeUsage_INODES || u.GetTotal() != tc.total || u.GetAvailable() != tc.available || u.GetUsed() != tc.used {
			t.Errorf("%s: inodeUsage(%d, %d) = %v; want total %d, available %d, used %d",
				tc.name, tc.files, tc.ffree, u, tc.total, tc.available, tc.used)
		}
		if u.GetTotal() < 0 || u.GetAvailable() < 0 || u.GetUsed() < 0 {
			t.Errorf("%s: negative count in %v", tc.name, u)
		}
	}
}
