#!/usr/bin/env bash
# hack/e2e-tools.sh - build, or reuse, the programs the Kubernetes e2e test
# runs: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kubectl, crictl, csi-provisioner, csi-resizer, csi-snapshotter and
# snapshot-controller, all from the `tool`
# lines of tests/e2e/go.mod (the versions are pinned there).
#
# Usage: hack/e2e-tools.sh      prints the directory holding the binaries
#        (GO names the go command, default go)
#
# The binaries are kept in $CEPHFS_CSI_CACHE/e2e-bin/<sha256 of tests/e2e/go.sum>/
# (default /var/cache/cephfs-csi: machine-wide, so a fresh clone reuses them), so a
# change of any pinned version builds a new set; sets unused for a week are removed. A
# cold build takes about 8 minutes on 2 cores (about 3 GiB of memory, 4 GiB of
# Go build cache); with the build cache warm it takes about 20 seconds.

set -euo pipefail

readonly PROG="${0##*/}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
readonly MODULE="$ROOT/tests/e2e"
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}/e2e-bin"
readonly GO=${GO:-go}
# What the test starts; etcd's main package is its module's root, which
# `go build` names "server".
readonly BINARIES=(etcd kube-apiserver kube-controller-manager kubectl
	csi-provisioner csi-resizer csi-snapshotter snapshot-controller
	kube-scheduler kubelet crictl)

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

log() {
	echo "$PROG: $*" >&2
}

# complete DIR: true if DIR holds every binary.
complete() {
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x "$1/$b" ]] || return 1
	done
}

# build DIR: build every tool of the module into DIR.
build() {
	local out=$1 tmp start kver
	# Kubernetes binaries built from the module proxy report v0.0.0 unless told
	# their version (the kubelet's is checked against the API server's).
	kver=$(cd "$MODULE" && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes) || die "no k8s.io/kubernetes in $MODULE"
	tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
	chmod 0755 "$tmp"
	start=$SECONDS
	log "building the e2e tools into $out (cold: about 8 minutes)"
	if ! (cd "$MODULE" && "$GO" build -ldflags "-X k8s.io/component-base/version.gitVersion=$kver" -o "$tmp/" tool) >&2; then
		rm -rf -- "$tmp"
		die "go build of the tools in $MODULE failed"
	fi
	mv "$tmp/server" "$tmp/etcd"
	complete "$tmp" || { rm -rf -- "$tmp"; die "the build of $MODULE's tools did not produce all of: ${BINARIES[*]}"; }
	rm -rf -- "$out"
	mv "$tmp" "$out"
	log "built in $((SECONDS - start)) s"
}

# prune KEEP: remove the sets built for other versions of go.sum that no
# one used for a week. The cache is machine-wide: clones at other commits
# (or a branch under test) may be using another set right now.
prune() {
	local d
	for d in "$CACHE"/*/; do
		d=${d%/}
		[[ "$d" == "$1" ]] && continue
		[[ -n "$(find "$d" -maxdepth 0 -mtime +7)" ]] && rm -rf -- "$d"
	done
	return 0
}

main() {
	[[ $# -eq 0 ]] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
	command -v "$GO" >/dev/null || die "$GO is not in PATH"
	mkdir -p "$CACHE"
	local key dir
	key=$(sha256sum "$MODULE/go.sum" | cut -d' ' -f1)
	dir="$CACHE/$key"
	# One build at a time; a second caller waits and then reuses it.
	exec 9>"$CACHE/.lock"
	flock -w 1800 9 || die "timed out waiting for another $PROG to finish"
	if ! complete "$dir"; then
		rm -rf -- "$CACHE"/.build.* # left by an interrupted build
		build "$dir"
	fi
	touch "$dir" # last use, for prune
	prune "$dir"
	echo "$dir"
}

main "$@"
