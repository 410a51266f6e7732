#!/usr/bin/env bash
# hack/image.sh - build the driver's node/controller image without a
# container engine: a docker-archive tarball in _build/image/ that
# `docker load`, `podman load`, `ctr -n k8s.io images import` and
# `kind load image-archive` accept.
#
# Usage: hack/image.sh [--version V] [--tag REF]...   prints the tarball's path
#   --version V  the driver's version (default: git describe --tags --always --dirty)
#   --tag REF    also tag the image REF (repeatable); it is always tagged
#                quay.io/cephfs-csi/cephfs-csi:V
# GO names the go command (default go). The image's creation time is
# $SOURCE_DATE_EPOCH if set, else the last commit's: two builds of the same
# tree give the same tarball, byte for byte.
#
# Steps: the Reef root (hack/ceph-root.sh reef); the runtime tree, Debian 13
# with hack/image/packages.txt, cached in $CEPHFS_CSI_CACHE/image/runtime-KEY
# (default /var/cache/cephfs-csi; KEY hashes the package list, the root and
# the recipe below; cold about 2 minutes, then reused); the driver built
# inside the root against Reef's headers; hack/image/cmd/mkimage assembling
# two layers, the tree (cached too) and the binary.

set -euo pipefail

readonly PROG="${0##*/}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
readonly REPO
readonly SELF="$REPO/hack/$PROG"
# shellcheck source=hack/lib/debian-root.sh
source "$REPO/hack/lib/debian-root.sh"
readonly BUILD="$REPO/_build/image"
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}"
readonly TREES="$CACHE/image"
readonly GO=${GO:-go}
readonly PACKAGE_LIST="$REPO/hack/image/packages.txt"
readonly REPOSITORY=quay.io/cephfs-csi/cephfs-csi
readonly RELEASE=reef
# Bump to rebuild the runtime trees when the steps below change in a way the
# recipe does not capture.
readonly TREE_VERSION=1
readonly SUITE=trixie
readonly MIRROR=http://deb.debian.org/debian
# As hack/ceph-root.sh's Reef root: trixie-security carries Ceph's fixes.
readonly SOURCES=("deb $MIRROR trixie main"
	"deb $MIRROR trixie-updates main"
	"deb http://deb.debian.org/debian-security trixie-security main")
# What the runtime does not need, removed from the tree (paths in it). As in
# Debian's -slim images, documentation goes but copyright files stay (license
# scanners read them); byte code is rebuilt by Python on demand.
readonly STRIP_GLOBS=(usr/share/man/'*' usr/share/info/'*' usr/share/groff/'*'
	usr/share/lintian/'*' usr/share/linda/'*' var/lib/apt/lists/'*'
	var/cache/apt/'*' var/cache/debconf/'*-old' var/lib/dpkg/'*-old'
	var/cache/ldconfig/aux-cache dev/'*' tmp/'*' var/tmp/'*'
	etc/resolv.conf etc/hostname usr/sbin/policy-rc.d
	etc/apt/apt.conf.d/90cephfs-csi)
readonly LOCK_WAIT=3600 # seconds a caller waits for another one's build
readonly MARKER=complete

# Set by main and the steps.
VERSION="" ROOT="" TREE="" TMP_TREE="" STEP_LOG=""
TAGS=()

usage() {
	sed -n '2,20p' "$SELF" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# packages: packages.txt's names, sorted (comments dropped; one a line).
packages() {
	local names
	names=$(sed 's/#.*//' "$PACKAGE_LIST" | awk 'NF > 1 { bad = 1 } NF == 1 { print $1 } END { exit bad }') ||
		die "$PACKAGE_LIST: want one package a line"
	sort -u <<<"$names"
}

# recipe: everything that defines the runtime tree; its hash is the tree's
# key. The root's name carries the root's own key, so a rebuilt root (new
# Ceph packages, say) gives a new tree from the same archive state.
recipe() {
	printf 'version=%s\nsuite=%s\nmirror=%s\nroot=%s\n' "$TREE_VERSION" "$SUITE" "$MIRROR" "${ROOT##*/}"
	printf 'source=%s\n' "${SOURCES[@]}"
	printf 'strip=%s\n' "${STRIP_GLOBS[@]}"
	# the steps themselves: editing one of them builds a new tree
	printf 'steps=%s\n' "$(declare -f configure_apt install_packages strip_tree chroot_enter | sha256sum | cut -c1-12)"
	packages | sed 's/^/package=/'
}

# ---------------------------------------------------------------------------
# the runtime tree
#
# Why debootstrap + apt-get rather than copying the Reef root's files of the
# package closure: the root lacks two packages of the list (kmod, fuse3:
# ceph-fuse only recommends fuse3), and a copy would have to redo what the
# packages' maintainer scripts do (users, alternatives, diversions, the
# dynamic linker's cache). A minbase bootstrap plus apt-get is what the
# Dockerfile's debian:trixie-slim + apt-get install amounts to, so both
# ways give the same packages, each in a correct dpkg database for
# scanners. The cost, a download of about 100 MB, is paid once per key.

# check_tree FS: the clients the driver runs are there and start.
check_tree() {
	local fs=$1 out
	for out in usr/bin/ceph-fuse usr/sbin/mount.ceph usr/bin/fusermount3 usr/sbin/modprobe \
		usr/bin/mount usr/bin/umount; do
		[[ -x "$fs/$out" || -L "$fs/$out" ]] || { echo "$fs lacks /$out"; return 1; }
	done
	out=$(chroot "$fs" /usr/bin/env -i PATH="$ROOT_PATH" ceph-fuse --version 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	[[ "$out" == "ceph version 18."* ]] || { echo "ceph-fuse is not Reef's (18.x)"; return 1; }
	chroot "$fs" /usr/bin/env -i PATH="$ROOT_PATH" modprobe --version
}

# record DIR: the tree's package versions (outside the tree), and a warning
# when its Ceph libraries are not the versions the driver is built against.
record() {
	local dir=$1 lib want got
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	chroot "$dir/rootfs" dpkg-query -W -f '${binary:Package}\t${Version}\n' >"$dir/packages" || return 1
	recipe >"$dir/recipe"
	for lib in librados2 libcephfs2; do
		want=$(awk -v p="$lib" '$1 == p { print $2 }' "$ROOT/.cephfs-csi-packages")
		got=$(awk -v p="$lib" '$1 == p { print $2 }' "$dir/packages")
		echo "$lib $got (the root: $want)"
		[[ "$got" == "$want" ]] || log "warning: the image's $lib is $got, the root's (built against) $want" 2>&7
	done
}

on_tree_exit() {
	local rc=$?
	[[ -z "$CHILD" ]] || { kill -KILL "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null || true; }
	[[ -z "$TMP_TREE" ]] || rm -rf --one-file-system -- "$TMP_TREE"
	exit "$rc"
}

# build_tree: debootstrap into a temporary directory, install, strip, check,
# then rename it to TREE.
build_tree() {
	local start=$SECONDS d
	for d in "$TREES"/.build-*; do # left by an interrupted build
		[[ -e "$d" ]] && rm -rf --one-file-system -- "$d"
	done
	command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
	TMP_TREE=$(mktemp -d "$TREES/.build-XXXXXX")
	chmod 0755 "$TMP_TREE"
	STEP_LOG="$TMP_TREE/build.log"
	exec 7>&2
	trap on_tree_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	log "building the runtime tree $TREE (cold: about 2 minutes; log: $TREE/build.log)"
	step "debootstrap $SUITE" in_namespaces \
		debootstrap --variant=minbase "$SUITE" "$TMP_TREE/rootfs" "$MIRROR"
	step "configuring apt" configure_apt "$TMP_TREE/rootfs"
	local pkgs
	mapfile -t pkgs < <(packages)
	step "installing ${pkgs[*]}" install_packages "$TMP_TREE/rootfs" "${pkgs[@]}"
	step "stripping documentation, caches and logs" strip_tree "$TMP_TREE/rootfs"
	step "checking the clients" check_tree "$TMP_TREE/rootfs"
	step "recording the versions" record "$TMP_TREE"
	recipe | sha256sum | cut -c1-12 >"$TMP_TREE/$MARKER"
	sync -f "$TMP_TREE"
	mv -T -- "$TMP_TREE" "$TREE"
	TMP_TREE=""
	trap - EXIT INT TERM HUP
	exec 7>&-
	log "built the runtime tree in $((SECONDS - start)) s ($(du -sh "$TREE/rootfs" | cut -f1))"
	for d in "$TREES"/runtime-*; do # built for other keys
		[[ "$d" == "$TREE" ]] || { log "removing the old tree $d"; rm -rf --one-file-system -- "$d"; }
	done
}

# ensure_tree: TREE, built unless complete.
ensure_tree() {
	local key
	key=$(recipe | sha256sum | cut -c1-12)
	TREE="$TREES/runtime-$key"
	[[ "$(cat "$TREE/$MARKER" 2>/dev/null)" == "$key" ]] || build_tree
}

# ---------------------------------------------------------------------------
# the driver

# build_driver OUT: the driver built inside the root, against its headers and
# libraries. The Go cache is one per root: it keys cgo objects by the
# compiler and flags, not by the headers' content, so a cache shared with
# host (Pacific) builds could hand out objects compiled against Pacific.
build_driver() {
	local out=$1 goroot gomodcache goproxy gocache d libs start=$SECONDS
	goroot=$("$GO" env GOROOT)
	gomodcache=$("$GO" env GOMODCACHE)
	goproxy=$("$GO" env GOPROXY)
	gocache="$TREES/gocache-${ROOT##*/}"
	mkdir -p "$gocache" "$gomodcache"
	for d in "$TREES"/gocache-*; do # for older roots
		[[ "$d" == "$gocache" ]] || rm -rf -- "$d"
	done
	log "building the driver $VERSION in the $RELEASE root"
	# -buildvcs=false: the root has no git; the version comes from -X.
	(cd "$REPO" && "$REPO/hack/ceph-root.sh" run "$RELEASE" \
		--bind "$goroot" --bind "$gomodcache" --bind "$gocache" -- \
		env GOCACHE="$gocache" GOMODCACHE="$gomodcache" GOPROXY="$goproxy" \
		GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
		"$goroot/bin/go" build -trimpath \
		-ldflags "-X github.com/cephfs-csi/cephfs-csi/pkg/driver.Version=$VERSION" \
		-o "$out" ./cmd/cephfs-csi) >&2 || die "go build in the $RELEASE root failed"
	log "  done in $((SECONDS - start)) s"
	# librados is what the driver needs first (go-ceph's cephfs/admin speaks
	# to the mgr through it); libcephfs comes with go-ceph's cephfs, which
	# reads a snapshot's quota. Inside the root, what ldd resolves is the root's.
	libs=$("$REPO/hack/ceph-root.sh" run "$RELEASE" -- ldd "$out") || die "ldd $out in the root failed"
	if grep -q 'not found' <<<"$libs" || ! grep -Eq '^\s*librados\.so\.2 => /' <<<"$libs"; then
		die "the driver does not link the root's librados: $libs"
	fi
	grep -E 'lib(rados|cephfs)\.so' <<<"$libs" | sed "s/^[[:space:]]*/$PROG:   in the root: /" >&2
}

# cmd_smoke_enter FS BINARY VERSION: (in a mount namespace of its own) run
# BINARY --version inside the runtime tree: a tmpfs over /usr/local/bin
# carries it, so the cached tree itself is left as it is.
cmd_smoke_enter() {
	local fs=$1 bin=$2 want=$3 got
	mount -t tmpfs -o mode=0755 tmpfs "$fs/usr/local/bin"
	cp "$bin" "$fs/usr/local/bin/cephfs-csi"
	got=$(chroot "$fs" /usr/bin/env -i PATH="$ROOT_PATH" /usr/local/bin/cephfs-csi --version) ||
		die "the driver does not start in the runtime tree"
	[[ "$got" == "$want" ]] || die "the driver in the runtime tree says '$got', expected '$want'"
}

# ---------------------------------------------------------------------------
# the image

# sources_hash: the mkimage sources, part of the cached base layer's name:
# a change of the layer writer must not reuse a layer the old one wrote.
sources_hash() {
	(cd "$REPO/hack/image" && find . -name '*.go' ! -name '*_test.go' -print0 | sort -z |
		xargs -0 cat go.mod go.sum | sha256sum | cut -c1-12)
}

assemble() {
	local bin=$1 out=$2 epoch layer ceph revision args=() t d
	epoch=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || echo 0)}
	[[ "$epoch" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$epoch' is not a number of seconds"
	revision=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
	ceph=$(awk '$1 == "ceph-common" { print $2 }' "$TREE/packages")
	layer="$TREE/layer-$(sources_hash).tar.gz"
	for d in "$TREE"/layer-*.tar.gz; do # written by older mkimage sources
		[[ ! -e "$d" || "$d" == "$layer" ]] || rm -f -- "$d"
	done
	for t in "${TAGS[@]}"; do args+=(-tag "$t"); done
	log "building mkimage"
	"$GO" -C "$REPO/hack/image" build -o "$BUILD/mkimage" ./cmd/mkimage || die "building mkimage failed"
	log "assembling the image"
	"$BUILD/mkimage" -rootfs "$TREE/rootfs" -rootfs-layer "$layer" -binary "$bin" \
		-created "$epoch" "${args[@]}" \
		-label org.opencontainers.image.source=https://github.com/cephfs-csi/cephfs-csi \
		-label "org.opencontainers.image.version=$VERSION" \
		-label "org.opencontainers.image.revision=$revision" \
		-label "org.opencontainers.image.description=cephfs-csi, a CSI driver for CephFS subvolumes, with Ceph $ceph clients (Debian 13)" \
		-out "$out" || die "mkimage failed"
}

main() {
	while (($#)); do
		case "$1" in
		--version) VERSION=${2:?--version needs a value}; shift 2 ;;
		--tag) TAGS+=("${2:?--tag needs a reference}"); shift 2 ;;
		-h | --help) usage ;;
		_chroot-enter) shift; chroot_enter "$@"; return ;;
		_smoke-enter) shift; cmd_smoke_enter "$@"; return ;;
		*) usage ;;
		esac
	done
	[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, chroot, mount)"
	command -v "$GO" >/dev/null || die "$GO is not in PATH"
	[[ "$CACHE" =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
		die "CEPHFS_CSI_CACHE '$CACHE' must be an absolute path of [A-Za-z0-9_./+-]"
	[[ -n "$VERSION" ]] || VERSION=$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo dev)
	TAGS=("$REPOSITORY:$VERSION" "${TAGS[@]}")
	local start=$SECONDS out bin
	mkdir -p "$BUILD" "$TREES"
	# One build at a time on this machine: the trees, layers and Go caches
	# are shared, and old ones are removed while nobody reads them.
	exec 5>"$TREES/.lock"
	flock -w "$LOCK_WAIT" 5 || die "timed out waiting for another $PROG"
	ROOT=$(cd "$REPO" && hack/ceph-root.sh "$RELEASE") || die "hack/ceph-root.sh $RELEASE failed"
	ensure_tree
	bin="$BUILD/cephfs-csi"
	build_driver "$bin"
	unshare --mount --propagation private -- "$SELF" _smoke-enter "$TREE/rootfs" "$bin" "$VERSION"
	out="$BUILD/cephfs-csi-$VERSION.tar"
	assemble "$bin" "$out"
	log "done in $((SECONDS - start)) s"
	echo "$out"
}

main "$@"
