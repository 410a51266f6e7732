#!/usr/bin/env bash
# hack/bench.sh - run hack/csibench against the driver on an embedded cluster
# (make bench, make bench-short).
#
# Usage: hack/bench.sh [--short] CLUSTER_DIR DRIVER_BIN RUN_DIR [CSIBENCH_FLAG...]
#
# Writes the run config into RUN_DIR (hack/runconfig: config.json,
# secrets.yaml, parameters.yaml), starts the driver there with its log in
# RUN_DIR/driver.log, runs csibench on it, stops the driver and checks that
# nothing is left below RUN_DIR: no mount, no key file. --short runs small
# counts, no scale step and 16 MiB of data (what make test runs).
#
# The driver runs in a session of its own, so that Ctrl-C reaches only
# csibench, which then removes what it created through the driver before
# this script stops it.

set -euo pipefail

short=0
if [[ ${1:-} == --short ]]; then
	short=1
	shift
fi
if (($# < 3)); then
	echo "usage: ${0##*/} [--short] CLUSTER_DIR DRIVER_BIN RUN_DIR [CSIBENCH_FLAG...]" >&2
	exit 2
fi
cluster=$1 bin=$2 dir=$3
shift 3
GO=${GO:-go}
cd "$(dirname "$0")/.."

"$GO" run ./hack/runconfig "$cluster" "$dir"
"$GO" build -o "$dir/csibench" ./hack/csibench
mkdir -p "$dir/keys" "$dir/work"
sock=$dir/csi.sock
rm -f "$sock"

pid=
stop_driver() {
	local rc=$? left
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	left=$(awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
	if [[ -n $left ]]; then
		echo "bench: mounts left below $dir:" "$left" >&2
		rc=1
	fi
	if [[ -n $(ls -A "$dir/keys") ]]; then
		echo "bench: key files left in $dir/keys" >&2
		rc=1
	fi
	if ((rc != 0)); then
		echo "bench: the driver's log: $dir/driver.log" >&2
	fi
	exit "$rc"
}
trap stop_driver EXIT

# setsid execs the driver in place (a background job of a shell without job
# control is no process group leader), so $! is the driver's pid.
setsid "$bin" --mode=all --endpoint="unix://$sock" --nodeid=csibench --cluster-config="$dir/config.json" \
	--keys-dir="$dir/keys" -v=2 </dev/null >"$dir/driver.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	[[ -S $sock ]] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		tail -20 "$dir/driver.log" >&2
		exit 1
	fi
	sleep 0.1
done
[[ -S $sock ]] || { echo "bench: the driver did not listen on $sock within 30 s" >&2; exit 1; }

flags=()
if ((short)); then
	flags=(--count 4 --clones 2 --data-mib 16 --scale 0 --staged 2)
fi
"$dir/csibench" --endpoint "unix://$sock" --parameters "$dir/parameters.yaml" --secrets "$dir/secrets.yaml" \
	--cluster-config "$dir/config.json" --driver-pid "$pid" --work-dir "$dir/work" "${flags[@]}" "$@"
