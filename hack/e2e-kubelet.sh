#!/usr/bin/env bash
# hack/e2e-kubelet.sh - build the images the kubelet e2e test (TestKubelet in
# tests/e2e) runs, without a registry or a container engine:
#   registry.k8s.io/pause:3.10   a static Go pause (hack/e2e-images/pause)
#   e2e.local/busybox:latest     Debian's busybox-static, with its applet links
# each a docker-archive that `ctr -n k8s.io images import` loads. The driver's
# own image comes from hack/image.sh --version e2e, which the test runs.
#
# Usage: hack/e2e-kubelet.sh images DIR   writes DIR/pause.tar, DIR/busybox.tar
#        (GO names the go command, default go)

set -euo pipefail

readonly PROG="${0##*/}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
readonly ROOT
readonly GO=${GO:-go}
readonly PAUSE_REF=registry.k8s.io/pause:3.10
readonly BUSYBOX_REF=e2e.local/busybox:latest

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

# mkimage ROOTFS BINARY PATH TAG OUT: a two-layer image (ROOTFS, then BINARY
# at PATH, the entrypoint).
mkimage() {
	(cd "$ROOT/hack/image" && "$GO" run ./cmd/mkimage -rootfs "$1" -binary "$2" \
		-binary-path "$3" -tag "$4" -check-libs=false -out "$5") >&2
}

images() {
	local out=$1 applet
	[[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install -y busybox-static"
	file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static: apt-get install -y busybox-static"
	mkdir -p "$out"
	tmp=$(mktemp -d) # global: the EXIT trap runs after images returns
	trap 'rm -rf -- "$tmp"' EXIT
	(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags=-s -o "$tmp/pause" ./hack/e2e-images/pause)
	mkdir -p "$tmp/empty" "$tmp/busybox/bin" "$tmp/busybox/tmp"
	chmod 1777 "$tmp/busybox/tmp"
	mkimage "$tmp/empty" "$tmp/pause" /pause "$PAUSE_REF" "$out/pause.tar"
	for applet in $(/bin/busybox --list); do
		[[ "$applet" == busybox ]] || ln -s busybox "$tmp/busybox/bin/$applet"
	done
	mkimage "$tmp/busybox" /bin/busybox /bin/busybox "$BUSYBOX_REF" "$out/busybox.tar"
	echo "$out/pause.tar $PAUSE_REF"
	echo "$out/busybox.tar $BUSYBOX_REF"
}

main() {
	[[ $# -eq 2 && "$1" == images ]] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
	images "$2"
}

main "$@"
