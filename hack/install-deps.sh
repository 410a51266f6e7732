#!/usr/bin/env bash
# Installs the Debian packages the driver builds and runs with (Ceph Pacific
# from Debian 12: client, daemons for the embedded cluster, and the headers
# go-ceph compiles against) and shellcheck, which `make lint` runs on the
# scripts. Does nothing when everything is present.
set -euo pipefail

# containerd, runc, the CNI plugins and busybox-static: the kubelet e2e
# (make e2e-kubelet) runs pods with them; busybox-static is the kernel
# e2e's initramfs too.
PACKAGES=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common libcephfs-dev librados-dev shellcheck
	containerd runc containernetworking-plugins busybox-static)
# Installed without their recommendations: QEMU for the kernel e2e (make
# e2e-kernel, hack/kernel-vm.sh) would otherwise bring a GTK front end and
# firmware it does not use. PostgreSQL 15 (/usr/lib/postgresql/15/bin) for the
# seed's own workload, pgbench through an MDS failover (tests/seed,
# TestMDSFailoverPostgres), which runs its own server on a volume: the
# package's default cluster (15/main) is not used.
LEAN_PACKAGES=(qemu-system-x86 postgresql-15)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
	done
}

mapfile -t full < <(missing "${PACKAGES[@]}")
mapfile -t lean < <(missing "${LEAN_PACKAGES[@]}")
[[ ${#full[@]} -eq 0 && ${#lean[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
	echo "install-deps: missing packages ${full[*]} ${lean[*]}; run as root or install them with apt-get" >&2
	exit 1
fi
echo "install-deps: installing ${full[*]} ${lean[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
[[ ${#full[@]} -eq 0 ]] || apt-get install -y -qq "${full[@]}" >/dev/null
[[ ${#lean[@]} -eq 0 ]] || apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
