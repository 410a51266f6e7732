#!/usr/bin/env bash
# Writes a cluster config (ceph-csi's config.json format) and a CSI secrets
# file for the embedded cluster in CLUSTER_DIR into RUN_DIR.
#   hack/run-config.sh CLUSTER_DIR RUN_DIR
set -euo pipefail
cluster_dir=${1:?cluster dir}
run_dir=${2:?run dir}
here=$(cd "$(dirname "$0")" && pwd)

eval "$("$here/cluster.sh" env "$cluster_dir")"
mkdir -p "$run_dir"
chmod 0700 "$run_dir"
umask 077
cat >"$run_dir/config.json" <<JSON
[{"clusterID": "embedded", "monitors": ["$CEPH_MON"], "cephFS": {"subvolumeGroup": "$CEPH_GROUP"}}]
JSON
# csi-sanity's --csi.secrets format: one map per RPC family.
{
	for rpc in CreateVolumeSecret DeleteVolumeSecret ControllerPublishVolumeSecret ControllerUnpublishVolumeSecret \
		ControllerValidateVolumeCapabilitiesSecret NodeStageVolumeSecret NodePublishVolumeSecret \
		CreateSnapshotSecret DeleteSnapshotSecret ListSnapshotsSecret ControllerExpandVolumeSecret NodeExpandVolumeSecret; do
		printf '%s:\n  adminID: admin\n  adminKey: %s\n' "$rpc" "$CEPH_ADMIN_KEY"
	done
} >"$run_dir/secrets.yaml"
printf 'clusterID: embedded\nfsName: %s\n' "$CEPH_FS" >"$run_dir/parameters.yaml"
