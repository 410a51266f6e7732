package controller

import (
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// ceph-csi's StorageClass keys (v3.12 to v3.15: docs/cephfs/deploy.md,
// examples/cephfs/storageclass.yaml, the Helm chart, and what
// internal/cephfs/store reads) that this driver accepts without acting on
// them, each with the reason it is harmless here. A class written for
// ceph-csi therefore provisions unchanged; README.md lists the same keys.
var ignoredParams = map[string]string{
	// Read by ceph-csi from the VolumeSnapshotClass only, although its
	// StorageClass table lists it.
	"snapshotNamePrefix": "takes effect in the VolumeSnapshotClass",
	// ceph-csi's cluster config (cephFS.netNamespaceFilePath) and flags
	// carry these; a class may repeat them. Without them, the node mounts
	// in its own network namespace and reads from primary OSDs.
	"netNamespaceFilePath": "mounts run in the node plugin's network namespace",
	"readAffinity":         "reads go to primary OSDs",
	"crushLocationLabels":  "reads go to primary OSDs",
	// A Helm chart value listed in ceph-csi's parameter table.
	"extraDeploy": "a Helm value, meaningless to a driver",
	// Deprecated secret keys that csi-provisioner reads and, unlike the
	// csi.storage.k8s.io/ ones, passes on to CreateVolume.
	"csiProvisionerSecretName":            "read by csi-provisioner",
	"csiProvisionerSecretNamespace":       "read by csi-provisioner",
	"csiControllerPublishSecretName":      "read by csi-provisioner",
	"csiControllerPublishSecretNamespace": "read by csi-provisioner",
	"csiNodeStageSecretName":              "read by csi-provisioner",
	"csiNodeStageSecretNamespace":         "read by csi-provisioner",
	"csiNodePublishSecretName":            "read by csi-provisioner",
	"csiNodePublishSecretNamespace":       "read by csi-provisioner",
}

// Encryption keys: ceph-csi encrypts with fscrypt when encrypted is true,
// with the passphrase from the KMS that encryptionKMSID names (of the type
// encryptionType, "file" for CephFS). This driver has no fscrypt support,
// so it accepts the keys only with encryption off.
const (
	paramEncrypted       = "encrypted"
	paramEncryptionKMSID = "encryptionKMSID"
	paramEncryptionType  = "encryptionType"
)

// refuseEncryption explains why a class that asks for encryption cannot be
// served: a volume provisioned anyway would hold the data in clear.
func refuseEncryption(params map[string]string) error {
	msg := "parameter %s=%q: encrypted volumes (ceph-csi's fscrypt) are not supported by this driver, " +
		"and a volume made without encryption would store the data in clear; use a StorageClass without it"
	if kms, ok := params[paramEncryptionKMSID]; ok {
		return contract.Invalid(msg+" (and without %s=%q)", paramEncrypted, params[paramEncrypted], paramEncryptionKMSID, kms)
	}
	return contract.Invalid(msg, paramEncrypted, params[paramEncrypted])
}
