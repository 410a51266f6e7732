#!/usr/bin/env bash
# Installs the Debian packages the driver builds and runs with (Ceph Pacific
# from Debian 12: client, daemons for the embedded cluster, and the headers
# go-ceph compiles against) and shellcheck, which `make lint` runs on the
# scripts. Does nothing when everything is present.
set -euo pipefail

# containerd, runc, the CNI plugins and busybox-static: the kubelet e2e
# (make e2e-kubelet) runs pods with them.
PACKAGES=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common libcephfs-dev librados-dev shellcheck
	containerd runc containernetworking-plugins busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
	echo "install-deps: missing packages ${missing[*]}; run as root or install them with apt-get" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
