#!/usr/bin/env bash
# hack/cluster.sh - boot an embedded, throw-away, one-node Ceph cluster for
# development and tests of the CephFS CSI driver.
#
# Usage:
#   hack/cluster.sh up     DIR [--name NAME] [--fs FS] [--group GROUP] [--port PORT] [--ceph RELEASE] [--address IP]
#                              [--profile default|seed]
#   hack/cluster.sh down   DIR   # stop all daemons of the cluster (keeps DIR)
#   hack/cluster.sh wipe   DIR   # down + rm -rf DIR
#   hack/cluster.sh status DIR   # print "healthy" and exit 0 if usable, else exit 1
#   hack/cluster.sh env    DIR   # print shell-sourceable CEPH_* variables (as DIR/cluster.json)
#   hack/cluster.sh mon-stop  DIR  # stop only the monitor (simulate a lost cluster)
#   hack/cluster.sh mon-start DIR  # restart the monitor and wait until usable
#   hack/cluster.sh daemon-kill  DIR DAEMON  # SIGKILL one daemon (osd.1, mds.a, ...), as a crash would
#   hack/cluster.sh daemon-start DIR DAEMON  # start one daemon of the cluster again
#   hack/cluster.sh daemon-pause  DIR DAEMON # SIGSTOP one daemon: silent, its connections open (a vanished host)
#   hack/cluster.sh daemon-resume DIR DAEMON # SIGCONT it
#
# The cluster runs as root without systemd, entirely inside DIR and on one
# IPv4 address, IP (127.0.0.1 unless --address says otherwise): one mon
# (msgr2 only), one mgr (volumes module), one OSD backed by memstore (RAM,
# data is lost when the OSD stops), one MDS, one CephFS filesystem (pools
# FS-metadata, FS-data0 and the extra data pool FS-data1) and one subvolume
# group. Several clusters can run side by side: each one gets its own mon
# port (3300, else the first free port in 3301..3399) and its own range of
# daemon ports (6800-6899 for mon port 3300, +100 per mon port).
#
# --address IP: every daemon binds and advertises IP, a dotted-quad IPv4
# address of an interface of the network namespace `up` runs in (e.g. a
# bridge that a VM is attached to, inside `ip netns exec NS`); the loopback
# interface must be up there too, since local traffic goes through it
# whatever the address. `up` remembers IP in DIR/cluster.env: later commands
# use it without being told, and `up` refuses another address while the
# cluster's daemons run (`down` it first). Commands that talk to the cluster
# (up, status, mon-start) must run in the daemons' network namespace; down,
# wipe and mon-stop only signal processes and work from anywhere.
#
# --profile seed boots a cluster shaped like the seed's own Ceph instead:
# three OSDs on file-backed BlueStore (DIR/osd.N/block, a sparse file; EC
# overwrites need BlueStore: memstore OSDs are refused), replicated pools of
# size 3 (min_size 2), the EC 2+1 data pool FS-data-ec (erasure-code profile
# ec-2-1, failure domain osd, allow_ec_overwrites) added to the filesystem
# beside FS-data0 and FS-data1, two MDS (mds.b in standby-replay) and two
# mgrs (mgr.y standby). Its OSDs keep their data across restarts, so `up`
# restarts any dead daemon of it instead of re-creating it. The default
# profile is the one-OSD memstore cluster described above.
#
# RELEASE is the Ceph release of the daemons: pacific (the default, the
# host's Debian 12 packages), reef or tentacle (from a Debian root that
# hack/ceph-root.sh builds once and caches; see "Ceph releases" below).
#
# `up` writes DIR/cluster.json (0600: it holds the admin key), the cluster's
# description for programs: tests/clusterdesc reads it. `env` prints the
# same values as shell variables.
#
# Monitor addresses: the mon speaks msgr2 only. Clients may use either
# "IP:PORT" or "v2:IP:PORT": for a bare address with a port other than 3300
# Pacific clients hunt both v1:... and v2:... in parallel and the v2 attempt
# wins.

set -euo pipefail

readonly PROG="${0##*/}"
readonly MON_PORT_FIRST=3300
readonly MON_PORT_LAST=3399
readonly MS_PORT_BASE=6800      # daemon port range of the cluster on mon port 3300
readonly MS_PORT_SPAN=100       # size of each cluster's daemon port range
readonly BOOT_TIMEOUT=${CLUSTER_BOOT_TIMEOUT:-120}  # seconds to wait until usable
readonly CLI_TIMEOUT=20         # hard limit for one ceph CLI call
readonly CONNECT_TIMEOUT=10     # --connect-timeout of one ceph CLI call
readonly MEMSTORE_BYTES=$((4 * 1024 * 1024 * 1024))
readonly MARKER=".hack-cluster-sh"    # marks DIR as created by this script
readonly DEFAULT_ADDRESS=127.0.0.1    # IP without --address (and of clusters booted before it)
readonly DESC_VERSION=1               # format of DIR/cluster.json (tests/clusterdesc.Version)
readonly GLOBAL_LOCK="/tmp/.hack-cluster-sh.lock"   # serialises port selection
# DAEMONS: the daemons of the cluster's profile (set_profile).
DAEMONS=(mon.a mgr.x osd.0 mds.a)
readonly PROFILES="default seed"
readonly SEED_DAEMONS=(mon.a mgr.x mgr.y osd.0 osd.1 osd.2 mds.a mds.b)
readonly SEED_BLOCK_BYTES=$((4 * 1024 * 1024 * 1024)) # each OSD's sparse BlueStore file
readonly SEED_EC_PROFILE=ec-2-1
readonly PACKAGES=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-common libcephfs-dev librados-dev)

# Cluster settings; loaded from / saved to DIR/cluster.env.
DIR="" NAME="" FS="" GROUP="" PORT="" FSID="" RELEASE="" ADDRESS="" PROFILE=default
ADDRESS_ORIGIN="" # where ADDRESS comes from, for error messages
PREV_PORT=""   # mon port of a cluster being re-created: tried first
CONF="" KEYRING=""

# ---------------------------------------------------------------------------
# helpers

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

log() {
	echo "$PROG: $*" >&2
}

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() {
	local s ns
	read -r s ns < <(date '+%s %N')
	echo $((s * 1000 + 10#$ns / 1000000))
}

# cephcli runs the ceph CLI against this cluster, always bounded in time.
cephcli() {
	timeout --kill-after=5 "$CLI_TIMEOUT" \
		ceph -c "$CONF" --connect-timeout "$CONNECT_TIMEOUT" "$@"
}

# cephcli_quick is cephcli with short timeouts, for health probes.
cephcli_quick() {
	timeout --kill-after=2 5 ceph -c "$CONF" --connect-timeout 3 "$@"
}

# port_listening PORT: true if something listens on TCP PORT (any address).
port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	# state 0A == LISTEN; local address column is ADDR:PORT in hex.
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# set_paths DIR: normalise DIR and derive the file names from it.
set_paths() {
	[[ -n "${1:-}" ]] || die "missing DIR argument"
	DIR=$(realpath -m -- "$1")
	[[ "$DIR" =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
		die "DIR '$DIR' must only contain [A-Za-z0-9_./+-] (it ends up in ceph.conf and env lines)"
	[[ "$DIR" != "/" && "$DIR" != "/tmp" && "$DIR" != "$HOME" ]] || die "refusing to use DIR '$DIR'"
	CONF="$DIR/ceph.conf"
	KEYRING="$DIR/keyring.admin"
}

# load_env: read DIR/cluster.env written by save_env.
load_env() {
	[[ -f "$DIR/cluster.env" ]] || die "no cluster in $DIR (missing $DIR/cluster.env); run '$PROG up $DIR' first"
	local k v
	while IFS='=' read -r k v; do
		case "$k" in
		NAME) NAME=$v ;;
		FS) FS=$v ;;
		GROUP) GROUP=$v ;;
		PORT) PORT=$v ;;
		FSID) FSID=$v ;;
		RELEASE) RELEASE=$v ;;
		ADDRESS) ADDRESS=$v ;;
		PROFILE) PROFILE=$v ;;
		*) ;; # written by a newer version of this script: not ours to read
		esac
	done <"$DIR/cluster.env"
	[[ -n "$PORT" && -n "$FS" && -n "$GROUP" && -n "$FSID" ]] || die "$DIR/cluster.env is incomplete"
	RELEASE=${RELEASE:-pacific} # clusters booted before releases were a choice
	set_release
	set_profile
	ADDRESS=${ADDRESS:-$DEFAULT_ADDRESS} # clusters booted before --address
	ADDRESS_ORIGIN="remembered in $DIR/cluster.env"
	check_address "$ADDRESS" "ADDRESS in $DIR/cluster.env"
}

# is_cluster_dir: DIR was created by this script (possibly a failed boot).
is_cluster_dir() { [[ -f "$DIR/$MARKER" || -f "$DIR/cluster.env" ]]; }

# env_complete: DIR/cluster.env exists and is complete.
env_complete() { (load_env) >/dev/null 2>&1; }

save_env() {
	printf 'NAME=%s\nFS=%s\nGROUP=%s\nPORT=%s\nFSID=%s\nRELEASE=%s\nADDRESS=%s\n' \
		"$NAME" "$FS" "$GROUP" "$PORT" "$FSID" "$RELEASE" "$ADDRESS" >"$DIR/cluster.env"
	# the default profile's cluster.env stays as it was before profiles
	[[ "$PROFILE" == default ]] || printf 'PROFILE=%s\n' "$PROFILE" >>"$DIR/cluster.env"
}

# set_profile: check PROFILE and set DAEMONS for it.
set_profile() {
	[[ " $PROFILES " == *" $PROFILE "* ]] || die "unknown cluster profile '$PROFILE' (want one of: $PROFILES)"
	case "$PROFILE" in
	seed) DAEMONS=("${SEED_DAEMONS[@]}") ;;
	*) DAEMONS=(mon.a mgr.x osd.0 mds.a) ;;
	esac
}

# load_profile: the profile of the cluster in DIR, if cluster.env names one,
# so that commands that only signal daemons (down, wipe) find them all.
load_profile() {
	local line
	line=$(grep -s '^PROFILE=' "$DIR/cluster.env") || line=""
	PROFILE=${line#PROFILE=}
	PROFILE=${PROFILE:-default}
	set_profile
}

# mon_addr_plain / mon_addr_v2 print the monitor address as clients give it.
mon_addr_plain() { echo "$ADDRESS:$PORT"; }
mon_addr_v2() { echo "v2:$ADDRESS:$PORT"; }

# ---------------------------------------------------------------------------
# the cluster's address

# check_address IP WHAT: fail unless IP is an IPv4 address in dotted-quad
# form (four decimal numbers 0..255, no leading zeros) that a daemon can
# bind and advertise; WHAT names where IP comes from.
check_address() {
	local ip=$1 what=$2 o
	if [[ ! "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		case "$ip" in
		"") die "$what is empty: want an IPv4 address such as 10.77.0.1" ;;
		*:*) die "$what '$ip' is not an IPv4 address: the cluster binds IPv4 only; want a dotted quad such as 10.77.0.1" ;;
		*/*) die "$what '$ip' has a prefix length: give the address alone (the cluster's public network is IP/32)" ;;
		*) die "$what '$ip' is not an IPv4 address in dotted-quad form: want four decimal numbers 0..255 separated by dots, such as 10.77.0.1 (no host names)" ;;
		esac
	fi
	local -a octets
	IFS=. read -r -a octets <<<"$ip"
	for o in "${octets[@]}"; do
		[[ "$o" == 0 || "$o" != 0* ]] || die "$what '$ip': octet '$o' has a leading zero (octal to some parsers); write it without"
		((${#o} <= 3 && 10#$o <= 255)) || die "$what '$ip': octet '$o' is greater than 255"
	done
	o=${octets[0]}
	((o != 0)) || die "$what '$ip' is in 0.0.0.0/8 (\"this network\", 0.0.0.0 binds every address): not an address a daemon can advertise"
	((o < 224 || o > 239)) || die "$what '$ip' is a multicast address: not an address a daemon can bind"
	((o < 240)) || die "$what '$ip' is in the reserved/broadcast range 240.0.0.0/4: not an address a daemon can bind"
}

# check_local_address: fail unless this network namespace can bind and reach
# ADDRESS: it must be local (on one of its interfaces, or in 127.0.0.0/8)
# and the loopback interface must be up, since local traffic goes through
# it whatever the address (with lo down, a daemon binds IP but nobody,
# itself included, can connect to it: the boot would time out).
check_local_address() {
	command -v ip >/dev/null 2>&1 || return 0 # cannot tell: a wrong address fails the boot
	local route link up_re='<([A-Z0-9_-]+,)*UP[,>]'
	route=$(ip -4 -o route get "$ADDRESS" 2>/dev/null) || route=""
	[[ "$route" == "local $ADDRESS "* ]] ||
		die "address $ADDRESS ($ADDRESS_ORIGIN) is not an address of this network namespace (see 'ip -4 addr'): assign it to an interface, or run $PROG inside the network namespace that has it (ip netns exec NS $PROG ...)"
	link=$(ip -o link show dev lo 2>/dev/null) || link=""
	[[ "$link" =~ $up_re ]] ||
		die "the loopback interface of this network namespace is down: local connections to $ADDRESS would hang ('ip link set lo up' first)"
}

# foreign_netns: if a running daemon of the cluster lives in another network
# namespace than this script, describe that namespace and succeed. Commands
# that talk to the cluster cannot reach it from here; `up` would mistake it
# for a dead cluster and re-create it.
foreign_netns() {
	local d pid ns mine name
	mine=$(readlink /proc/self/ns/net) || return 1
	for d in "${DAEMONS[@]}"; do
		pid=$(daemon_pid "$d") || continue
		ns=$(readlink "/proc/$pid/ns/net") || continue
		[[ "$ns" != "$mine" ]] || continue
		name=$(ip netns identify "$pid" 2>/dev/null) || name=""
		if [[ -n "$name" ]]; then
			echo "network namespace '$name' (ip netns exec $name ...)"
		else
			echo "network namespace $ns (that of pid $pid)"
		fi
		return 0
	done
	return 1
}

# check_netns: fail if the cluster's daemons run in another network namespace.
check_netns() {
	local where
	where=$(foreign_netns) || return 0
	die "the daemons of cluster '$NAME' ($DIR) run in $where, not in this one: run $PROG there"
}

# any_daemon_alive: true if some daemon of the cluster runs.
any_daemon_alive() {
	local d
	for d in "${DAEMONS[@]}"; do
		daemon_alive "$d" && return 0
	done
	return 1
}

# describe: the cluster's description, one "ENV_NAME jsonKey value" line per
# field (values never hold a newline). `env` and DIR/cluster.json are both
# printed from it so that the two cannot drift apart.
describe() {
	[[ -s "$DIR/admin.key" ]] || die "missing $DIR/admin.key"
	printf '%s %s %s\n' \
		CEPH_CONF conf "$CONF" \
		CEPH_KEYRING keyring "$KEYRING" \
		CEPH_MON mon "$(mon_addr_plain)" \
		CEPH_MON_V2 monV2 "$(mon_addr_v2)" \
		CEPH_ADMIN_KEY adminKey "$(<"$DIR/admin.key")" \
		CEPH_FSID fsid "$FSID" \
		CEPH_FS fsName "$FS" \
		CEPH_GROUP subvolumeGroup "$GROUP" \
		CEPH_EXTRA_POOL extraDataPool "$FS-data1" \
		CEPH_CLUSTER_NAME name "$NAME" \
		CEPH_CLUSTER_DIR dir "$DIR" \
		CEPH_RELEASE cephRelease "$RELEASE"
	# fields of the seed profile only: the default's description is as before
	[[ "$PROFILE" == seed ]] || return 0
	printf '%s %s %s\n' \
		CEPH_PROFILE profile "$PROFILE" \
		CEPH_EC_POOL ecDataPool "$FS-data-ec"
}

# json_string VALUE: VALUE as a JSON string. The values are paths, names and
# base64 keys checked when the cluster was created: only a backslash or a
# double quote (in a --name of an older version of this script) could need
# escaping.
json_string() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# write_desc: write DIR/cluster.json from describe. It holds the admin key:
# mode 0600 (mktemp's), and written to a temporary file then renamed, so that
# readers never see half of it.
write_desc() {
	local fields tmp key value
	fields=$(describe)
	tmp=$(mktemp "$DIR/.cluster.json.XXXXXX")
	{
		printf '{\n  "version": %d' "$DESC_VERSION"
		while read -r _ key value; do
			printf ',\n  "%s": %s' "$key" "$(json_string "$value")"
		done <<<"$fields"
		printf '\n}\n'
	} >"$tmp" || { rm -f "$tmp"; die "could not write $tmp"; }
	mv -f "$tmp" "$DIR/cluster.json"
}

# ---------------------------------------------------------------------------
# Ceph releases
#
# pacific (16.2) is Debian 12's own and runs from the host. Newer releases run
# from a Debian root that hack/ceph-root.sh builds and caches machine-wide:
# reef (18.2, Debian 13) and tentacle (20.2, Debian forky). The daemons and
# monmaptool run from the cluster's release; the ceph CLI and ceph-authtool
# are always the host's: tests drive every cluster with the host's tools, and
# the driver built on Debian 12 is a Pacific client — what a user running an
# older image against a newer cluster has. What differs per release is all
# here:
# - tentacle: the mon hands out tickets in the cipher the monmap prefers,
#   aes256k by default, which Pacific clients cannot decode ("failed to
#   decode"): the monmap prefers aes and still allows aes256k. (Keys made by
#   the host's ceph-authtool are aes, which every release reads; Tentacle's
#   own would be aes256k, "Malformed input" to a Pacific client.) Tentacle
#   then reports HEALTH_ERR through six AUTH_INSECURE_* checks: they are
#   muted, since accepting Pacific clients is the point of this cluster.
# - reef: the mgr's volumes module imports python3-bcrypt, a PyO3 module that
#   refuses Python sub-interpreters, so the module fails to load; the root
#   shadows bcrypt with a stub (hack/ceph-roots/bcrypt_stub.py).
# - every release: the OSD's class directory is set explicitly (objclass
#   plugins such as cephfs's are loaded from it).

readonly RELEASES="pacific reef tentacle"
ROOT_SCRIPT="$(cd "$(dirname "$0")" && pwd)/ceph-root.sh"
readonly ROOT_SCRIPT
# IN_RELEASE: the prefix that runs a command from the cluster's release.
IN_RELEASE=()

# set_release: check RELEASE and set IN_RELEASE for it.
set_release() {
	[[ " $RELEASES " == *" $RELEASE "* ]] || die "unknown Ceph release '$RELEASE' (want one of: $RELEASES)"
	IN_RELEASE=()
	case "${CEPHFS_CSI_ROOT_RELEASE:-}" in
	"") [[ "$RELEASE" == pacific ]] || IN_RELEASE=("$ROOT_SCRIPT" run "$RELEASE" --bind "$DIR" --) ;;
	"$RELEASE") ;; # already inside this release's root (hack/ceph-root.sh run)
	*) die "cluster of Ceph $RELEASE, but this runs inside the $CEPHFS_CSI_ROOT_RELEASE root" ;;
	esac
}

# ensure_release: make sure the release's root exists (hack/ceph-root.sh
# builds it the first time: a few minutes).
ensure_release() {
	[[ "$RELEASE" == pacific || ${#IN_RELEASE[@]} -eq 0 ]] && return 0
	"$ROOT_SCRIPT" "$RELEASE" >/dev/null || die "no root for Ceph $RELEASE (hack/ceph-root.sh $RELEASE failed)"
}

# AUTH_INSECURE_CHECKS: Tentacle's health checks against aes keys (see above).
readonly AUTH_INSECURE_CHECKS="AUTH_INSECURE_CLIENT_KEY_TYPE AUTH_INSECURE_KEYS_ALLOWED AUTH_INSECURE_KEYS_CREATABLE
AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE AUTH_INSECURE_SERVICE_KEY_TYPE AUTH_INSECURE_SERVICE_TICKETS"

# release_after_boot: what the release needs once the mon answers.
release_after_boot() {
	local c
	case "$RELEASE" in
	tentacle)
		for c in $AUTH_INSECURE_CHECKS; do
			mon_cmd "muting $c" health mute "$c" --sticky >/dev/null
		done
		;;
	*) ;;
	esac
}

# monmap_flags: monmaptool's extra flags for the release (see above).
monmap_flags() {
	case "$RELEASE" in
	tentacle) echo --auth-service-cipher aes --auth-allowed-ciphers aes,aes256k --auth-preferred-cipher aes ;;
	*) ;;
	esac
}

# ---------------------------------------------------------------------------
# packages

ensure_packages() {
	local missing=() b
	for b in ceph ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse ceph-authtool monmaptool; do
		command -v "$b" >/dev/null 2>&1 || missing+=("$b")
	done
	for b in /usr/include/cephfs/libcephfs.h /usr/include/rados/librados.h; do
		[[ -f "$b" ]] || missing+=("$b")
	done
	((${#missing[@]} == 0)) && return 0

	log "missing ${missing[*]}; installing ${PACKAGES[*]}"
	[[ $EUID -eq 0 ]] || die "missing ${missing[*]} and not root, cannot install ${PACKAGES[*]}"
	command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install ${PACKAGES[*]}"
	# Serialise concurrent installs (apt takes its own lock and fails fast).
	(
		flock -w 900 8 || exit 1
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >/tmp/.hack-cluster-sh.apt.log 2>&1 &&
			apt-get install -y -q "${PACKAGES[@]}" >>/tmp/.hack-cluster-sh.apt.log 2>&1
	) 8>"/tmp/.hack-cluster-sh.apt.lock" ||
		die "could not install ${PACKAGES[*]} (see /tmp/.hack-cluster-sh.apt.log)"
	for b in ceph-mon ceph-osd ceph-mds ceph-mgr ceph-fuse; do
		command -v "$b" >/dev/null 2>&1 || die "$b still missing after installing ${PACKAGES[*]}"
	done
}

# ---------------------------------------------------------------------------
# daemons

pid_file() { echo "$DIR/run/$1.pid"; }
log_file() { echo "$DIR/log/$1.log"; }

# daemon_pid NAME: print the pid of the running daemon NAME of this cluster.
# Fails if it is not running. The command line is checked so that a recycled
# pid never makes us report (or kill) an unrelated process.
daemon_pid() {
	local pf pid cmd
	pf=$(pid_file "$1")
	[[ -s "$pf" ]] || return 1
	pid=$(<"$pf")
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	proc_alive "$pid" || return 1
	[[ "$cmd" == *"ceph-${1%%.*}"*"$CONF"* ]] || return 1
	echo "$pid"
}

daemon_alive() { daemon_pid "$1" >/dev/null; }

# proc_alive PID: true if PID exists and is not a zombie (daemonised processes
# are re-parented to pid 1, which might be slow to reap them).
proc_alive() {
	local stat
	stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
	stat=${stat##*) }
	[[ "${stat:0:1}" != Z ]]
}

# daemon_died NAME: fail with the tail of the daemon's logs.
daemon_died() {
	{
		echo "$PROG: error: ceph daemon $1 of cluster '$NAME' ($DIR) is not running; last log lines:"
		tail -n 25 "$(log_file "$1")" 2>/dev/null || true
		tail -n 5 "$DIR/log/$1.out" 2>/dev/null || true
	} >&2
	exit 1
}

# start_daemon NAME: start ceph-TYPE -i ID; it daemonises itself and writes
# its pid file. setsid puts it in its own session (ceph-mds does not do that
# itself, so a Ctrl-C or a kill of the caller's process group would hit it),
# stdio goes to DIR/log/NAME.out so that callers capturing our output (e.g.
# Go's exec.Cmd.Output) never wait on the daemon, and fd 9 (the global lock)
# is closed so that the daemon does not inherit the lock.
start_daemon() {
	local name=$1 type=${1%%.*} id=${1#*.}
	rm -f "$(pid_file "$name")"
	if ! setsid -w "${IN_RELEASE[@]}" "ceph-$type" -c "$CONF" -i "$id" </dev/null >>"$DIR/log/$name.out" 2>&1 9>&-; then
		daemon_died "$name"
	fi
	# The pid file is written by the daemon right after it forked.
	local i
	for ((i = 0; i < 100; i++)); do
		daemon_alive "$name" && return 0
		sleep 0.05
	done
	daemon_died "$name"
}

# stop_daemon NAME [GRACE]: SIGTERM, then SIGKILL after GRACE (default 3) s.
# Ceph daemons need about 2 s (the MDS 5 s) to exit on SIGTERM; their data
# is throw-away (memstore) so a short grace period is enough.
stop_daemon() {
	local name=$1 grace=${2:-3} pid i
	pid=$(daemon_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			proc_alive "$pid" || break
			sleep 0.1
		done
	fi
	rm -f "$(pid_file "$name")"
}

# stop_all [GRACE]: stop all daemons of the cluster, in parallel.
stop_all() {
	local d
	for d in "${DAEMONS[@]}"; do
		stop_daemon "$d" "${1:-3}" &
	done
	wait
}

check_daemons() {
	local d
	for d in "${DAEMONS[@]}"; do
		daemon_alive "$d" || daemon_died "$d"
	done
}

# ---------------------------------------------------------------------------
# health

# fs_has_active_mds: true if the filesystem has an MDS in state up:active.
fs_has_active_mds() {
	local out
	out=$(cephcli_quick fs status "$FS" --format json 2>/dev/null) || return 1
	# one JSON object per line, then look for rank 0 in state active
	tr '{}' '\n' <<<"$out" | grep '"state": *"active"' | grep -qE '"rank": *0( *,|$)'
}

# usable: the mon answers, the MDS is active and the mgr volumes module
# answers for our subvolume group.
usable() {
	fs_has_active_mds || return 1
	cephcli_quick fs subvolume ls "$FS" --group_name "$GROUP" >/dev/null 2>&1
}

# healthy: all daemons run and the cluster is usable.
healthy() {
	local d
	for d in "${DAEMONS[@]}"; do
		daemon_alive "$d" || return 1
	done
	cephcli_quick fs subvolume ls "$FS" --group_name "$GROUP" >/dev/null 2>&1
}

timeout_with_status() {
	{
		echo "$PROG: error: timeout after ${BOOT_TIMEOUT}s waiting for $1 (cluster '$NAME' in $DIR); ceph -s:"
		cephcli_quick -s 2>&1 || true
	} >&2
	exit 1
}

# wait_for DESCRIPTION DEADLINE_MS COMMAND...: retry COMMAND until it succeeds,
# failing early if a daemon died and with `ceph -s` on timeout.
wait_for() {
	local what=$1 deadline=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		check_daemons
		(($(now_ms) < deadline)) || timeout_with_status "$what"
		sleep 0.25
	done
}

# ---------------------------------------------------------------------------
# configuration

# pick_port: choose the mon port (called with the global lock held).
pick_port() {
	if [[ -n "$PORT" ]]; then
		port_listening "$PORT" && die "requested mon port $PORT is already in use by another process"
		return 0
	fi
	local p
	for p in $PREV_PORT $(seq "$MON_PORT_FIRST" "$MON_PORT_LAST"); do
		port_listening "$p" && continue
		# Skip ports whose daemon port range is busy, too.
		port_listening "$(ms_port_min "$p")" && continue
		PORT=$p
		return 0
	done
	die "no free mon port in $MON_PORT_FIRST..$MON_PORT_LAST"
}

ms_port_min() { echo $((MS_PORT_BASE + ($1 - MON_PORT_FIRST) * MS_PORT_SPAN)); }

write_conf() {
	local msmin msmax
	msmin=$(ms_port_min "$PORT")
	msmax=$((msmin + MS_PORT_SPAN - 1))
	cat >"$CONF" <<EOF
# Generated by hack/cluster.sh for cluster "$NAME" - do not edit.
[global]
fsid = $FSID
mon host = [$(mon_addr_v2)]
mon initial members = a
public addr = $ADDRESS
public network = $ADDRESS/32
# else the OSD picks its cluster address by looking for an interface address
# in the public network: an address only routed locally (127.0.0.2) has none
cluster addr = $ADDRESS
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true
ms bind port min = $msmin
ms bind port max = $msmax
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
# keep everything inside $DIR
run dir = $DIR/run
crash dir = $DIR/crash
mon cluster log file = $DIR/log/\$cluster.\$channel.log
# one OSD: size-1 pools, few PGs, no redundancy warnings
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
$(pool_size_conf)
$(failure_conf)
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mgr initial modules = iostat
# commit mon updates quickly (default 1 s): faster pool/fs creation
paxos propose interval = 0.1

[client]
# no admin sockets for CLI/library clients (paths could get too long)
admin socket =

[mon]
mon data = $DIR/\$name
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok

[mgr]
mgr data = $DIR/\$name
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok

[osd]
osd data = $DIR/\$name
$(osd_store_conf)
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok

[mds]
mds data = $DIR/\$name
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok

[mon.a]
keyring = $DIR/mon.a/keyring

[mgr.x]
keyring = $DIR/keyring.mgr.x

[osd.0]
keyring = $DIR/keyring.osd.0

[mds.a]
keyring = $DIR/keyring.mds.a

[client.admin]
keyring = $KEYRING
EOF
	[[ "$PROFILE" == default ]] || seed_conf >>"$CONF"
}

# pool_size_conf: the replication of new pools: one copy on the default
# profile's single OSD, three (two to serve I/O) on the seed's three OSDs.
pool_size_conf() {
	case "$PROFILE" in
	seed) printf 'osd pool default size = 3\nosd pool default min size = 2\n' ;;
	*) printf 'osd pool default size = 1\nosd pool default min size = 1\n' ;;
	esac
}

# failure_conf: how the mon decides that an OSD which stopped answering is
# down. It wants reports from mon_osd_min_down_reporters (2) peers, counted by
# host (mon_osd_reporter_subtree_level): on one host that never happens, so a
# silent OSD (a vanished host, a hung process) stayed "up" and blocked its
# PGs' I/O for mon_osd_report_timeout (15 min; seen: still up after 90 s). The
# seed profile counts by OSD, as if each had a host of its own as in Rook.
# An OSD that dies is reported at once by its peers ("connection refused")
# whatever this says.
#
# An OSD marked down while it was alive (as a silent one is) counts as
# "laggy" in the osdmap from then on (laggy_probability > 0, which only
# fresh restarts shrink), and an MDS of Pacific 16.2.14+ then never evicts a
# dead client (defer_client_eviction_on_laggy_osds): the caps of a failed
# mgr's or a killed ceph-fuse's session stay held, and every mgr command on
# those directories waits (seen: TestMgrFailover's DeleteVolumes blocked for
# minutes after TestOSDRestart's silent OSD on a reused cluster). The seed
# profile turns that deferral off, so one test's silent OSD does not stall
# the next run's failovers.
SEED_FAILURE_SETTINGS=("mon mon_osd_reporter_subtree_level osd" "mds defer_client_eviction_on_laggy_osds false")
failure_conf() {
	[[ "$PROFILE" == seed ]] || return 0
	local setting who name value
	for setting in "${SEED_FAILURE_SETTINGS[@]}"; do
		read -r who name value <<<"$setting"
		printf '%s = %s\n' "$name" "$value"
	done
}

# osd_store_conf: the OSDs' object store. The seed profile's is BlueStore on
# a sparse file in the OSD's directory, since Ceph allows EC overwrites only
# on pools whose OSDs all are BlueStore ("pool must only be stored on
# bluestore for scrubbing to work: osd.0 uses memstore"). Its cache is fixed
# and small, and RocksDB's memtables (256 MiB each by default) are shrunk,
# so that three OSDs fit beside other clusters on a small machine.
osd_store_conf() {
	local classes="osd class dir = /usr/lib/x86_64-linux-gnu/rados-classes"
	case "$PROFILE" in
	seed)
		cat <<EOF
osd objectstore = bluestore
$classes
bluestore block create = true
bluestore block size = $SEED_BLOCK_BYTES
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 33554432
bluestore rocksdb options = compression=kNoCompression,max_write_buffer_number=2,min_write_buffer_number_to_merge=1,recycle_log_file_num=2,write_buffer_size=16777216,writable_file_max_buffer_size=0,compaction_readahead_size=2097152,max_background_compactions=1,max_total_wal_size=134217728
EOF
		;;
	*) printf 'osd objectstore = memstore\n%s\nmemstore device bytes = %s\n' "$classes" "$MEMSTORE_BYTES" ;;
	esac
}

# seed_conf: the keyrings of the seed profile's further daemons.
seed_conf() {
	local d
	for d in "${DAEMONS[@]}"; do
		case "$d" in
		mon.a | mgr.x | osd.0 | mds.a) ;;
		*) printf '\n[%s]\nkeyring = %s/keyring.%s\n' "$d" "$DIR" "$d" ;;
		esac
	done
}

# gen_key FILE NAME CAPS...: create FILE holding a new key for NAME.
gen_key() {
	local file=$1 name=$2
	shift 2
	ceph-authtool --create-keyring "$file" --gen-key -n "$name" "$@" >/dev/null
	chmod 0600 "$file"
}

# gen_daemon_key NAME: DIR/keyring.NAME for daemon NAME (mgr.x, osd.0, ...).
gen_daemon_key() {
	local file="$DIR/keyring.$1"
	case "$1" in
	mgr.*) gen_key "$file" "$1" --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' ;;
	osd.*) gen_key "$file" "$1" --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' ;;
	mds.*) gen_key "$file" "$1" \
		--cap mon 'allow profile mds' --cap mgr 'allow profile mds' --cap osd 'allow *' --cap mds 'allow' ;;
	*) die "no key for daemon '$1'" ;;
	esac
}

write_keys() {
	gen_key "$DIR/keyring.mon" mon. --cap mon 'allow *'
	gen_key "$KEYRING" client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
	local d k keys=("$KEYRING")
	for d in "${DAEMONS[@]}"; do
		[[ "$d" != mon.* ]] || continue
		gen_daemon_key "$d"
		keys+=("$DIR/keyring.$d")
	done
	# The mon is seeded with every key, so no `ceph auth` calls are needed.
	for k in "${keys[@]}"; do
		ceph-authtool "$DIR/keyring.mon" --import-keyring "$k" >/dev/null
	done
	(
		umask 077
		local key
		key=$(ceph-authtool -p -n client.admin "$KEYRING")
		printf '%s' "$key" >"$DIR/admin.key"
	)
}

# ---------------------------------------------------------------------------
# bootstrap

# mon_cmd DESCRIPTION ARGS...: run a ceph command that must succeed; print
# its stdout, fail with the last line of its stderr.
mon_cmd() {
	local what=$1 err="$DIR/log/cli.$BASHPID.err"
	shift
	cephcli "$@" 2>"$err" || die "$what failed: $(tail -n 1 "$err")"
	rm -f "$err"
}

# create_osd [ID]: register osd.ID (default 0), make its object store and
# start it.
create_osd() {
	local want=${1:-0} osd_uuid id
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	if ((want == 0)); then
		id=$(mon_cmd "'ceph osd new'" osd new "$osd_uuid")
	else # the seed profile's OSDs are created in parallel: ask for the id
		id=$(mon_cmd "'ceph osd new'" osd new "$osd_uuid" "$want")
	fi
	[[ "$id" == "$want" ]] || die "'ceph osd new' returned id '$id', expected $want"
	"${IN_RELEASE[@]}" ceph-osd -c "$CONF" -i "$want" --mkfs --osd-uuid "$osd_uuid" --no-mon-config \
		>>"$DIR/log/osd.$want.out" 2>&1 9>&- || daemon_died "osd.$want"
	start_daemon "osd.$want"
}

# create_fs: the filesystem with Rook-like pool names (FS-metadata and the
# default data pool FS-data0) plus the extra data pool FS-data1.
create_fs() {
	local p
	for p in metadata data0 data1; do
		mon_cmd "creating pool $FS-$p" osd pool create "$FS-$p" 8 8 >/dev/null
	done
	mon_cmd "'ceph fs new'" fs new "$FS" "$FS-metadata" "$FS-data0" >/dev/null
	mon_cmd "'ceph fs add_data_pool'" fs add_data_pool "$FS" "$FS-data1" >/dev/null
	# a single MDS: do not warn about missing standbys
	mon_cmd "'ceph fs set standby_count_wanted'" fs set "$FS" standby_count_wanted 0 >/dev/null
	# a killed client (tests kill ceph-fuse on purpose) holds capabilities
	# until the MDS drops its session; with the defaults (60 s, 300 s; 30 s is the least Ceph takes) every
	# mgr volumes command on the filesystem waits that long behind it
	mon_cmd "'ceph fs set session_timeout'" fs set "$FS" session_timeout 30 >/dev/null
	mon_cmd "'ceph fs set session_autoclose'" fs set "$FS" session_autoclose 30 >/dev/null
}

# on_create_exit: EXIT trap of create_cluster: never leave the daemons of a
# failed boot behind (the logs stay in DIR/log; the next `up` re-creates).
on_create_exit() {
	local rc=$?
	((rc != 0)) || return 0
	wait 2>/dev/null || true # a background create_osd could still start the OSD
	stop_all 1 >/dev/null 2>&1 || true
	log "boot of cluster '$NAME' failed; its daemons were stopped, logs are in $DIR/log"
	exit "$rc"
}

# create_cluster: bootstrap a brand new cluster in the (non-existing or
# empty) DIR. Settings come from NAME/FS/GROUP/PORT.
create_cluster() {
	local t0 deadline
	t0=$(now_ms)
	deadline=$((t0 + BOOT_TIMEOUT * 1000))
	mkdir -p "$DIR"/{run,log,crash}
	local d
	for d in "${DAEMONS[@]}"; do
		mkdir -p "$DIR/$d"
	done
	touch "$DIR/$MARKER"
	trap on_create_exit EXIT
	FSID=$(cat /proc/sys/kernel/random/uuid)

	# Port selection and mon start are serialised between concurrent runs
	# of this script so that two clusters never pick the same port.
	exec 9>"$GLOBAL_LOCK"
	flock -w 60 9 || die "timeout waiting for $GLOBAL_LOCK"
	pick_port
	save_env
	write_conf
	write_keys

	# shellcheck disable=SC2046 # monmap_flags prints separate words
	"${IN_RELEASE[@]}" monmaptool --create --clobber --fsid "$FSID" --addv a "[$(mon_addr_v2)]" \
		$(monmap_flags) "$DIR/monmap" >/dev/null
	"${IN_RELEASE[@]}" ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring.mon" \
		>>"$DIR/log/mon.a.out" 2>&1 9>&- || daemon_died mon.a
	start_daemon mon.a
	local i
	for ((i = 0; i < 100; i++)); do
		port_listening "$PORT" && break
		sleep 0.05
	done
	port_listening "$PORT" || daemon_died mon.a
	exec 9>&-

	# The OSD takes ~2 s to start: create it while the mon creates the
	# filesystem. mgr and MDS can start right away.
	if [[ "$PROFILE" == seed ]]; then
		seed_boot "$deadline"
	else
		start_daemon mgr.x
		start_daemon mds.a
		create_osd &
		local osd_job=$!
		release_after_boot
		create_fs
		wait "$osd_job" || exit 1
	fi

	wait_for "an active MDS" "$deadline" fs_has_active_mds
	wait_for "the mgr volumes module (subvolumegroup create)" "$deadline" \
		cephcli_quick fs subvolumegroup create "$FS" "$GROUP"
	wait_for "'ceph fs subvolume ls'" "$deadline" usable
	[[ "$PROFILE" != seed ]] || seed_wait_standbys "$deadline"
	trap - EXIT
	local ms=$(($(now_ms) - t0))
	log "$(printf "cluster '%s' booted in %d.%d s" "$NAME" $((ms / 1000)) $((ms % 1000 / 100)))"
}

# restart_daemons: bring back the dead daemons of a cluster whose OSD (and
# thus data) survived; returns non-zero if that is not possible.
restart_daemons() {
	# memstore loses its data with its OSD; BlueStore (seed) keeps it
	[[ "$PROFILE" == seed ]] || daemon_alive osd.0 || return 1
	local d
	if ! daemon_alive mon.a; then
		port_listening "$PORT" && die "mon port $PORT of cluster '$NAME' is in use by another process"
		start_daemon mon.a
	fi
	for d in "${DAEMONS[@]}"; do
		daemon_alive "$d" || start_daemon "$d"
	done
}

# reuse_cluster: true if the existing cluster is (or could be made) healthy.
# When only the mon, mgr or MDS died (e.g. after mon-stop) they are simply
# restarted; a dead OSD means the memstore data is gone.
reuse_cluster() {
	healthy && return 0
	(restart_daemons) 2>/dev/null || return 1
	local deadline=$(($(now_ms) + 30000))
	until usable; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.25
	done
	healthy
}

# ---------------------------------------------------------------------------
# the seed profile

# seed_boot DEADLINE_MS: start the seed profile's daemons and make its
# filesystem: the replicated pools while the three OSDs are made, then the
# EC data pool, which needs every OSD booted (the mon allows EC overwrites
# only once the OSDs' metadata says BlueStore).
seed_boot() {
	local deadline=$1 d i jobs=() j
	for d in mgr.x mgr.y mds.a mds.b; do
		start_daemon "$d"
	done
	for i in 0 1 2; do
		create_osd "$i" &
		jobs+=($!)
	done
	release_after_boot
	create_fs
	# one standby that follows the active MDS's journal, as the seed runs it
	mon_cmd "'ceph fs set standby_count_wanted'" fs set "$FS" standby_count_wanted 1 >/dev/null
	mon_cmd "'ceph fs set allow_standby_replay'" fs set "$FS" allow_standby_replay true >/dev/null
	for j in "${jobs[@]}"; do
		wait "$j" || exit 1
	done
	wait_for "three OSDs up" "$deadline" osds_up 3
	mon_cmd "creating erasure-code profile $SEED_EC_PROFILE" \
		osd erasure-code-profile set "$SEED_EC_PROFILE" k=2 m=1 crush-failure-domain=osd >/dev/null
	mon_cmd "creating pool $FS-data-ec" osd pool create "$FS-data-ec" 8 8 erasure "$SEED_EC_PROFILE" >/dev/null
	mon_cmd "'ceph osd pool set $FS-data-ec allow_ec_overwrites true'" \
		osd pool set "$FS-data-ec" allow_ec_overwrites true >/dev/null
	mon_cmd "'ceph fs add_data_pool $FS $FS-data-ec'" fs add_data_pool "$FS" "$FS-data-ec" >/dev/null
}

# seed_failure_settings: failure_conf's settings, given to a running cluster
# through the mon's config database too: a cluster booted before they were in
# its ceph.conf gets them when reused.
seed_failure_settings() {
	local setting who name value
	for setting in "${SEED_FAILURE_SETTINGS[@]}"; do
		read -r who name value <<<"$setting"
		mon_cmd "'ceph config set $setting'" config set "$who" "$name" "$value" >/dev/null
	done
}

# seed_wait_standbys DEADLINE_MS: wait until the failover tests have what they
# fail over to (a standby-replay MDS, a standby mgr) and every PG is active.
seed_wait_standbys() {
	wait_for "a standby-replay MDS" "$1" mds_standby_replay
	wait_for "a standby mgr" "$1" mgr_has_standby
	wait_for "every PG active" "$1" pgs_active
}

# osds_up N: true if N OSDs are up.
osds_up() {
	local out
	out=$(cephcli_quick osd stat --format json) || return 1
	[[ "$out" =~ \"num_up_osds\":\ *$1[,}] ]]
}

mds_standby_replay() { cephcli_quick mds stat | grep -q 'up:standby-replay'; }

mgr_has_standby() {
	local out
	out=$(cephcli_quick mgr stat --format json) || return 1
	[[ "$out" =~ \"num_standby\":\ *[1-9] ]]
}

# pgs_active: true if every PG is active ("N pgs: N active+clean; ...").
pgs_active() {
	local out
	out=$(cephcli_quick pg stat) || return 1
	awk -F'[:;]' '{ n = split($2, s, ","); for (i = 1; i <= n; i++) if (s[i] !~ /active/) exit 1 }' <<<"$out"
}

print_ready() {
	echo "cluster \"$NAME\" ready: ceph=$RELEASE$([[ "$PROFILE" == default ]] || echo " profile=$PROFILE") conf=$CONF keyring=$KEYRING mon=$(mon_addr_plain) fs=$FS group=$GROUP desc=$DIR/cluster.json"
}

# ---------------------------------------------------------------------------
# commands

cmd_up() {
	set_paths "${1:-}"
	shift
	local want_name="" want_fs="myfs" want_group="csi" want_port="" want_release=pacific want_address=""
	local want_profile=default
	while (($#)); do
		case "$1" in
		--name) want_name=${2:?--name needs a value}; shift 2 ;;
		--fs) want_fs=${2:?--fs needs a value}; shift 2 ;;
		--group) want_group=${2:?--group needs a value}; shift 2 ;;
		--port) want_port=${2:?--port needs a value}; shift 2 ;;
		--ceph) want_release=${2:?--ceph needs a value}; shift 2 ;;
		--address) want_address=${2:?--address needs a value}; shift 2 ;;
		--address=*) want_address=${1#*=}; [[ -n "$want_address" ]] || die "--address needs a value"; shift ;;
		--ceph=*) want_release=${1#*=}; shift ;;
		--name=*) want_name=${1#*=}; shift ;;
		--fs=*) want_fs=${1#*=}; shift ;;
		--group=*) want_group=${1#*=}; shift ;;
		--port=*) want_port=${1#*=}; shift ;;
		--profile) want_profile=${2:?--profile needs a value}; shift 2 ;;
		--profile=*) want_profile=${1#*=}; shift ;;
		*) die "up: unknown argument '$1'" ;;
		esac
	done
	# the name ends up in ceph.conf, cluster.env and cluster.json
	[[ -z "$want_name" || "$want_name" =~ ^[A-Za-z0-9_.+-]+$ ]] || die "invalid --name '$want_name'"
	[[ "$want_fs" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid --fs '$want_fs'"
	[[ "$want_group" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid --group '$want_group'"
	[[ -z "$want_port" || "$want_port" =~ ^[0-9]+$ ]] || die "invalid --port '$want_port'"
	[[ " $RELEASES " == *" $want_release "* ]] || die "invalid --ceph '$want_release' (want one of: $RELEASES)"
	[[ -z "$want_address" ]] || check_address "$want_address" --address
	[[ " $PROFILES " == *" $want_profile "* ]] || die "invalid --profile '$want_profile' (want one of: $PROFILES)"

	if is_cluster_dir; then
		if env_complete; then
			load_env
			if [[ -n "$want_address" && "$want_address" != "$ADDRESS" ]] && any_daemon_alive; then
				die "cluster '$NAME' in $DIR runs on $ADDRESS, not on --address $want_address: the address of a running cluster cannot change; '$PROG down $DIR' it first (its data is lost), or leave out --address"
			fi
			# A cluster running in another network namespace looks dead from here.
			check_netns
			local had_address=$ADDRESS
			if [[ -n "$want_address" ]]; then
				ADDRESS=$want_address ADDRESS_ORIGIN="--address"
			fi
			check_local_address
			if [[ "$FS" == "$want_fs" && "$GROUP" == "$want_group" && "$RELEASE" == "$want_release" &&
				"$PROFILE" == "$want_profile" &&
				"$ADDRESS" == "$had_address" &&
				(-z "$want_port" || "$PORT" == "$want_port") ]]; then
				if reuse_cluster; then
					# a restarted MDS or mgr comes back as a standby
					[[ "$PROFILE" != seed ]] || seed_wait_standbys $(($(now_ms) + BOOT_TIMEOUT * 1000))
					[[ "$PROFILE" != seed ]] || seed_failure_settings
					if [[ -n "$want_name" && "$NAME" != "$want_name" ]]; then
						NAME=$want_name
						save_env
					fi
					# also gives clusters booted by an older version of
					# this script their cluster.json
					write_desc
					print_ready
					return 0
				fi
				log "cluster in $DIR is not healthy (daemons dead or memstore data lost); re-creating it"
			else
				log "cluster in $DIR has other settings; re-creating it"
			fi
		else
			log "$DIR holds a half-created cluster; re-creating it"
		fi
		PREV_PORT=$PORT
		stop_all 1
		wipe_dir
	elif [[ -d "$DIR" && -n "$(ls -A "$DIR")" ]]; then
		die "$DIR exists, is not empty and was not created by $PROG; refusing to use it"
	fi

	# Without --address, a re-created cluster keeps the address it had.
	if [[ -n "$want_address" ]]; then
		ADDRESS=$want_address ADDRESS_ORIGIN="--address"
	elif [[ -z "$ADDRESS" ]]; then
		ADDRESS=$DEFAULT_ADDRESS ADDRESS_ORIGIN="the default"
	fi
	check_local_address
	ensure_packages
	NAME=${want_name:-$(basename "$DIR")} FS=$want_fs GROUP=$want_group PORT=$want_port RELEASE=$want_release
	PROFILE=$want_profile
	set_release
	set_profile
	ensure_release
	create_cluster
	write_desc
	print_ready
}

cmd_down() {
	set_paths "${1:-}"
	is_cluster_dir || die "no cluster in $DIR"
	load_profile
	stop_all
}

# wipe_dir: rm -rf DIR, but only if it is one of our cluster directories.
wipe_dir() {
	[[ -d "$DIR" ]] || return 0
	is_cluster_dir || [[ -z "$(ls -A "$DIR")" ]] ||
		die "$DIR was not created by $PROG; refusing to delete it"
	rm -rf -- "$DIR"
}

cmd_wipe() {
	set_paths "${1:-}"
	if is_cluster_dir; then
		load_profile
		stop_all 1
	fi
	wipe_dir
}

cmd_status() {
	set_paths "${1:-}"
	[[ -f "$DIR/cluster.env" ]] || { echo "no cluster in $DIR"; return 1; }
	load_env
	local where
	if where=$(foreign_netns); then
		echo "unreachable from this network namespace: its daemons run in $where"
		return 1
	fi
	if healthy; then
		echo "healthy"
		return 0
	fi
	local d state=()
	for d in "${DAEMONS[@]}"; do
		if daemon_alive "$d"; then state+=("$d:up"); else state+=("$d:down"); fi
	done
	echo "unhealthy (${state[*]})"
	return 1
}

cmd_env() {
	set_paths "${1:-}"
	load_env
	local fields name value
	fields=$(describe)
	while read -r name _ value; do
		printf '%s=%s\n' "$name" "$value"
	done <<<"$fields"
}

cmd_mon_stop() {
	set_paths "${1:-}"
	load_env
	stop_daemon mon.a
}

cmd_mon_start() {
	set_paths "${1:-}"
	load_env
	check_netns
	check_local_address
	if ! daemon_alive mon.a; then
		port_listening "$PORT" && die "mon port $PORT of cluster '$NAME' is in use by another process"
		start_daemon mon.a
	fi
	local deadline=$(($(now_ms) + BOOT_TIMEOUT * 1000))
	wait_for "the cluster to be usable after mon restart" "$deadline" usable
}

# cluster_daemon NAME: fail unless NAME is one of the cluster's daemons.
cluster_daemon() {
	[[ -n "${1:-}" ]] || die "missing DAEMON argument (one of: ${DAEMONS[*]})"
	[[ " ${DAEMONS[*]} " == *" $1 "* ]] || die "'$1' is not a daemon of cluster '$NAME' (want one of: ${DAEMONS[*]})"
}

# cmd_daemon_kill DIR DAEMON: SIGKILL, as a crash (or the OOM killer) would;
# returns once the process is gone.
cmd_daemon_kill() {
	set_paths "${1:-}"
	load_env
	cluster_daemon "${2:-}"
	local pid i
	pid=$(daemon_pid "$2") || die "$2 of cluster '$NAME' is not running"
	kill -KILL "$pid"
	for ((i = 0; i < 100; i++)); do
		proc_alive "$pid" || break
		sleep 0.05
	done
	proc_alive "$pid" && die "$2 (pid $pid) still runs after SIGKILL"
	rm -f "$(pid_file "$2")"
}

# cmd_daemon_signal DIR DAEMON SIGNAL: send SIGNAL (STOP, CONT) to a running
# daemon. Stopped, it keeps its connections open and answers nothing, as a
# host that vanished from the network; its peers notice only by heartbeat.
cmd_daemon_signal() {
	set_paths "${1:-}"
	load_env
	cluster_daemon "${2:-}"
	local pid
	pid=$(daemon_pid "$2") || die "$2 of cluster '$NAME' is not running"
	kill -"$3" "$pid"
}

# cmd_daemon_start DIR DAEMON: start a daemon that is not running (a killed
# OSD of the seed profile comes back with its data; a memstore one has none).
cmd_daemon_start() {
	set_paths "${1:-}"
	load_env
	cluster_daemon "${2:-}"
	check_netns
	[[ "$2" != mon.* ]] || die "use '$PROG mon-start $DIR' for the monitor"
	[[ "$2" != osd.* || "$PROFILE" == seed ]] || die "a memstore OSD lost its data when it stopped: '$PROG up $DIR' re-creates the cluster"
	daemon_alive "$2" || start_daemon "$2"
}

# usage: the command lines under "# Usage:" in the header comment.
usage() {
	awk '/^# Usage:$/ { on = 1; next } on && /^#$/ { exit } on { sub(/^# ?/, ""); print }' "$0" >&2
	exit 2
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	wipe) cmd_wipe "$@" ;;
	status) cmd_status "$@" ;;
	env) cmd_env "$@" ;;
	mon-stop) cmd_mon_stop "$@" ;;
	mon-start) cmd_mon_start "$@" ;;
	daemon-kill) cmd_daemon_kill "$@" ;;
	daemon-start) cmd_daemon_start "$@" ;;
	daemon-pause) cmd_daemon_signal "${1:-}" "${2:-}" STOP ;;
	daemon-resume) cmd_daemon_signal "${1:-}" "${2:-}" CONT ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
