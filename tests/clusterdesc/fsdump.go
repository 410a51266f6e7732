package clusterdesc

import (
	"encoding/json"
	"fmt"
)

// FilesystemID returns the ID (fscid) of filesystem fs from the output of
// `ceph fs dump --format=json`: what ceph-csi writes as the location in its
// volume handles, which tests that make ceph-csi's volumes need.
func FilesystemID(fsDump []byte, fs string) (int64, error) {
	var dump struct {
		Filesystems []struct {
			ID     int64 `json:"id"`
			MDSMap struct {
				FSName string `json:"fs_name"`
			} `json:"mdsmap"`
		} `json:"filesystems"`
	}
	if err := json.Unmarshal(fsDump, &dump); err != nil {
		return 0, fmt.Errorf("fs dump: %w", err)
	}
	for _, f := range dump.Filesystems {
		if f.MDSMap.FSName == fs {
			return f.ID, nil
		}
	}
	return 0, fmt.Errorf("fs dump: no filesystem %q", fs)
}
