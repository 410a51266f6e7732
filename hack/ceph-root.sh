#!/usr/bin/env bash
# hack/ceph-root.sh - build, or reuse, a Debian root holding a newer Ceph than
# Debian 12's Pacific, so that clusters and native builds can run against it.
#
# Usage: hack/ceph-root.sh RELEASE            build or reuse; print the root
#        hack/ceph-root.sh path RELEASE       print the root if it is complete, else exit 1
#        hack/ceph-root.sh run RELEASE [--bind PATH]... -- CMD [ARG]...
#                                             run CMD inside the root (built if needed)
# RELEASE: reef (Debian 13 trixie, Ceph 18) or tentacle (Debian testing forky, Ceph 20).
#
# Roots live in $CEPHFS_CSI_CACHE/roots/RELEASE-KEY (default /var/cache/cephfs-csi:
# machine-wide, so a fresh clone reuses them); KEY hashes everything that
# defines a root, older roots of the release are removed once a new one is
# built. A cold build takes 1-2.5 minutes (mostly downloads) and about 0.9 GB
# per release; a reuse 0.1-0.2 s.
# `run` binds /proc, /sys, /dev, /tmp and this repository (and each --bind
# PATH) at the same paths inside, in a mount namespace of its own.

set -euo pipefail

readonly PROG="${0##*/}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
readonly REPO
readonly SELF="$REPO/hack/$PROG"
# shellcheck source=hack/lib/debian-root.sh
source "$REPO/hack/lib/debian-root.sh"
readonly STUB="$REPO/hack/ceph-roots/bcrypt_stub.py"
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}"
readonly ROOTS="$CACHE/roots"
# Bump to rebuild every root, e.g. when the build steps below change in a
# way that the recipe (see recipe) does not capture.
readonly VERSION=2
readonly MIRROR=http://deb.debian.org/debian
readonly SECURITY_MIRROR=http://deb.debian.org/debian-security
# The daemons and tools of hack/cluster.sh, the headers and libraries go-ceph
# builds against, and a C compiler for cgo (go-ceph needs no pkg-config: its
# cgo lines are plain -lrados / -lcephfs). ca-certificates lets Go fetch
# modules over HTTPS inside the root. mount.ceph is in ceph-common. procps:
# the tests signal daemons and find ceph-fuse processes with pkill/pgrep.
readonly PACKAGES=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common
	libcephfs-dev librados-dev gcc libc6-dev ca-certificates procps)
# Files that must be in every complete root (relative to it).
readonly REQUIRED=(usr/bin/ceph usr/bin/ceph-mon usr/bin/ceph-osd usr/bin/ceph-mds
	usr/bin/ceph-mgr usr/bin/ceph-fuse usr/bin/ceph-authtool usr/bin/monmaptool
	usr/sbin/mount.ceph usr/bin/gcc usr/include/rados/librados.h
	usr/include/cephfs/libcephfs.h)
# Written last into a root: a root without it is partial.
readonly MARKER=.cephfs-csi-complete
readonly PACKAGES_FILE=.cephfs-csi-packages
readonly RECIPE_FILE=.cephfs-csi-recipe
readonly LOCK_WAIT=3600 # seconds a caller waits for another one's build

# Set by release_info.
RELEASE="" SUITE="" SCRIPT="" MAJOR="" BCRYPT_STUB="" NO_VALID_UNTIL=""
SOURCES=()
# Set by ensure/set_root.
KEY="" DIR="" STEP_LOG=""
# The build's temporary root and its running step, for the EXIT trap.
TMP_ROOT=""

usage() {
	sed -n '2,17p' "$SELF" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# release_info RELEASE: the Debian suite and settings that give RELEASE.
# Each release comes from the Debian suite that carries it: the Ceph of a
# suite moves only with Debian (check_version fails loudly the day forky
# moves past Tentacle).
release_info() {
	RELEASE=$1
	case "$RELEASE" in
	reef)
		SUITE=trixie SCRIPT=/usr/share/debootstrap/scripts/trixie MAJOR=18
		# trixie-security carries Ceph's security fixes (18.2.7+ds-1+deb13u1
		# at the time of writing): the image is built from this root.
		SOURCES=("deb $MIRROR trixie main"
			"deb $MIRROR trixie-updates main"
			"deb $SECURITY_MIRROR trixie-security main")
		NO_VALID_UNTIL=false
		# Reef's ceph-mgr cannot load `volumes` with the real python3-bcrypt
		# (see hack/ceph-roots/bcrypt_stub.py).
		BCRYPT_STUB=true
		;;
	tentacle)
		# Debian 12's debootstrap has no forky script; testing uses sid's.
		SUITE=forky SCRIPT=/usr/share/debootstrap/scripts/sid MAJOR=20
		SOURCES=("deb $MIRROR forky main")
		# forky's Release file on deb.debian.org is past its Valid-Until
		# (it says Date + 7 days; seen 3 weeks old), which apt refuses.
		NO_VALID_UNTIL=true
		# Tentacle's mgr loads `volumes` with the real bcrypt (checked by
		# booting hack/cluster.sh in the root): no stub.
		BCRYPT_STUB=false
		;;
	*) die "unknown release '$RELEASE' (want reef or tentacle)" ;;
	esac
}

# recipe: everything that defines a root of RELEASE; its hash is the KEY,
# so a change of any of it builds a new root instead of reusing an old one.
recipe() {
	printf 'version=%s\nrelease=%s\nsuite=%s\ndebootstrap-script=%s\nmirror=%s\n' \
		"$VERSION" "$RELEASE" "$SUITE" "${SCRIPT##*/}" "$MIRROR"
	printf 'source=%s\n' "${SOURCES[@]}"
	printf 'package=%s\n' "${PACKAGES[@]}"
	printf 'no-valid-until=%s\nmajor=%s\nbcrypt-stub=%s\n' "$NO_VALID_UNTIL" "$MAJOR" "$BCRYPT_STUB"
	if [[ "$BCRYPT_STUB" == true ]]; then
		printf 'bcrypt-stub-sha256=%s\n' "$(sha256sum <"$STUB" | cut -d' ' -f1)"
	fi
}

# set_root RELEASE: the key and directory of RELEASE's root.
set_root() {
	release_info "$1"
	[[ "$BCRYPT_STUB" != true || -f "$STUB" ]] || die "missing $STUB"
	KEY=$(recipe | sha256sum | cut -c1-12)
	DIR="$ROOTS/$RELEASE-$KEY"
	STEP_LOG="$DIR.build.log"
}

# ---------------------------------------------------------------------------
# checks

# check_version ROOT: the root's ceph CLI reports RELEASE's major version.
# It runs the Python CLI and its librados, so a root with a broken Python or
# missing libraries fails it too.
check_version() {
	local out
	out=$(chroot "$1" /usr/bin/env -i PATH="$ROOT_PATH" LANG=C.UTF-8 ceph --version 2>&1) || {
		log "'ceph --version' fails in $1: $out"
		return 1
	}
	[[ "$out" =~ ^ceph\ version\ ([0-9]+)\. && "${BASH_REMATCH[1]}" == "$MAJOR" ]] || {
		log "$1 holds '$out', expected Ceph $MAJOR ($RELEASE)"
		return 1
	}
}

# usable ROOT: ROOT has every required file and a working ceph of RELEASE.
usable() {
	local f
	for f in "${REQUIRED[@]}" "$PACKAGES_FILE"; do
		[[ -e "$1/$f" ]] || { log "$1 lacks /$f"; return 1; }
	done
	check_version "$1"
}

# complete: DIR was fully built for KEY (the marker, written last, says so)
# and still works. Quiet if DIR does not exist at all.
complete() {
	[[ -d "$DIR" ]] || return 1
	[[ "$(cat "$DIR/$MARKER" 2>/dev/null)" == "$KEY" ]] || { log "$DIR has no build marker"; return 1; }
	usable "$DIR"
}

# ---------------------------------------------------------------------------
# removal

# mounts_under PATH: the mount points at or below PATH in this mount
# namespace, deepest first (the cache path has no characters that
# /proc/self/mountinfo escapes).
mounts_under() {
	awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# remove_tree PATH: rm -rf PATH, after unmounting whatever is mounted below
# it: rm -rf descends into bind mounts, and a bound /dev or /tmp would be
# emptied on the host. Roots are only mounted into private namespaces by
# this script, so this is for trees left by other tools or older versions.
remove_tree() {
	local m
	[[ -e "$1" ]] || return 0
	while read -r m; do
		[[ -n "$m" ]] || continue
		log "unmounting $m"
		umount "$m" 2>/dev/null || umount -l "$m" || die "cannot unmount $m"
	done < <(mounts_under "$1")
	[[ -z "$(mounts_under "$1")" ]] || die "$1 still has mounts below it; not removing it"
	rm -rf --one-file-system -- "$1"
}

# lock_in_use ROOT MODE: open ROOT's use lock on fd 8 and take it shared
# (`run`, held by the command and whatever it leaves running, e.g. cluster
# daemons) or exclusive without waiting (before removing ROOT: fails if in use).
lock_in_use() {
	exec 8>"$1.lock"
	if [[ "$2" == shared ]]; then
		flock -s -w "$LOCK_WAIT" 8
	else
		flock -x -n 8
	fi
}

# discard ROOT: remove ROOT unless some `run` still uses it.
discard() {
	if ! lock_in_use "$1" exclusive; then
		exec 8>&-
		log "keeping $1: it is in use (a '$PROG run' or daemons it started)"
		return 1
	fi
	log "removing $1"
	remove_tree "$1"
	rm -f -- "$1.build.log" "$1.lock"
	exec 8>&-
}

# prune: remove RELEASE's roots other than DIR (built for older recipes).
prune() {
	local d
	for d in "$ROOTS/$RELEASE"-*; do
		[[ -d "$d" && "$d" != "$DIR" ]] || continue
		discard "$d" || true # kept while in use; removed by a later prune
	done
}

# ---------------------------------------------------------------------------
# build

# on_build_exit: EXIT trap of build: stop the running step and remove the
# temporary root, so an interrupted build leaves nothing behind.
on_build_exit() {
	local rc=$?
	[[ -z "$CHILD" ]] || { kill -KILL "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null || true; }
	[[ -z "$TMP_ROOT" ]] || remove_tree "$TMP_ROOT"
	# fd 7: our stderr (a signal can arrive while step sends it to the log)
	((rc == 0)) || log "building the $RELEASE root failed; log: $STEP_LOG" 2>&7
	exit "$rc"
}

# install_bcrypt_stub ROOT: replace python3-bcrypt's bcrypt/__init__.py with
# the stub, moved aside with dpkg-divert so that dpkg keeps the real one as
# __init__.py.real (and an upgrade of the package does not undo this). A file
# earlier on sys.path is not enough: the sys.path of ceph-mgr's embedded
# Python depends on the daemon's working directory (started from /, it
# imported bcrypt from /lib/python3/dist-packages and had no /usr/local
# directory on sys.path at all).
install_bcrypt_stub() {
	local root=$1 init got
	init=$(chroot "$root" dpkg -L python3-bcrypt | grep -E '/dist-packages/bcrypt/__init__[.]py$') ||
		{ echo "python3-bcrypt (or its bcrypt/__init__.py) is missing; does the stub still apply?"; return 1; }
	echo "python3-bcrypt's module: $init"
	chroot "$root" dpkg-divert --local --rename --divert "$init.real" --add "$init" || return 1
	install -m 0644 "$STUB" "$root$init" || return 1
	rm -rf "$root${init%/*}/__pycache__" # the real module's byte code
	got=$(chroot "$root" python3 -c 'import bcrypt; print(bcrypt.__version__)') || return 1
	[[ "$got" == *cephfs-csi-stub ]] || { echo "import bcrypt gives version $got, not the stub"; return 1; }
}

# record ROOT: the exact versions of every package, for reports, and the recipe.
record() {
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	chroot "$1" dpkg-query -W -f '${binary:Package}\t${Version}\n' >"$1/$PACKAGES_FILE" || return 1
	recipe >"$1/$RECIPE_FILE" || return 1
	grep -E '^(ceph-common|ceph-mon|librados2|libcephfs2|python3-bcrypt)\b' "$1/$PACKAGES_FILE"
}

# build: debootstrap RELEASE's suite into a temporary directory next to DIR,
# install the packages, then move it to DIR once it is complete.
build() {
	local start=$SECONDS
	: >"$STEP_LOG"
	exec 7>&2
	TMP_ROOT=$(mktemp -d "$ROOTS/.build-$RELEASE-$KEY.XXXXXX")
	chmod 0755 "$TMP_ROOT"
	trap on_build_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	log "building the $RELEASE root ($SUITE) in $DIR (cold: 1-3 minutes; log: $STEP_LOG)"
	step "debootstrap $SUITE" in_namespaces \
		debootstrap --variant=minbase "$SUITE" "$TMP_ROOT" "$MIRROR" "$SCRIPT"
	step "configuring apt" configure_apt "$TMP_ROOT"
	step "installing ${PACKAGES[*]}" install_packages "$TMP_ROOT" "${PACKAGES[@]}"
	if [[ "$BCRYPT_STUB" == true ]]; then
		step "shadowing python3-bcrypt with $STUB" install_bcrypt_stub "$TMP_ROOT"
	fi
	step "recording the installed versions" record "$TMP_ROOT"
	usable "$TMP_ROOT" || die "the new $RELEASE root does not work (log: $STEP_LOG)"
	# Data first, then the marker, then the rename: after a crash the root is
	# either absent, or complete with a marker on disk.
	sync -f "$TMP_ROOT"
	echo "$KEY" >"$TMP_ROOT/$MARKER"
	sync -f "$TMP_ROOT"
	mv -T -- "$TMP_ROOT" "$DIR"
	TMP_ROOT=""
	trap - EXIT INT TERM HUP
	exec 7>&- # a caller's pipe: daemons started by `run` must not hold it
	log "built $DIR in $((SECONDS - start)) s ($(du -sh "$DIR" | cut -f1)): $(grep '^ceph-common' "$DIR/$PACKAGES_FILE" | tr '\t' ' ')"
}

# ensure_debootstrap: install Debian 12's debootstrap if it is missing; it
# must know RELEASE's suite (bookworm's knows trixie, and sid for forky).
ensure_debootstrap() {
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		# apt's lock: wait for a concurrent install (e.g. hack/cluster.sh's)
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get -q -o DPkg::Lock::Timeout=600 install -y debootstrap ||
			{ apt-get -q -o DPkg::Lock::Timeout=600 update &&
				apt-get -q -o DPkg::Lock::Timeout=600 install -y debootstrap; }; } >&2 ||
			die "could not install debootstrap"
	fi
	[[ -f "$SCRIPT" ]] || die "this debootstrap has no script $SCRIPT for $SUITE"
}

# ensure RELEASE: make DIR a complete root of RELEASE, building it if needed.
# Leaves the build lock (fd 9) held, so the caller can take the root's use
# lock before another caller could prune it.
ensure() {
	[[ "$CACHE" =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
		die "CEPHFS_CSI_CACHE '$CACHE' must be an absolute path of [A-Za-z0-9_./+-]"
	set_root "$1"
	mkdir -p "$ROOTS"
	# One build at a time per release; a second caller waits and then reuses it.
	exec 9>"$ROOTS/.build-$RELEASE.lock"
	flock -w "$LOCK_WAIT" 9 || die "timed out waiting for another $PROG to build the $RELEASE root"
	complete && return 0
	local d
	for d in "$ROOTS/.build-$RELEASE-"*; do # left by interrupted builds
		[[ -e "$d" ]] || continue
		log "removing $d, left by an interrupted build"
		remove_tree "$d"
	done
	if [[ -e "$DIR" ]]; then
		log "$DIR is partial or broken; rebuilding it"
		discard "$DIR" || die "$DIR is broken but in use; stop what runs in it (e.g. '$PROG run $RELEASE -- hack/cluster.sh down DIR') and retry"
	fi
	ensure_debootstrap
	build
	prune
}

# ---------------------------------------------------------------------------
# commands

cmd_ensure() {
	ensure "$1"
	echo "$DIR"
}

cmd_path() {
	set_root "$1"
	complete || exit 1
	echo "$DIR"
}

# cmd_run RELEASE [--bind PATH]... -- CMD...: run CMD in the root, in a mount
# namespace of its own holding the binds: they never show on the host and
# vanish with the last process in the namespace (daemons CMD started keep
# their /proc, /dev and /tmp for as long as they run). Only the bound paths
# themselves are shared, not mounts below them (a ceph-fuse mount under /tmp
# on the host is not seen inside, and is not kept alive by it).
cmd_run() {
	local release=$1 binds=(/tmp "$REPO") p cwd=/
	shift
	while (($#)) && [[ "$1" != -- ]]; do
		case "$1" in
		--bind) binds+=("$(realpath -e -- "${2:?--bind needs a path}")") || die "no such path: $2"; shift 2 ;;
		*) die "run: unknown argument '$1' (want: run RELEASE [--bind PATH]... -- CMD...)" ;;
		esac
	done
	[[ "${1:-}" == -- ]] || die "run: missing '--' before the command"
	shift
	(($#)) || die "run: missing command"
	ensure "$release"
	lock_in_use "$DIR" shared || die "timed out waiting for the use lock of $DIR"
	# CMD and daemons it starts inherit only fd 8 (the use lock), never the
	# build lock (fd 9) or a copy of a caller's stderr pipe (fd 7).
	exec 9>&- 7>&-
	for p in "${binds[@]}"; do
		[[ "$PWD" == "$p" || "$PWD" == "$p"/* ]] && cwd=$PWD
	done
	# Tells scripts run inside (hack/cluster.sh) that this release's tools
	# are already at hand: a nested `run` cannot work from inside the root.
	export CEPHFS_CSI_ROOT_RELEASE=$release
	exec unshare --mount --propagation private -- \
		"$SELF" _run-enter "$DIR" "$cwd" "${binds[@]}" -- "$@"
}

# cmd_run_enter ROOT CWD PATH... -- CMD...: (in run's namespace) bind the
# system directories and each PATH into ROOT, then become CMD chrooted.
cmd_run_enter() {
	local root=$1 cwd=$2 p
	shift 2
	mount --bind /proc "$root/proc"
	mount --bind /sys "$root/sys"
	mount --bind /dev "$root/dev"
	for p in /dev/pts /dev/shm; do
		if mountpoint -q "$p"; then
			mkdir -p "$root$p"
			mount --bind "$p" "$root$p"
		fi
	done
	# Name resolution as on the host (Go fetching modules, for instance).
	[[ ! -f /etc/resolv.conf || ! -f "$root/etc/resolv.conf" ]] || mount --bind "$(realpath /etc/resolv.conf)" "$root/etc/resolv.conf"
	while [[ "$1" != -- ]]; do
		if [[ -d "$1" ]]; then
			mkdir -p "$root$1"
		else
			mkdir -p "$root$(dirname "$1")"
			[[ -e "$root$1" ]] || : >"$root$1"
		fi
		mount --bind "$1" "$root$1"
		shift
	done
	shift
	exec chroot "$root" /usr/bin/env --chdir="$cwd" PATH="$PATH:$ROOT_PATH" "$@"
}

main() {
	case "${1:-}" in
	reef | tentacle)
		(($# == 1)) || usage
		[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, chroot, mount)"
		cmd_ensure "$1"
		;;
	path)
		(($# == 2)) || usage
		[[ $EUID -eq 0 ]] || die "must run as root (chroot)"
		cmd_path "$2"
		;;
	run)
		(($# >= 2)) || usage
		[[ $EUID -eq 0 ]] || die "must run as root (chroot, mount)"
		shift
		cmd_run "$@"
		;;
	_chroot-enter) shift; chroot_enter "$@" ;;
	_run-enter) shift; cmd_run_enter "$@" ;;
	*) usage ;;
	esac
}

main "$@"
