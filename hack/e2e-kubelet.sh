#!/usr/bin/env bash
# hack/e2e-kubelet.sh - build the images the kubelet e2e test (TestKubelet in
# tests/e2e) runs, without a registry or a container engine, each a
# docker-archive that `ctr -n k8s.io images import` loads:
#   registry.k8s.io/pause:3.10   a static Go pause (hack/e2e-images/pause)
#   e2e.local/busybox:latest     Debian's busybox-static, with its applet links
# and, given the e2e tools' directory BIN (hack/e2e-tools.sh prints it):
#   e2e.local/postgres:15        Debian 12's postgresql-15 with an entrypoint
#                                like the official image's (see
#                                hack/e2e-images/postgres/entrypoint.sh);
#                                also the pgbench/psql client
#   registry.k8s.io/sig-storage/csi-provisioner:V, .../csi-resizer:V and
#   .../csi-snapshotter:V        BIN's sidecars (at /csi-provisioner etc., the
#                                entrypoint) on the glibc libraries they link,
#                                V the versions tests/e2e/go.mod pins
# The driver's own image comes from hack/image.sh --version e2e, which the
# test runs.
#
# Usage: hack/e2e-kubelet.sh images DIR [BIN]
#   writes DIR/pause.tar and DIR/busybox.tar, with BIN also DIR/postgres.tar,
#   DIR/csi-provisioner.tar, DIR/csi-resizer.tar and DIR/csi-snapshotter.tar;
#   prints a line "FILE REF" for each. GO names the go command (default go).
#   With BIN it runs as root: the postgres tree (debootstrap --variant=minbase
#   bookworm, apt-get install postgresql-15) is cached with its layer and
#   image in $CEPHFS_CSI_CACHE/e2e-images/postgres-KEY (default
#   /var/cache/cephfs-csi; KEY hashes the recipe), the sidecar images in
#   .../e2e-images/csi-NAME-KEY.tar (KEY hashes the binary and libraries):
#   about 70 s cold, 3 s warm.

set -euo pipefail

readonly PROG="${0##*/}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
readonly SELF="$ROOT/hack/$PROG"
# shellcheck source=hack/lib/debian-root.sh
source "$ROOT/hack/lib/debian-root.sh"
readonly GO=${GO:-go}
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}"
readonly IMAGES="$CACHE/e2e-images"
readonly LOCK_WAIT=3600 # seconds a caller waits for another one's build
readonly MARKER=complete
readonly PAUSE_REF=registry.k8s.io/pause:3.10
readonly BUSYBOX_REF=e2e.local/busybox:latest

# ---------------------------------------------------------------------------
# the postgres image's recipe: all of it (but the entrypoint, which is the
# image's second layer) is in the tree's key

readonly PG_MAJOR=15
readonly PG_REF=e2e.local/postgres:$PG_MAJOR
readonly PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
# The official image's uid and gid, fixed before the packages would pick one.
readonly PG_UID=999
# Bump to rebuild the tree when the steps below change in a way the recipe
# does not capture.
readonly PG_TREE_VERSION=1
readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
readonly SOURCES=("deb $MIRROR $SUITE main"
	"deb $MIRROR $SUITE-updates main"
	"deb http://deb.debian.org/debian-security $SUITE-security main")
readonly PG_PACKAGES=("postgresql-$PG_MAJOR")
# What the server does not need (paths in the tree), as hack/image.sh strips
# the driver's: documentation but the copyright files, man pages,
# translations, apt's lists and caches, logs.
readonly STRIP_GLOBS=(usr/share/man/'*' usr/share/info/'*' usr/share/groff/'*'
	usr/share/lintian/'*' usr/share/linda/'*' "usr/share/postgresql/$PG_MAJOR/man"
	var/lib/apt/lists/'*' var/cache/apt/'*' var/cache/debconf/'*-old'
	var/lib/dpkg/'*-old' var/cache/ldconfig/aux-cache dev/'*' tmp/'*' var/tmp/'*'
	etc/resolv.conf etc/hostname usr/sbin/policy-rc.d run/adduser
	etc/apt/apt.conf.d/90cephfs-csi)
# The programs the test and the deployment run, by name (on the image's PATH).
readonly PG_PROGRAMS=(postgres initdb pg_isready psql pgbench)

# The CSI sidecars: image name, module whose version tags it.
readonly SIDECARS=(
	"csi-provisioner github.com/kubernetes-csi/external-provisioner/v6"
	"csi-resizer github.com/kubernetes-csi/external-resizer/v2"
	"csi-snapshotter github.com/kubernetes-csi/external-snapshotter/v8")
readonly SIDECAR_REPOSITORY=registry.k8s.io/sig-storage
# Bump when the sidecar images' assembly below changes.
readonly SIDECAR_VERSION=1

# Set by the steps; read by the EXIT trap.
TMP="" TMP_TREE="" STEP_LOG="" MKIMAGE="" TREE="" DELIVERY=""

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF" >&2
	exit 2
}

on_exit() {
	local rc=$?
	[[ -z "$CHILD" ]] || { kill -KILL "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null || true; }
	[[ -z "$TMP_TREE" ]] || rm -rf --one-file-system -- "$TMP_TREE"
	[[ -z "$TMP" ]] || rm -rf --one-file-system -- "$TMP"
	[[ -z "$DELIVERY" ]] || rm -f -- "$DELIVERY"
	exit "$rc"
}

# mkimage ROOTFS BINARY PATH TAG OUT [FLAG]...: a two-layer image (ROOTFS,
# then BINARY at PATH, the entrypoint).
mkimage() {
	local rootfs=$1 bin=$2 path=$3 tag=$4 out=$5
	shift 5
	"$MKIMAGE" -rootfs "$rootfs" -binary "$bin" -binary-path "$path" -tag "$tag" \
		-base-history "hack/$PROG" -binary-history "hack/$PROG: $path" "$@" -out "$out" >&2 ||
		die "mkimage $tag failed"
}

# sources_hash: the mkimage sources, part of cached layers' and images'
# names: what an older layer writer wrote is not reused.
sources_hash() {
	(cd "$ROOT/hack/image" && find . -name '*.go' ! -name '*_test.go' -print0 | sort -z |
		xargs -0 cat go.mod go.sum | sha256sum | cut -c1-12)
}

# ---------------------------------------------------------------------------
# the postgres tree

# pg_recipe: everything that defines the tree; its hash is the key.
pg_recipe() {
	printf 'version=%s\nsuite=%s\nmirror=%s\nuid=%s\n' "$PG_TREE_VERSION" "$SUITE" "$MIRROR" "$PG_UID"
	printf 'source=%s\n' "${SOURCES[@]}"
	printf 'package=%s\n' "${PG_PACKAGES[@]}"
	printf 'strip=%s\n' "${STRIP_GLOBS[@]}"
	# the steps themselves: editing one of them builds a new tree
	printf 'steps=%s\n' "$(declare -f configure_apt install_postgres strip_tree check_tree \
		chroot_enter in_namespaces spawn | sha256sum | cut -c1-12)"
}

# install_postgres TREE: the postgres user with the official image's ids,
# postgresql-common told not to create a cluster (the entrypoint's initdb
# makes the one the image runs), then the server; the socket's directory
# open to any user, as the official image's.
# (Step functions run where errexit is off, hence the && chains.)
install_postgres() {
	local tree=$1
	in_chroot "$tree" groupadd --system --gid "$PG_UID" postgres &&
		in_chroot "$tree" useradd --system --uid "$PG_UID" --gid postgres \
			--home-dir /var/lib/postgresql --no-create-home --shell /bin/bash \
			--comment 'PostgreSQL administrator' postgres &&
		in_chroot "$tree" apt-get update -q &&
		in_chroot "$tree" apt-get install -y -q --no-install-recommends postgresql-common &&
		sed -i -E 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' \
			"$tree/etc/postgresql-common/createcluster.conf" &&
		grep -qx 'create_main_cluster = false' "$tree/etc/postgresql-common/createcluster.conf" &&
		in_chroot "$tree" apt-get install -y -q --no-install-recommends "${PG_PACKAGES[@]}" &&
		in_chroot "$tree" apt-get clean &&
		install -d -m 3777 -o "$PG_UID" -g "$PG_UID" "$tree/run/postgresql" &&
		install -d -m 0755 -o "$PG_UID" -g "$PG_UID" "$tree/var/lib/postgresql" &&
		# no cluster (its configuration would be /etc/postgresql/15/main)
		! compgen -G "$tree/etc/postgresql/*/*" >/dev/null
}

# check_tree FS: the programs are there and start; postgres has its ids.
check_tree() {
	local fs=$1 p out
	for p in "${PG_PROGRAMS[@]}"; do
		[[ -x "$fs$PG_BIN/$p" ]] || { echo "$fs lacks $PG_BIN/$p"; return 1; }
		out=$(chroot "$fs" /usr/bin/env -i "PATH=$PG_BIN:$ROOT_PATH" "$p" --version 2>&1) ||
			{ echo "$p --version: $out"; return 1; }
		echo "$out"
		[[ "$out" == *"(PostgreSQL) $PG_MAJOR."* ]] || { echo "$p is not PostgreSQL $PG_MAJOR"; return 1; }
	done
	out=$(chroot "$fs" /usr/bin/id postgres) || return 1
	echo "$out"
	[[ "$out" == "uid=$PG_UID(postgres) gid=$PG_UID(postgres) "* ]] || { echo "postgres's ids are not $PG_UID"; return 1; }
	chroot "$fs" /usr/bin/setpriv --version
}

# record DIR: the tree's package versions and recipe, beside it.
record() {
	local dir=$1
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	chroot "$dir/rootfs" dpkg-query -W -f '${binary:Package}\t${Version}\n' >"$dir/packages" &&
		pg_recipe >"$dir/recipe" &&
		grep -E "^postgresql-$PG_MAJOR\s" "$dir/packages"
}

# build_pg_tree: debootstrap into a temporary directory, install, strip,
# check, then rename it to TREE and remove the trees of other keys.
build_pg_tree() {
	local start=$SECONDS d
	for d in "$IMAGES"/.build-*; do # left by an interrupted build
		[[ -e "$d" ]] && rm -rf --one-file-system -- "$d"
	done
	command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
	TMP_TREE=$(mktemp -d "$IMAGES/.build-XXXXXX")
	chmod 0755 "$TMP_TREE"
	STEP_LOG="$TMP_TREE/build.log"
	log "building the postgres tree $TREE (cold: about 1-2 minutes; log: $TREE/build.log)"
	step "debootstrap $SUITE" in_namespaces \
		debootstrap --variant=minbase "$SUITE" "$TMP_TREE/rootfs" "$MIRROR"
	step "configuring apt" configure_apt "$TMP_TREE/rootfs"
	step "installing ${PG_PACKAGES[*]} (postgres uid/gid $PG_UID)" install_postgres "$TMP_TREE/rootfs"
	step "stripping documentation, caches and logs" strip_tree "$TMP_TREE/rootfs"
	step "checking ${PG_PROGRAMS[*]}" check_tree "$TMP_TREE/rootfs"
	step "recording the versions" record "$TMP_TREE"
	pg_recipe | sha256sum | cut -c1-12 >"$TMP_TREE/$MARKER"
	sync -f "$TMP_TREE"
	mv -T -- "$TMP_TREE" "$TREE"
	TMP_TREE=""
	log "built the postgres tree in $((SECONDS - start)) s ($(du -sh "$TREE/rootfs" | cut -f1))"
	for d in "$IMAGES"/postgres-*; do # built for other keys
		[[ "$d" == "$TREE" ]] || { log "removing the old tree $d"; rm -rf --one-file-system -- "$d"; }
	done
}

# postgres_image OUT: the tree (built unless complete) and the entrypoint.
# The tree's layer is cached in it, and so is the image (keyed by the
# entrypoint, mkimage's sources and flags): gzip of the tree takes about
# 15 s, reading the layer back for its digests still 4 s.
postgres_image() {
	local out=$1 key layer d version args image
	key=$(pg_recipe | sha256sum | cut -c1-12)
	TREE="$IMAGES/postgres-$key"
	[[ "$(cat "$TREE/$MARKER" 2>/dev/null)" == "$key" ]] || build_pg_tree
	version=$(awk -v p="postgresql-$PG_MAJOR" '$1 == p { print $2 }' "$TREE/packages")
	layer="$TREE/layer-$(sources_hash).tar.gz"
	args=("$TREE/rootfs" "$ROOT/hack/e2e-images/postgres/entrypoint.sh"
		/usr/local/bin/docker-entrypoint.sh "$PG_REF"
		-rootfs-layer "$layer" -check-libs=false
		-env "PATH=$PG_BIN:$ROOT_PATH" -env LANG=C.UTF-8
		-env PGDATA=/var/lib/postgresql/data
		-cmd postgres -stop-signal SIGINT
		-label "org.opencontainers.image.description=PostgreSQL $version (Debian 12) for the kubelet e2e test"
		-base-history "hack/$PROG: debootstrap --variant=minbase $SUITE, apt-get install ${PG_PACKAGES[*]}")
	image="$TREE/image-$({
		printf '%s\n' "${args[@]}"
		declare -f mkimage
		sha256sum <"$ROOT/hack/e2e-images/postgres/entrypoint.sh"
	} | sha256sum | cut -c1-12).tar"
	for d in "$TREE"/layer-*.tar.gz "$TREE"/image-*.tar; do # older sources or flags
		[[ ! -e "$d" || "$d" == "$layer" || "$d" == "$image" ]] || rm -f -- "$d"
	done
	if [[ -f "$image" ]]; then
		log "$PG_REF: cached $image"
	else # mkimage writes a temporary file beside OUT and renames it
		mkimage "${args[@]:0:4}" "$image" "${args[@]:4}"
	fi
	deliver "$image" "$out"
}

# deliver CACHED OUT: a copy of CACHED, renamed to OUT when complete.
deliver() {
	DELIVERY=$(mktemp "${2%/*}/.delivery-XXXXXX.tar")
	cp -- "$1" "$DELIVERY"
	chmod 0644 "$DELIVERY"
	mv -f -- "$DELIVERY" "$2"
	DELIVERY=""
}

# ---------------------------------------------------------------------------
# the CSI sidecars

# sidecar_versions: "NAME VERSION" for each sidecar, the versions of their
# modules in tests/e2e/go.mod (a replacement's, if one).
sidecar_versions() {
	local s name mod mods=() vers
	for s in "${SIDECARS[@]}"; do mods+=("${s#* }"); done
	vers=$(cd "$ROOT/tests/e2e" && "$GO" list -m \
		-f '{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}' "${mods[@]}") ||
		die "go list -m in tests/e2e failed"
	for s in "${SIDECARS[@]}"; do
		name=${s%% *} mod=${s#* }
		awk -v m="$mod" -v n="$name" '$1 == m && $2 ~ /^v[0-9]/ { print n, $2; found = 1 }
			END { exit !found }' <<<"$vers" || die "tests/e2e/go.mod pins no version of $mod"
	done
}

# shared_libs BINARY: the files the dynamic linker loads for BINARY on this
# host (ldd's paths, the interpreter included), one a line.
shared_libs() {
	local bin=$1 libs
	file -L "$bin" | grep -q 'statically linked' && return 0
	libs=$(ldd "$bin") || die "ldd $bin failed: $libs"
	! grep -q 'not found' <<<"$libs" || die "$bin needs libraries this host lacks: $libs"
	awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$libs"
}

# sidecar_image NAME TAG BINARY OUT: a tree of BINARY's libraries (their
# host paths) with /etc and /tmp, BINARY at /NAME; cached in IMAGES by its
# inputs' hash, since gzip takes seconds for each 100 MiB binary.
sidecar_image() {
	local name=$1 tag=$2 bin=$3 out=$4 list libs=() lib rootfs key cached d
	list=$(shared_libs "$bin")
	[[ -z "$list" ]] || mapfile -t libs <<<"$list"
	key=$({
		printf 'version=%s\ntag=%s\nmkimage=%s\n' "$SIDECAR_VERSION" "$tag" "$(sources_hash)"
		declare -f sidecar_image shared_libs mkimage
		sha256sum "$bin" "${libs[@]}" | cut -d' ' -f1
		printf 'lib=%s\n' "${libs[@]}"
	} | sha256sum | cut -c1-12)
	cached="$IMAGES/$name-$key.tar"
	if [[ ! -f "$cached" ]]; then
		rootfs="$TMP/$name"
		mkdir -p "$rootfs/etc" "$rootfs/tmp"
		chmod 1777 "$rootfs/tmp"
		for lib in "${libs[@]}"; do
			mkdir -p "$rootfs${lib%/*}"
			cp -L -- "$lib" "$rootfs$lib"
		done
		# It starts there (the binary goes into the image's second layer).
		cp -- "$bin" "$rootfs/$name"
		env -i "$(command -v chroot)" "$rootfs" "/$name" --version >&2 || die "$name does not start in its tree"
		rm -f -- "$rootfs/$name"
		mkimage "$rootfs" "$bin" "/$name" "$tag" "$cached" \
			-label "org.opencontainers.image.description=$name ${tag##*:} for the kubelet e2e test, from tests/e2e/go.mod"
		for d in "$IMAGES/$name"-*.tar; do # for other binaries
			[[ "$d" == "$cached" ]] || rm -f -- "$d"
		done
	else
		log "$tag: cached $cached"
	fi
	deliver "$cached" "$out"
}

# ---------------------------------------------------------------------------

images() {
	local out=$1 bin=${2:-} applet name version versions lines=()
	[[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install -y busybox-static"
	file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static: apt-get install -y busybox-static"
	command -v "$GO" >/dev/null || die "$GO is not in PATH"
	if [[ -n "$bin" ]]; then
		[[ $EUID -eq 0 ]] || die "must run as root with BIN (debootstrap, chroot)"
		[[ "$CACHE" =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
			die "CEPHFS_CSI_CACHE '$CACHE' must be an absolute path of [A-Za-z0-9_./+-]"
		for name in "${SIDECARS[@]}"; do
			[[ -x "$bin/${name%% *}" ]] || die "$bin has no ${name%% *} (run hack/e2e-tools.sh)"
		done
	fi
	mkdir -p "$out"
	TMP=$(mktemp -d)
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	"$GO" -C "$ROOT/hack/image" build -o "$TMP/mkimage" ./cmd/mkimage || die "building mkimage failed"
	MKIMAGE="$TMP/mkimage"
	(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags=-s -o "$TMP/pause" ./hack/e2e-images/pause)
	mkdir -p "$TMP/empty" "$TMP/busybox/bin" "$TMP/busybox/tmp"
	chmod 1777 "$TMP/busybox/tmp"
	mkimage "$TMP/empty" "$TMP/pause" /pause "$PAUSE_REF" "$out/pause.tar" -check-libs=false
	lines+=("$out/pause.tar $PAUSE_REF")
	for applet in $(/bin/busybox --list); do
		[[ "$applet" == busybox ]] || ln -s busybox "$TMP/busybox/bin/$applet"
	done
	mkimage "$TMP/busybox" /bin/busybox /bin/busybox "$BUSYBOX_REF" "$out/busybox.tar" -check-libs=false
	lines+=("$out/busybox.tar $BUSYBOX_REF")
	if [[ -n "$bin" ]]; then
		mkdir -p "$IMAGES"
		# One build at a time on this machine: the trees and images are
		# shared, and old ones are removed while nobody reads them.
		exec 5>"$IMAGES/.lock"
		flock -w "$LOCK_WAIT" 5 || die "timed out waiting for another $PROG"
		# mkimage's temporary files, if one was killed
		rm -rf -- "$IMAGES"/.mkimage-* "$IMAGES"/.layer-* "$IMAGES"/postgres-*/.mkimage-* \
			"$IMAGES"/postgres-*/.layer-*
		postgres_image "$out/postgres.tar"
		lines+=("$out/postgres.tar $PG_REF")
		versions=$(sidecar_versions)
		while read -r name version; do
			sidecar_image "$name" "$SIDECAR_REPOSITORY/$name:$version" "$bin/$name" "$out/$name.tar"
			lines+=("$out/$name.tar $SIDECAR_REPOSITORY/$name:$version")
		done <<<"$versions"
		exec 5>&-
	fi
	printf '%s\n' "${lines[@]}"
}

main() {
	if [[ "${1:-}" == _chroot-enter ]]; then
		shift
		chroot_enter "$@"
		return
	fi
	[[ ($# -eq 2 || $# -eq 3) && "$1" == images ]] || usage
	images "${@:2}"
}

main "$@"
