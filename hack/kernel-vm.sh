#!/usr/bin/env bash
# hack/kernel-vm.sh - run a program in a small qemu VM under Debian 12's kernel,
# which has the CephFS kernel client this machine's kernel lacks.
#
# Usage: hack/kernel-vm.sh prepare
#            fetch (or reuse) the kernel and build (or reuse) the initramfs;
#            prints KERNEL=, INITRD= and KVER= lines
#        hack/kernel-vm.sh net-up NS --bridge BR --address CIDR --tap TAP
#            network namespace NS with bridge BR (address CIDR) and tap TAP on it
#        hack/kernel-vm.sh net-down NS
#            delete NS, its bridge and its tap (nothing to do if NS is gone)
#        hack/kernel-vm.sh boot --netns NS --tap TAP --guest-ip CIDR --gateway IP
#                --share DIR [--memory MiB] [--cpus N] [--console FILE]
#                [--timeout SECONDS] [--tmpfs PATH]... [--env NAME=VALUE]...
#                -- PROGRAM [ARG]...
#            boot a VM on TAP (in NS) and run PROGRAM chrooted into the host's
#            root (read-only; DIR read-write at the same path; tmpfs on /tmp,
#            /var/tmp, /run, /var/log and each --tmpfs PATH); exits with
#            PROGRAM's status, 124 on --timeout, 125 if the guest gave none.
#            The console (kernel and PROGRAM's output) goes to FILE (default
#            DIR/console.log), the guest's dmesg to DIR/guest-dmesg.log.
#
# The kernel and initramfs live in $CEPHFS_CSI_CACHE/kernel/PACKAGE_VERSION_KEY
# (default /var/cache/cephfs-csi), PACKAGE being what linux-image-amd64
# depends on, KEY a hash of this script and busybox; other directories are
# removed once a new one is built (unless a VM uses them). Cold: about 10 s.
# Run as root. VM_ACCEL=kvm uses KVM (-cpu host) instead of TCG emulation;
# unverified: the development machines' /dev/kvm is PVM, which cannot run a
# stock kernel (qemu aborts or the guest hangs).

set -euo pipefail

readonly PROG="${0##*/}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
readonly REPO
readonly SELF="$REPO/hack/$PROG"
# shellcheck source=hack/lib/debian-root.sh
source "$REPO/hack/lib/debian-root.sh"
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}"
readonly KDIR="$CACHE/kernel"
readonly META_PACKAGE=linux-image-amd64
# The modules the guest loads at boot; their dependencies (modules.dep) and
# pre-soft-dependencies (libcrc32c's "crc32c", resolved through
# modules.alias) come along. ceph: the CephFS client; fuse: ceph-fuse (the
# driver's auto mounter falls back to it); virtio_pci, virtio_net, 9p,
# 9pnet_virtio: the NIC and the shared directories; gcm, ctr, ghash-generic:
# what ms_mode=secure asks the crypto API for (AES, CBC, HMAC and SHA-256
# are built in).
readonly MODULES=(virtio_pci virtio_net 9pnet_virtio 9p ceph fuse gcm ctr ghash_generic)
readonly QEMU=qemu-system-x86_64
readonly BUSYBOX=/bin/busybox
readonly MARKER=complete
readonly LOCK_WAIT=3600 # seconds a caller waits for another one's build
# The guest's PATH inside the chroot (the host root's).
readonly GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly NAME_RE='^[A-Za-z0-9_.-]+$'
readonly IFNAME_RE='^[A-Za-z0-9_.-]{1,15}$'
readonly IPV4_RE='^([0-9]{1,3}[.]){3}[0-9]{1,3}$'
readonly CIDR_RE='^([0-9]{1,3}[.]){3}[0-9]{1,3}/[0-9]{1,2}$'
# Paths given to the guest on the kernel command line or to qemu.
readonly PATH_RE='^/[A-Za-z0-9_./+@:-]*$'

# Set by resolve_package / set_dir.
PACKAGE="" PKG_VERSION="" KEY="" DIR="" STEP_LOG=""
# The build's temporary directory, for the EXIT trap.
TMP_DIR=""
# Module resolution (build): module name -> its path in the package's
# modules directory / the paths it depends on / required or optional.
declare -A MOD_PATH=() MOD_DEPS=() MOD_KIND=() BUILTIN=()
ORDER=()

usage() {
	sed -n '2,29p' "$SELF" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

need_root() {
	[[ "$(id -u)" -eq 0 ]] || die "run as root"
}

# apt_install PACKAGE...: install with apt-get, updating the lists once if
# the first attempt fails; waits for a concurrent apt.
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	log "installing $*"
	{ apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" ||
		{ apt-get -q -o DPkg::Lock::Timeout=600 update &&
			apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@"; }; } >&2 ||
		die "could not install $*"
}

# ensure_tools: qemu and a static busybox (the initramfs's only binary).
ensure_tools() {
	local missing=()
	command -v "$QEMU" >/dev/null || missing+=(qemu-system-x86)
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
		missing+=(busybox-static)
	((${#missing[@]} == 0)) || apt_install "${missing[@]}"
	[[ -x "$BUSYBOX" ]] || die "$BUSYBOX is missing"
}

# ---------------------------------------------------------------------------
# the kernel package and its cache directory

# resolve_package: PACKAGE and PKG_VERSION, the kernel image that
# linux-image-amd64 depends on (the name changes with the kernel's ABI).
resolve_package() {
	local dep
	dep=$(apt-cache show --no-all-versions "$META_PACKAGE" 2>/dev/null | sed -n 's/^Depends: //p') || dep=""
	if [[ -z "$dep" ]]; then
		log "apt knows no $META_PACKAGE; updating the package lists"
		apt-get -q -o DPkg::Lock::Timeout=600 update >&2 || die "apt-get update failed"
		dep=$(apt-cache show --no-all-versions "$META_PACKAGE" | sed -n 's/^Depends: //p') ||
			die "apt knows no $META_PACKAGE"
	fi
	dep=${dep%%$'\n'*}
	[[ "$dep" =~ ^(linux-image-[A-Za-z0-9.+-]+)\ \(=\ ([A-Za-z0-9.+~:-]+)\) ]] ||
		die "cannot read the kernel package from $META_PACKAGE's 'Depends: $dep'"
	PACKAGE=${BASH_REMATCH[1]}
	PKG_VERSION=${BASH_REMATCH[2]}
}

# recipe: everything that defines a kernel directory: the package, this
# script (the /init it writes, the module list, how modules are resolved)
# and busybox. Its hash names the directory, so a change rebuilds (10 s)
# instead of reusing.
recipe() {
	printf 'package=%s=%s\n' "$PACKAGE" "$PKG_VERSION"
	printf 'module=%s\n' "${MODULES[@]}"
	printf 'script-sha256=%s\n' "$(sha256sum <"$SELF" | cut -d' ' -f1)"
	printf 'busybox-sha256=%s\n' "$(sha256sum <"$BUSYBOX" | cut -d' ' -f1)"
}

set_dir() {
	resolve_package
	KEY=$(recipe | sha256sum | cut -c1-12)
	# The key in the name: checkouts with different recipes do not fight
	# over one directory (each prune removes the other's unless in use).
	DIR="$KDIR/${PACKAGE}_${PKG_VERSION//:/%}_$KEY"
	STEP_LOG="$DIR.build.log"
}

# complete: DIR was fully built for KEY (the marker, written last, says so).
complete() {
	[[ -d "$DIR" ]] || return 1
	[[ "$(cat "$DIR/$MARKER" 2>/dev/null)" == "$KEY" ]] || { log "$DIR is partial or outdated"; return 1; }
	local f
	for f in vmlinuz initramfs.cpio.gz kver; do
		[[ -s "$DIR/$f" ]] || { log "$DIR lacks $f"; return 1; }
	done
}

# lock_in_use D MODE: open D's use lock on fd 8 and take it shared (boot,
# for as long as the VM runs) or exclusive without waiting (before removing
# D: fails if a VM uses it).
lock_in_use() {
	exec 8>"$1.lock"
	if [[ "$2" == shared ]]; then
		flock -s -w "$LOCK_WAIT" 8
	else
		flock -x -n 8
	fi
}

# discard D: remove D unless a VM still uses it.
discard() {
	if ! lock_in_use "$1" exclusive; then
		exec 8>&-
		log "keeping $1: a VM uses it"
		return 1
	fi
	log "removing $1"
	rm -rf --one-file-system -- "$1"
	rm -f -- "$1.build.log" "$1.lock"
	exec 8>&-
}

# prune: remove the directories of other kernel versions.
prune() {
	local d
	for d in "$KDIR"/*_*; do
		[[ -d "$d" && "$d" != "$DIR" ]] || continue
		discard "$d" || true # kept while in use; removed by a later prune
	done
}

# ---------------------------------------------------------------------------
# module resolution (build steps: errexit is off, hence the explicit returns)

# module_name PATH: the module's name (dashes become underscores, as the
# kernel does).
module_name() {
	local b=${1##*/}
	b=${b%%.ko*}
	echo "${b//-/_}"
}

# read_modules_dep MODDIR: MOD_PATH, MOD_DEPS and BUILTIN from MODDIR's
# modules.dep and modules.builtin.
read_modules_dep() {
	local line path name b
	while IFS= read -r line; do
		path=${line%%:*}
		b=${path##*/}
		b=${b%%.ko*}
		name=${b//-/_}
		MOD_PATH[$name]=$path
		MOD_DEPS[$name]=${line#*:}
	done <"$1/modules.dep" || return 1
	while IFS= read -r path; do
		b=${path##*/}
		b=${b%%.ko*}
		BUILTIN[${b//-/_}]=1
	done <"$1/modules.builtin" || return 1
	((${#MOD_PATH[@]} > 0))
}

# soft_pre KO: the module names or aliases KO wants loaded before it (its
# modinfo "softdep=pre: ..."; the fields of .modinfo are NUL-terminated).
soft_pre() {
	local s w pre=false
	# (no grep -m1: tr would die of SIGPIPE, and pipefail hide the match)
	s=$(tr '\0' '\n' <"$1" | grep -a '^softdep=') || return 0
	for w in ${s#softdep=}; do
		case "$w" in
		pre:) pre=true ;;
		post:) pre=false ;;
		*) [[ "$pre" != true ]] || echo "$w" ;;
		esac
	done
}

# resolve_alias MODDIR NAME: the modules NAME stands for: itself if it is a
# module, else every module with exactly that alias.
resolve_alias() {
	local n=${2//-/_}
	if [[ -n "${MOD_PATH[$n]:-}" || -n "${BUILTIN[$n]:-}" ]]; then
		echo "$n"
		return 0
	fi
	awk -v a="$2" '$1 == "alias" && $2 == a { print $3 }' "$1/modules.alias" | tr - _ | sort -u
}

# copy_module SRC DST: copy a module, decompressed: the guest's busybox
# insmod is not trusted with .ko.xz/.ko.zst, and the package may compress.
copy_module() {
	mkdir -p "$(dirname "$2")" || return 1
	case "$1" in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -q -dc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) echo "unknown module format: $1"; return 1 ;;
	esac
}

# visit SRCDIR DSTDIR NAME KIND: copy module NAME and what it needs from
# SRCDIR (the package's modules) into DSTDIR, appending them to ORDER in
# load order (its soft pre-dependencies, its dependencies, then itself).
# KIND is "required" or "optional" (soft dependencies: a guest CPU may lack
# what crc32c-intel needs; crc32c_generic serves then).
visit() {
	local src=$1 dst=$2 name=$3 kind=$4 path rel a m dep
	if [[ -n "${MOD_KIND[$name]:-}" ]]; then
		[[ "$kind" != required ]] || MOD_KIND[$name]=required
		return 0
	fi
	if [[ -n "${BUILTIN[$name]:-}" ]]; then
		echo "module $name: built in"
		MOD_KIND[$name]=builtin
		return 0
	fi
	path=${MOD_PATH[$name]:-}
	[[ -n "$path" ]] || { echo "module $name: not in $src/modules.dep"; return 1; }
	MOD_KIND[$name]=$kind
	rel=${path%.ko*}.ko
	copy_module "$src/$path" "$dst/$rel" || return 1
	for a in $(soft_pre "$dst/$rel"); do
		m=$(resolve_alias "$src" "$a") || return 1
		[[ -n "$m" ]] || { echo "module $name: soft dependency $a matches no module"; continue; }
		for m in $m; do
			visit "$src" "$dst" "$m" optional || return 1
		done
	done
	for dep in ${MOD_DEPS[$name]}; do
		visit "$src" "$dst" "$(module_name "$dep")" "$kind" || return 1
	done
	ORDER+=("$name")
}

# resolve_modules SRCDIR DSTDIR LIST: copy MODULES and their dependencies
# from SRCDIR to DSTDIR; write the load order ("PATH required|optional"
# lines, PATH relative to DSTDIR) to LIST.
resolve_modules() {
	local src=$1 dst=$2 list=$3 name
	if [[ ! -s "$src/modules.dep" ]]; then
		# The package ships no modules.dep (its postinst runs depmod).
		echo "generating $src/modules.dep with busybox depmod"
		"$BUSYBOX" depmod -b "${src%/lib/modules/*}" "${src##*/}" || return 1
	fi
	read_modules_dep "$src" || { echo "cannot read $src/modules.dep"; return 1; }
	for name in "${MODULES[@]}"; do
		visit "$src" "$dst" "$name" required || return 1
	done
	: >"$list" || return 1
	for name in "${ORDER[@]}"; do
		echo "${MOD_PATH[$name]%.ko*}.ko ${MOD_KIND[$name]}" >>"$list" || return 1
	done
	cat "$list"
}

# ---------------------------------------------------------------------------
# the initramfs

# init_script: the guest's /init. Settings come from the kernel command
# line (vm_ip, vm_gw, vm_share, vm_hostname, vm_tmpfs: the kernel gives
# unknown name=value parameters to init as environment variables); the
# program from $vm_share/.vm-command, a shell script boot writes.
init_script() {
	cat <<'EOF'
#!/bin/busybox sh
# /init of the VMs of cephfs-csi's hack/kernel-vm.sh (generated by its prepare).
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
say() { echo "vm-init: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
halt_now() {
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
	exit 1 # init exits: the kernel panics, panic=-1 reboots, -no-reboot ends qemu
}
fail() {
	say "error: $*"
	halt_now
}
mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts || fail "cannot mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "cannot mount /dev/shm"
# The kernel's own module requests (crypto algorithms, filesystems) run
# this initramfs's busybox modprobe, whatever root the program runs in.
echo /sbin/modprobe >/proc/sys/kernel/modprobe

kver=$(uname -r)
while read -r mod kind; do
	insmod "/lib/modules/$kver/$mod" && continue
	[ "$kind" = optional ] || fail "cannot load $mod"
	say "warning: cannot load $mod (optional)"
done </etc/modules.load

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no eth0"
	usleep 50000
done
ip addr add "$vm_ip" dev eth0 && ip link set eth0 up && ip route add default via "$vm_gw" ||
	fail "cannot configure eth0 ($vm_ip via $vm_gw)"
hostname "$vm_hostname"

# The host's root read-only, tmpfs where programs expect to write, the
# shared directory read-write at its host path.
p9=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$p9,ro,cache=loose" hostroot /host || fail "cannot mount the host's root"
for d in /tmp /var/tmp /run /var/log $(echo "$vm_tmpfs" | tr , ' '); do
	mkdir -p "/host$d" 2>/dev/null
	[ -d "/host$d" ] || fail "cannot make /host$d: its parent is read-only (give it with --tmpfs)"
	mode=1777
	[ "$d" != /run ] || mode=0755
	mount -t tmpfs -o "mode=$mode" tmpfs "/host$d" || fail "cannot mount a tmpfs on $d"
done
mkdir -p /host/run/lock && chmod 1777 /host/run/lock
mkdir -p "/host$vm_share" 2>/dev/null
mount -t 9p -o "$p9,rw,cache=mmap" share "/host$vm_share" || fail "cannot mount the shared directory $vm_share"

# Name resolution that does not wait for a DNS server the VM cannot reach.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' \
	"${vm_ip%/*}" "$vm_hostname" >/etc/vm-hosts
echo "$vm_hostname" >/etc/vm-hostname
: >/etc/vm-resolv.conf
for f in hosts hostname resolv.conf; do
	[ ! -f "/host/etc/$f" ] || mount -o bind "/etc/vm-$f" "/host/etc/$f" || fail "cannot bind /etc/$f"
done
mount -o rbind /dev /host/dev && mount -o bind /proc /host/proc && mount -o rbind /sys /host/sys ||
	fail "cannot bind /dev, /proc and /sys into the host's root"

cmd="$vm_share/.vm-command"
[ -f "/host$cmd" ] || fail "no $cmd"
say "running $cmd at $(uptime_s) s"
chroot /host /usr/bin/env -i PATH="$vm_path" HOME=/root LANG=C.UTF-8 TERM=dumb /bin/sh "$cmd" </dev/null
rc=$?
say "exit status $rc at $(uptime_s) s"
dmesg >"/host$vm_share/guest-dmesg.log"
echo "$rc" >"/host$vm_share/guest-exit" || say "cannot write $vm_share/guest-exit"
halt_now
EOF
}

# build_initramfs PKGROOT KVER TREE OUT: TREE gets busybox, /init and the
# modules of kernel KVER (see resolve_modules); OUT is TREE as a gzipped
# newc cpio.
build_initramfs() {
	local pkg=$1 kver=$2 tree=$3 out=$4 a d
	for d in bin dev proc sys host etc tmp "lib/modules/$kver"; do
		mkdir -p "$tree/$d" || return 1
	done
	ln -s bin "$tree/sbin" || return 1
	cp "$BUSYBOX" "$tree/bin/busybox" || return 1
	for a in $("$BUSYBOX" --list); do
		[[ "$a" == busybox ]] || ln -s busybox "$tree/bin/$a" || return 1
	done
	init_script >"$tree/init" && chmod 0755 "$tree/init" || return 1
	resolve_modules "$pkg/lib/modules/$kver" "$tree/lib/modules/$kver" "$tree/etc/modules.load" || return 1
	cp "$pkg/lib/modules/$kver/modules.builtin" "$pkg/lib/modules/$kver/modules.order" \
		"$tree/lib/modules/$kver/" || return 1
	# modules.dep and modules.alias of the copied modules, for the guest's modprobe
	"$BUSYBOX" depmod -b "$tree" "$kver" || return 1
	(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0) |
		gzip -6 >"$out" || return 1
	gzip -t "$out"
}

# fetch_kernel TMP: download PACKAGE=PKG_VERSION into TMP and unpack it into
# TMP/pkg without running its scripts (installing it would pull in ~165
# packages and build an initrd).
fetch_kernel() {
	local tmp=$1 debs kvers
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$PACKAGE=$PKG_VERSION") || return 1
	debs=("$tmp"/*.deb)
	dpkg-deb -x "${debs[0]}" "$tmp/pkg" || return 1
	rm -f -- "${debs[@]}"
	kvers=("$tmp"/pkg/lib/modules/*)
	if ((${#kvers[@]} != 1)) || [[ ! -d "${kvers[0]}" || ! -f "$tmp/pkg/boot/vmlinuz-${kvers[0]##*/}" ]]; then
		echo "unexpected layout of $PACKAGE: ${kvers[*]}"
		return 1
	fi
	echo "${kvers[0]##*/}" >"$tmp/kver"
}

# extract_vmlinux VMLINUZ OUT: the uncompressed kernel (an ELF file) from a
# bzImage, found by its compressor's magic. qemu boots it through its PVH
# entry point, which skips the firmware's real-mode loader and the
# decompression: 3 s less per boot under TCG.
extract_vmlinux() {
	local in=$1 out=$2 spec magic off
	for spec in "xz -dc --single-stream:"$'\xfd''7zXZ' "zstd -q -dc:"$'\x28\xb5\x2f\xfd' "gzip -dc:"$'\x1f\x8b\x08'; do
		magic=${spec#*:}
		while IFS=: read -r off _; do
			# gzip and zstd complain about the bytes after the stream: the
			# result's ELF header tells.
			tail -c "+$((off + 1))" "$in" | ${spec%%:*} >"$out" 2>/dev/null
			if [[ "$(head -c 4 "$out")" == $'\x7f'ELF ]]; then
				echo "vmlinux: ${spec%% *} stream at offset $off of ${in##*/}"
				return 0
			fi
		done < <(LC_ALL=C grep -aobF -- "$magic" "$in")
	done
	rm -f -- "$out"
	echo "found no compressed ELF kernel in $in; booting the bzImage"
}

# collect TMP KVER: the cache directory's files (TMP/out), from TMP's build.
collect() {
	local tmp=$1 kver=$2
	mkdir "$tmp/out" "$tmp/out/modules" || return 1
	cp "$tmp/pkg/boot/vmlinuz-$kver" "$tmp/out/vmlinuz" || return 1
	extract_vmlinux "$tmp/out/vmlinuz" "$tmp/out/vmlinux" || return 1
	cp "$tmp/pkg/boot/config-$kver" "$tmp/out/config" || return 1
	cp -a "$tmp/initramfs/lib/modules/$kver" "$tmp/out/modules/" || return 1
	cp "$tmp/initramfs/etc/modules.load" "$tmp/initramfs/init" "$tmp/out/" || return 1
	echo "$kver" >"$tmp/out/kver" || return 1
	recipe >"$tmp/out/recipe"
}

on_build_exit() {
	local rc=$?
	[[ -z "$TMP_DIR" ]] || rm -rf --one-file-system -- "$TMP_DIR"
	((rc == 0)) || log "preparing the kernel failed; log: $STEP_LOG" 2>&7
	exit "$rc"
}

build() {
	local start=$SECONDS kver
	: >"$STEP_LOG"
	exec 7>&2
	TMP_DIR=$(mktemp -d "$KDIR/.build.XXXXXX")
	trap on_build_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	log "preparing $PACKAGE $PKG_VERSION in $DIR (log: $STEP_LOG)"
	step "downloading and unpacking $PACKAGE $PKG_VERSION" fetch_kernel "$TMP_DIR"
	kver=$(cat "$TMP_DIR/kver")
	step "building the initramfs" build_initramfs "$TMP_DIR/pkg" "$kver" "$TMP_DIR/initramfs" "$TMP_DIR/initramfs.cpio.gz"
	step "collecting the kernel, the modules and the initramfs" collect "$TMP_DIR" "$kver"
	mv "$TMP_DIR/initramfs.cpio.gz" "$TMP_DIR/out/"
	sync -f "$TMP_DIR/out"
	echo "$KEY" >"$TMP_DIR/out/$MARKER"
	sync -f "$TMP_DIR/out"
	mv -T -- "$TMP_DIR/out" "$DIR"
	rm -rf --one-file-system -- "$TMP_DIR"
	TMP_DIR=""
	trap - EXIT INT TERM HUP
	exec 7>&-
	log "prepared $DIR in $((SECONDS - start)) s: kernel $(cat "$DIR/kver"), initramfs $(du -k "$DIR/initramfs.cpio.gz" | cut -f1) KiB, $(wc -l <"$DIR/modules.load") modules"
}

# ensure: make DIR complete, building it if needed. Leaves DIR's use lock
# (fd 8) held shared, so that no other caller's prune removes it under us.
ensure() {
	need_root
	[[ "$CACHE" =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
		die "CEPHFS_CSI_CACHE '$CACHE' must be an absolute path of [A-Za-z0-9_./+-]"
	ensure_tools
	set_dir
	mkdir -p "$KDIR"
	# One build at a time; a second caller waits and then reuses it.
	exec 9>"$KDIR/.build.lock"
	flock -w "$LOCK_WAIT" 9 || die "timed out waiting for another $PROG to prepare the kernel"
	if ! complete; then
		local d
		for d in "$KDIR"/.build.*; do # left by interrupted builds
			[[ -d "$d" ]] || continue
			log "removing $d, left by an interrupted build"
			rm -rf --one-file-system -- "$d"
		done
		if [[ -e "$DIR" ]]; then
			discard "$DIR" || die "$DIR is outdated but a VM uses it; retry when it is done"
		fi
		build
		prune
	fi
	lock_in_use "$DIR" shared || die "timed out waiting for the use lock of $DIR"
	exec 9>&-
}

# kernel_image: what qemu boots: the ELF kernel if prepare could extract it.
kernel_image() {
	if [[ -s "$DIR/vmlinux" ]]; then
		echo "$DIR/vmlinux"
	else
		echo "$DIR/vmlinuz"
	fi
}

cmd_prepare() {
	(($# == 0)) || usage
	ensure
	echo "KERNEL=$(kernel_image)"
	echo "INITRD=$DIR/initramfs.cpio.gz"
	echo "KVER=$(cat "$DIR/kver")"
}

# ---------------------------------------------------------------------------
# network

netns_exists() {
	[[ -e "/run/netns/$1" ]]
}

cmd_net_up() {
	local ns=${1:-} br="" addr="" tap=""
	[[ "$ns" =~ $NAME_RE ]] || usage
	shift
	while (($#)); do
		case "$1" in
		--bridge) br=${2:-}; shift 2 || usage ;;
		--address) addr=${2:-}; shift 2 || usage ;;
		--tap) tap=${2:-}; shift 2 || usage ;;
		*) die "net-up: unknown argument '$1'" ;;
		esac
	done
	[[ "$br" =~ $IFNAME_RE ]] || die "net-up: --bridge needs an interface name (at most 15 characters)"
	[[ "$tap" =~ $IFNAME_RE ]] || die "net-up: --tap needs an interface name (at most 15 characters)"
	[[ "$addr" =~ $CIDR_RE ]] || die "net-up: --address needs an IPv4 address with a prefix length (e.g. 10.77.0.1/24)"
	need_root
	! netns_exists "$ns" || die "network namespace $ns exists; '$PROG net-down $ns' first"
	ip netns add "$ns" || die "cannot create network namespace $ns"
	if ! {
		ip -n "$ns" link set lo up &&
			ip -n "$ns" link add "$br" type bridge &&
			ip -n "$ns" addr add "$addr" dev "$br" &&
			ip -n "$ns" link set "$br" up &&
			ip -n "$ns" tuntap add dev "$tap" mode tap &&
			ip -n "$ns" link set "$tap" master "$br" &&
			ip -n "$ns" link set "$tap" up
	}; then
		ip netns delete "$ns" || true
		die "cannot set up $br and $tap in $ns"
	fi
	log "network namespace $ns: bridge $br ($addr), tap $tap"
}

cmd_net_down() {
	if (($# != 1)) || [[ ! "$1" =~ $NAME_RE ]]; then
		usage
	fi
	local ns=$1 dev pids
	need_root
	netns_exists "$ns" || return 0
	pids=$(ip netns pids "$ns" | xargs)
	# The namespace lives on while processes are in it; its links must not.
	if [[ -n "$pids" ]]; then
		log "warning: processes still in $ns (pids $pids); deleting its interfaces"
		for dev in $(ip -n "$ns" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
			[[ "$dev" == lo ]] || ip -n "$ns" link delete "$dev" 2>/dev/null || true
		done
	fi
	ip netns delete "$ns" || die "cannot delete network namespace $ns"
	log "deleted network namespace $ns"
}

# ---------------------------------------------------------------------------
# boot

# quote WORD: WORD as a single-quoted shell word.
quote() {
	local q="'\\''"
	printf "'%s'" "${1//\'/$q}"
}

# qemu_opt VALUE: VALUE with qemu's option separator (comma) doubled.
qemu_opt() {
	echo "${1//,/,,}"
}

# guest_mac IP: a locally administered MAC derived from the guest's IPv4
# address, so that VMs on one bridge differ.
guest_mac() {
	local o1 o2 o3 o4
	IFS=. read -r o1 o2 o3 o4 <<<"$1"
	printf '52:54:%02x:%02x:%02x:%02x\n' "$o1" "$o2" "$o3" "$o4"
}

on_boot_signal() {
	[[ -z "$CHILD" ]] || { kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null || true; }
	exit "$1"
}

cmd_boot() {
	local ns="" tap="" ip="" gw="" share="" memory=1024 cpus=1 console="" timeout="" envs=() tmpfs=() p
	while (($#)) && [[ "$1" != -- ]]; do
		(($# >= 2)) || die "boot: $1 needs a value"
		case "$1" in
		--netns) ns=$2 ;;
		--tap) tap=$2 ;;
		--guest-ip) ip=$2 ;;
		--gateway) gw=$2 ;;
		--share) share=$2 ;;
		--memory) memory=$2 ;;
		--cpus) cpus=$2 ;;
		--console) console=$2 ;;
		--timeout) timeout=$2 ;;
		--tmpfs) tmpfs+=("$2") ;;
		--env) envs+=("$2") ;;
		*) die "boot: unknown argument '$1'" ;;
		esac
		shift 2
	done
	[[ "${1:-}" == -- ]] || die "boot: missing '--' before the program"
	shift
	(($#)) || die "boot: missing program"
	[[ "$ns" =~ $NAME_RE ]] || die "boot: --netns needs a network namespace"
	[[ "$tap" =~ $IFNAME_RE ]] || die "boot: --tap needs an interface name"
	[[ "$ip" =~ $CIDR_RE ]] || die "boot: --guest-ip needs an IPv4 address with a prefix length"
	[[ "$gw" =~ $IPV4_RE ]] || die "boot: --gateway needs an IPv4 address"
	if [[ ! "$memory" =~ ^[0-9]+$ ]] || ((memory < 256 || memory > 8192)); then
		die "boot: --memory must be 256-8192 (MiB)"
	fi
	[[ "$cpus" =~ ^[1-8]$ ]] || die "boot: --cpus must be 1-8"
	[[ -z "$timeout" || "$timeout" =~ ^[1-9][0-9]*$ ]] || die "boot: --timeout needs seconds"
	[[ -n "$share" ]] || die "boot: missing --share DIR"
	need_root
	mkdir -p -- "$share"
	share=$(realpath -e -- "$share")
	[[ "$share" =~ $PATH_RE ]] || die "boot: the shared directory $share must be a path of [A-Za-z0-9_./+@:-]"
	case "$share" in
	/ | /dev | /dev/* | /proc | /proc/* | /sys | /sys/*) die "boot: cannot share $share" ;;
	esac
	for p in "${tmpfs[@]}"; do
		[[ "$p" =~ $PATH_RE && "$p" != / ]] || die "boot: --tmpfs $p: want an absolute path of [A-Za-z0-9_./+@:-]"
	done
	for p in "${envs[@]}"; do
		[[ "$p" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "boot: --env $p: want NAME=VALUE"
	done
	console=${console:-$share/console.log}
	netns_exists "$ns" || die "boot: no network namespace $ns (see '$PROG net-up')"
	ip -n "$ns" link show "$tap" >/dev/null 2>&1 || die "boot: no interface $tap in $ns"

	ensure # holds the kernel's use lock (fd 8) while the VM runs

	local hostname accel=tcg cpu=max cmdline tmpfs_list rc=0 start=$SECONDS
	hostname="vm-${ip%/*}"
	hostname=${hostname//./-}
	if [[ "${VM_ACCEL:-tcg}" == kvm ]]; then
		accel=kvm cpu=host
	fi
	{
		echo "# written by $PROG boot; run by the guest's /bin/sh, chrooted into the host's root"
		for p in "${envs[@]}"; do
			echo "export $(quote "$p")"
		done
		echo "cd $(quote "$PWD") 2>/dev/null || cd /"
		printf 'exec'
		for p in "$@"; do
			printf ' %s' "$(quote "$p")"
		done
		echo
	} >"$share/.vm-command"
	rm -f -- "$share/guest-exit" "$share/guest-dmesg.log"
	: >"$console"
	tmpfs_list=$(IFS=, && echo "${tmpfs[*]}")
	cmdline="console=ttyS0 panic=-1 quiet vm_ip=$ip vm_gw=$gw vm_share=$share vm_hostname=$hostname vm_tmpfs=$tmpfs_list vm_path=$GUEST_PATH"
	local qemu=(
		"$QEMU" -name "cephfs-csi-$hostname" -nodefaults -no-user-config -no-reboot
		-machine pc -accel "$accel" -cpu "$cpu" -smp "$cpus" -m "$memory"
		-display none -chardev "file,id=console,path=$(qemu_opt "$console")" -serial chardev:console
		-kernel "$(kernel_image)" -initrd "$DIR/initramfs.cpio.gz"
		-append "$cmdline"
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
		-device "virtio-net-pci,netdev=n0,mac=$(guest_mac "${ip%/*}")"
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$(qemu_opt "$share"),mount_tag=share,security_model=none,multidevs=remap"
	)
	log "booting $hostname ($ip) on $tap in $ns: $*; console: $console"
	trap 'on_boot_signal 130' INT
	trap 'on_boot_signal 143' TERM HUP
	# qemu (and timeout) die with their parent, even if it is SIGKILLed.
	local run=(setpriv --pdeathsig KILL ip netns exec "$ns" "${qemu[@]}")
	[[ -z "$timeout" ]] || run=(setpriv --pdeathsig KILL timeout -k 10 "$timeout" "${run[@]}")
	spawn "${run[@]}" </dev/null 9>&- || rc=$?
	trap - INT TERM HUP
	# The serial console ends lines with CR LF.
	sed -i 's/\r$//' "$console" || true
	if ((rc == 124)) && [[ -n "$timeout" ]]; then
		log "the VM did not finish within $timeout s; console: $console"
		tail -n 20 "$console" | sed 's/^/  | /' >&2
		return 124
	fi
	((rc == 0)) || log "qemu exited with status $rc"
	local status
	status=$(cat "$share/guest-exit" 2>/dev/null) || status=""
	if [[ ! "$status" =~ ^[0-9]+$ ]]; then
		log "the guest gave no exit status (it failed before or after the program); console: $console"
		tail -n 20 "$console" | sed 's/^/  | /' >&2
		return 125
	fi
	log "the program exited with status $status ($((SECONDS - start)) s in the VM)"
	return "$status"
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case "$cmd" in
	prepare) cmd_prepare "$@" ;;
	net-up) cmd_net_up "$@" ;;
	net-down) cmd_net_down "$@" ;;
	boot) cmd_boot "$@" ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
