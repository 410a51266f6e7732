package clusterdesc

import (
	"fmt"
	"strings"
)

// secretSections are the sections of a csi-sanity secrets file, one per
// RPC that may carry secrets (csi-sanity's --csi.secrets; hack/csic reads
// the same file).
var secretSections = []string{
	"CreateVolumeSecret", "DeleteVolumeSecret", "ControllerPublishVolumeSecret", "ControllerUnpublishVolumeSecret",
	"ControllerValidateVolumeCapabilitiesSecret", "NodeStageVolumeSecret", "NodePublishVolumeSecret",
	"CreateSnapshotSecret", "DeleteSnapshotSecret", "ListSnapshotsSecret", "GetSnapshotSecret",
	"ControllerExpandVolumeSecret", "NodeExpandVolumeSecret", "ControllerModifyVolumeSecret",
}

// SecretsFile is a csi-sanity secrets file giving every RPC the admin
// credentials: a test cluster's whole-access key, never a user's.
func SecretsFile(adminKey string) string {
	var b strings.Builder
	for _, s := range secretSections {
		fmt.Fprintf(&b, "%s:\n  adminID: admin\n  adminKey: %s\n", s, adminKey)
	}
	return b.String()
}
