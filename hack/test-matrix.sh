#!/usr/bin/env bash
# hack/test-matrix.sh - the test suite against newer Ceph releases.
#
# Usage: hack/test-matrix.sh [RELEASE]...     (default: reef tentacle)
#        (GO names the go command, default go; GOTEST_FLAGS are passed to go test)
#
# For each release, one after the other: boot a shared and a fault cluster of
# that release (hack/cluster.sh --ceph RELEASE, daemons from the root that
# hack/ceph-root.sh caches), then run `go test ./...` twice against them:
#   host    the driver built on this machine, a Debian 12 / Pacific client:
#           what a user running an older image against a newer cluster sees;
#   native  the driver compiled inside the release's root against its own
#           headers and libraries, tests using that release's ceph-fuse and
#           ceph CLI: what the image that ships that client sees.
# Then the clusters are wiped. Logs: _build/matrix/RELEASE-{host,native}.log;
# a summary line per run (passed, failed, skipped tests; seconds) at the end.

set -euo pipefail

readonly PROG="${0##*/}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
readonly BUILD="$ROOT/_build"
readonly CACHE="${CEPHFS_CSI_CACHE:-/var/cache/cephfs-csi}"
readonly GO=${GO:-go}
readonly GOTEST_FLAGS=${GOTEST_FLAGS:--count=1 -timeout 30m}
SUMMARY=()
FAILURES=()

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

log() {
	echo "$PROG: $*" >&2
}

# clusters_up RELEASE: the shared and the fault cluster of RELEASE.
clusters_up() {
	"$ROOT/hack/cluster.sh" up "$BUILD/cluster-$1" --ceph "$1" --name "$1" >&2
	"$ROOT/hack/cluster.sh" up "$BUILD/cluster-$1-fault" --ceph "$1" --name "$1-fault" >&2
}

clusters_wipe() {
	"$ROOT/hack/cluster.sh" wipe "$BUILD/cluster-$1" >&2 || true
	"$ROOT/hack/cluster.sh" wipe "$BUILD/cluster-$1-fault" >&2 || true
}

# summarize NAME LOG SECONDS RC: one line from a `go test -v` log.
summarize() {
	local pass fail skip
	pass=$(grep -cE '^\s*--- PASS' "$2" || true)
	fail=$(grep -cE '^\s*--- FAIL' "$2" || true)
	skip=$(grep -cE '^\s*--- SKIP' "$2" || true)
	SUMMARY+=("$(printf '%-18s %4d passed %3d failed %3d skipped %5d s  rc=%d' "$1" "$pass" "$fail" "$skip" "$3" "$4")")
	# csi-sanity prints its own count, in colour
	sed 's/\x1b\[[0-9;]*m//g' "$2" | grep -hoE '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' |
		sed "s|^|$1 csi-sanity: |" >&2 || true
	# CI keeps only what is printed: name each failure with the lines before
	# it (the test's own t.Error output is there), the log stays in _build.
	if ((fail)); then
		grep -B 30 -E '^\s*--- FAIL' "$2" | sed "s|^|$1: |" >&2 || true
		FAILURES+=("$(failure_digest "$1" "$2")")
	elif (($4)); then
		# no test failed, yet the run did: a timeout's or a panic's lines, or a
		# package that did not build
		FAILURES+=("$(grep -m 8 -E '^(panic: |FAIL\s|# |\S+\.go:[0-9]+:[0-9]+: )' "$2" | sed "s|^|$1: |")")
	fi
}

# failure_digest NAME LOG: each failed test with its own t.Error/t.Log lines
# (go test -v indents them; the driver's klog lines are not), at most 12 a
# test. main prints these last: CI shows only the tail of what make prints,
# and three more runs follow a failure.
failure_digest() {
	awk -v name="$1" '
		/^[[:space:]]*--- FAIL/ { for (i = 0; i < n; i++) print name ": " buf[i]; print name ": " $0; n = 0; next }
		/^[[:space:]]*--- (PASS|SKIP)/ || /^=== / { n = 0; next }
		/^    / { if (n < 12) buf[n++] = $0 }
	' "$2"
}

# run_tests NAME LOG CMD...: run a test command with the release's clusters in
# the environment, logging to LOG; never stops the matrix.
run_tests() {
	local name=$1 log=$2 start=$SECONDS rc=0
	shift 2
	log "$name: running (log: $log)"
	"$@" >"$log" 2>&1 || rc=$?
	summarize "$name" "$log" $((SECONDS - start)) "$rc"
	log "${SUMMARY[-1]}"
	return "$rc"
}

# test_release RELEASE: both runs against RELEASE's clusters.
test_release() {
	local r=$1 rc=0 env
	clusters_up "$r"
	env=(CI="${CI:-}" CEPHFS_CSI_CLUSTER="$BUILD/cluster-$r" CEPHFS_CSI_FAULT_CLUSTER="$BUILD/cluster-$r-fault")
	# shellcheck disable=SC2086 # GOTEST_FLAGS are separate words
	run_tests "$r/host" "$BUILD/matrix/$r-host.log" \
		env "${env[@]}" "$GO" test $GOTEST_FLAGS -v ./... || rc=1
	# Inside the root: the host's Go toolchain and module cache, a build
	# cache of the release's own (cgo objects built against Pacific's
	# headers must never be reused), the repository at the same path.
	local gobin gocache="$CACHE/gocache-$r"
	gobin=$(command -v "$GO") || die "$GO is not in PATH"
	gobin=$(realpath "$gobin")
	mkdir -p "$gocache" "$("$GO" env GOMODCACHE)"
	# shellcheck disable=SC2086 # GOTEST_FLAGS are separate words
	run_tests "$r/native" "$BUILD/matrix/$r-native.log" \
		"$ROOT/hack/ceph-root.sh" run "$r" --bind "$(dirname "$(dirname "$gobin")")" \
		--bind "$("$GO" env GOMODCACHE)" --bind "$gocache" -- \
		env "${env[@]}" GOCACHE="$gocache" GOMODCACHE="$("$GO" env GOMODCACHE)" \
		GOTOOLCHAIN=local "$gobin" test $GOTEST_FLAGS -v ./... || rc=1
	clusters_wipe "$r"
	return "$rc"
}

main() {
	local releases=("$@") r rc=0 start=$SECONDS
	((${#releases[@]})) || releases=(reef tentacle)
	[[ $EUID -eq 0 ]] || die "must run as root (clusters, chroot, mounts)"
	mkdir -p "$BUILD/matrix"
	cd "$ROOT"
	for r in "${releases[@]}"; do
		test_release "$r" || rc=1
	done
	printf '%s\n' "test matrix (${releases[*]}) in $((SECONDS - start)) s:" "${SUMMARY[@]}"
	((${#FAILURES[@]} == 0)) || printf '%s\n' "failed tests:" "${FAILURES[@]}"
	return "$rc"
}

main "$@"
