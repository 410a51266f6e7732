#!/usr/bin/env bash
# hack/capture-ceph.sh - record what a Ceph release answers to every mgr/mon
# command the driver sends, for the replay tests of pkg/ceph.
#
# Usage: hack/capture-ceph.sh RELEASE OUTDIR
#        RELEASE: pacific, reef or tentacle; OUTDIR e.g. pkg/ceph/testdata/releases/RELEASE
#        hack/capture-ceph.sh wipe RELEASE    remove the capture cluster of RELEASE
#
# Boots (or reuses) the one-node cluster _build/cluster-cap-RELEASE with
# hack/cluster.sh, runs a fixed scenario against filesystem myfs, group csi,
# and writes one JSON file per command into OUTDIR (files of an earlier
# capture are replaced):
#
#   {"name": ..., "target": "mgr"|"mon", "cmd": {the exact command},
#    "rc": librados' return code (-errno), "out": the output buffer,
#    "status": the status string,
#    "host_cli": {"argv", "rc", "stdout", "stderr"},     read-only commands
#    "release_cli": {...} or "same as host_cli"}         newer releases
#
# Commands go through the host's librados (Pacific, python3-rados: the
# library the host `ceph` CLI runs on and go-ceph links), as the very JSON
# go-ceph v0.37.0 or pkg/ceph builds, so "out", "status" and "rc" are
# exactly what the driver receives: the CLI cannot show that (it checks
# arguments itself, prefixes errors with "Error EXXX:" and exits with the
# positive errno). For read-only commands the host CLI's answer, and for
# reef/tentacle the release's own CLI's answer (hack/ceph-root.sh run), are
# recorded next to it. OUTDIR/capture.json names the commands in the order
# they ran and the versions of the daemons. Timestamps and uuids are kept as
# captured. No file may contain a CephX key: the script fails if one does.

set -euo pipefail

readonly PROG="${0##*/}"
REPO=$(cd "$(dirname "$0")/.." && pwd)
readonly REPO

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
check_release() {
	case "$1" in
	pacific | reef | tentacle) ;;
	*) die "unknown release '$1' (want pacific, reef or tentacle)" ;;
	esac
}

if [[ "$1" == wipe ]]; then
	check_release "$2"
	exec "$REPO/hack/cluster.sh" wipe "$REPO/_build/cluster-cap-$2"
fi
RELEASE=$1
OUTDIR=$2
check_release "$RELEASE"
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 is missing"
/usr/bin/python3 -c 'import rados, cephfs' 2>/dev/null ||
	die "the host's python3-rados and python3-cephfs are missing (hack/install-deps.sh)"

DIR="$REPO/_build/cluster-cap-$RELEASE"
"$REPO/hack/cluster.sh" up "$DIR" --ceph "$RELEASE" --name "cap-$RELEASE" >&2
CONF="$DIR/ceph.conf"
[[ -f "$CONF" && -s "$DIR/admin.key" ]] || die "no usable cluster in $DIR"

# The release's own tools, for the CLI comparison (none for pacific: the
# host's are Pacific's).
NATIVE=()
if [[ "$RELEASE" != pacific ]]; then
	NATIVE=("$REPO/hack/ceph-root.sh" run "$RELEASE" --bind "$DIR" --)
	# Builds the root now if it must be (re)built, not under the CLI
	# calls' timeout.
	"${NATIVE[@]}" ceph --version >/dev/null || die "cannot run $RELEASE's own ceph CLI"
fi

mkdir -p "$OUTDIR"
find "$OUTDIR" -maxdepth 1 -type f -name '*.json' -delete

/usr/bin/python3 - "$CONF" "$OUTDIR" "$RELEASE" "${NATIVE[@]}" <<'PY'
import json
import os
import subprocess
import sys
import time

import cephfs
import rados

conf, outdir, release = sys.argv[1:4]
native = sys.argv[4:]
FS, GROUP, POOL = "myfs", "csi", "myfs-data1"
# Every name the scenario makes starts with "cap-".
SV, SV_UNLIMITED, SNAP = "cap-sv", "cap-sv-unlimited", "cap-snap"
SRC, SRC_SNAP = "cap-src", "cap-src-snap"
CLONE, CLONE_DATA, CLONE_PENDING = "cap-clone", "cap-clone-data", "cap-clone-pending"
CLONE_RETAINED = "cap-clone-retained"
NEW_GROUP = "cap-group"
MISSING, MISSING_GROUP = "cap-missing", "cap-missing-group"
KEY, VALUE = "cap-key", "cap-value"
GIB = 1 << 30
DATA_FILES, DATA_FILE_BYTES = 16, 16 << 20

cluster = rados.Rados(conffile=conf, name="client.admin")
cluster.connect(timeout=30)
order = []


def log(msg):
    print(f"capture-ceph[{release}]: {msg}", file=sys.stderr, flush=True)


def raw(target, cmd):
    f = cluster.mgr_command if target == "mgr" else cluster.mon_command
    ret, out, outs = f(json.dumps(cmd), b"", timeout=120)
    return ret, out, outs


def cli(prefix, argv):
    p = subprocess.run(
        ["timeout", "60", *prefix, "ceph", "-c", conf, "--connect-timeout", "20", *argv],
        stdin=subprocess.DEVNULL, capture_output=True)
    if p.returncode == 124 or p.stderr.startswith(b"ceph-root.sh:"):
        # not an answer of the cluster (hack/ceph-root.sh rebuilding its root, or a hang)
        raise SystemExit(f"ceph {' '.join(argv)} did not run: rc={p.returncode} {p.stderr[:300]!r}; run again")
    return {"argv": argv, "rc": p.returncode,
            "stdout": p.stdout.decode("utf-8"), "stderr": p.stderr.decode("utf-8")}


def capture(name, target, cmd, argv=None, answer=None):
    """Send cmd (unless answer, an answer to it already received, is
    given), record the answer as OUTDIR/name.json and return it. argv: the
    same command for the CLIs (only for answers that do not change while
    the CLIs run)."""
    if name in order:
        raise SystemExit(f"duplicate capture name {name}")
    ret, out, outs = answer if answer is not None else raw(target, cmd)
    rec = {"name": name, "target": target, "cmd": cmd, "rc": ret,
           "out": out.decode("utf-8"), "status": outs}
    if argv is not None:
        rec["host_cli"] = cli([], argv)
        if native:
            rc = cli(native, argv)
            rec["release_cli"] = "same as host_cli" if rc == rec["host_cli"] else rc
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")
    order.append(name)
    log(f"{name}: rc={ret} status={outs!r} out={len(out)} bytes")
    return rec


def must(target, cmd, ok=(0,)):
    """A setup or cleanup command (not recorded)."""
    ret, out, outs = raw(target, cmd)
    if ret not in ok:
        raise SystemExit(f"{cmd['prefix']}: rc={ret} {outs}")
    return out


# The commands as go-ceph v0.37.0 (and pkg/ceph's Clone) build them, field
# for field.
def base(prefix, **kw):
    d = {"prefix": prefix, "vol_name": FS, "group_name": GROUP, "format": "json"}
    d.update(kw)
    return d


def c_info(sub):
    return base("fs subvolume info", sub_name=sub)


def c_getpath(sub):  # go-ceph sends no format here
    return {"prefix": "fs subvolume getpath", "vol_name": FS, "group_name": GROUP, "sub_name": sub}


def c_create(sub, size=0, uid=0, gid=0, mode=0, pool="", group=GROUP):
    d = base("fs subvolume create", sub_name=sub, group_name=group, namespace_isolated=False)
    for k, v in (("size", size), ("uid", uid), ("gid", gid), ("pool_layout", pool)):
        if v:
            d[k] = v
    if mode:
        d["mode"] = format(mode, "o")
    return d


def c_rm(sub, **flags):
    return base("fs subvolume rm", sub_name=sub, **flags)


def c_resize(sub, size):
    return base("fs subvolume resize", sub_name=sub, new_size=str(size), no_shrink=True)


def c_snap(prefix, sub, snap):
    return base("fs subvolume snapshot " + prefix, sub_name=sub, snap_name=snap)


def c_clone(sub, snap, target):  # pkg/ceph's Clone
    return base("fs subvolume snapshot clone", sub_name=sub, snap_name=snap,
                target_sub_name=target, target_group_name=GROUP)


def c_clone_status(clone):
    return base("fs clone status", clone_name=clone)


def c_meta(prefix, sub, **kw):
    return base("fs subvolume metadata " + prefix, sub_name=sub, **kw)


def a_info(sub):
    return ["fs", "subvolume", "info", FS, sub, "--group_name", GROUP, "--format", "json"]


def a_snap_info(sub, snap):
    return ["fs", "subvolume", "snapshot", "info", FS, sub, snap, "--group_name", GROUP, "--format", "json"]


def a_clone_status(clone):
    return ["fs", "clone", "status", FS, clone, "--group_name", GROUP, "--format", "json"]


def clone_state(clone):
    """The clone's state and the answer it was read from."""
    answer = raw("mgr", c_clone_status(clone))
    ret, out, outs = answer
    if ret != 0:
        raise SystemExit(f"clone status {clone}: rc={ret} {outs}")
    return json.loads(out)["status"]["state"], answer


def set_clone_delay(seconds):
    if seconds:
        must("mon", {"prefix": "config set", "who": "mgr",
                     "name": "mgr/volumes/snapshot_clone_delay", "value": str(seconds)})
    else:
        must("mon", {"prefix": "config rm", "who": "mgr", "name": "mgr/volumes/snapshot_clone_delay"})
    time.sleep(1)  # the module reads its options on config_notify


def cleanup():
    """Remove what an earlier run left (a reused cluster)."""
    set_clone_delay(0)
    for sub in (CLONE_PENDING, CLONE_DATA, CLONE_RETAINED, CLONE, SV, SV_UNLIMITED, SRC):
        ret, out, _ = raw("mgr", base("fs subvolume snapshot ls", sub_name=sub))
        if ret == 0:
            for s in json.loads(out or "[]"):
                must("mgr", c_snap("rm", sub, s["name"]) | {"force": True})
        raw("mgr", c_rm(sub, force=True))
    raw("mgr", {"prefix": "fs subvolumegroup rm", "vol_name": FS, "group_name": NEW_GROUP,
                "force": True, "format": "json"})


def write_data(sub, files, size):
    """Write files into a subvolume through libcephfs (no mount needed)."""
    path = must("mgr", c_getpath(sub)).decode().strip()
    fs = cephfs.LibCephFS(conffile=conf)
    fs.mount(filesystem_name=FS.encode())
    try:
        block = os.urandom(1 << 20)
        for i in range(files):
            fd = fs.open(f"{path}/f{i:02d}".encode(), "w", 0o644)
            for off in range(0, size, len(block)):
                fs.write(fd, block, off)
            fs.close(fd)
    finally:
        fs.unmount()
        fs.shutdown()


def wait_clone(clone, want, seen=None, suffix="", limit=300):
    """Poll a clone until its state is in want; capture the first answer
    in each state not yet seen as clone_status_<state><suffix> (seen: set)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        st, answer = clone_state(clone)
        if seen is not None and st not in seen:
            seen.add(st)
            # the CLIs would see a later state of a clone that is not done
            argv = a_clone_status(clone) if st in ("complete", "canceled", "failed") else None
            capture("clone_status_" + st.replace("-", "_") + suffix, "mgr", c_clone_status(clone), argv, answer)
        if st in want:
            return st
        time.sleep(0.02)
    raise SystemExit(f"clone {clone} not {want} after {limit}s")


cleanup()
ver = json.loads(must("mon", {"prefix": "versions", "format": "json"}))

# Filesystems (mon commands: go-ceph ListFileSystems, EnumerateVolumes).
capture("fs_ls", "mon", {"prefix": "fs ls", "format": "json"}, ["fs", "ls", "--format", "json"])
capture("fs_dump", "mon", {"prefix": "fs dump", "format": "json"}, ["fs", "dump", "--format", "json"])

# Groups: the embedded cluster made "csi"; the driver creates groups too.
capture("subvolumegroup_create_existing", "mgr",
        {"prefix": "fs subvolumegroup create", "format": "json", "vol_name": FS, "group_name": GROUP})
capture("subvolumegroup_create", "mgr",
        {"prefix": "fs subvolumegroup create", "format": "json", "vol_name": FS, "group_name": NEW_GROUP})

# Subvolumes.
capture("subvolume_create", "mgr", c_create(SV, GIB, 1000, 2000, 0o750, POOL))
capture("subvolume_create_again", "mgr", c_create(SV, GIB, 1000, 2000, 0o750, POOL))
capture("subvolume_create_unlimited", "mgr", c_create(SV_UNLIMITED))
capture("subvolume_create_missing_group", "mgr", c_create(MISSING, GIB, group=MISSING_GROUP))
capture("subvolume_create_bad_pool", "mgr", c_create(MISSING, GIB, pool="cap-no-pool"))
capture("subvolume_info", "mgr", c_info(SV), a_info(SV))
capture("subvolume_info_unlimited", "mgr", c_info(SV_UNLIMITED), a_info(SV_UNLIMITED))
capture("subvolume_info_missing", "mgr", c_info(MISSING), a_info(MISSING))
capture("subvolume_getpath", "mgr", c_getpath(SV), ["fs", "subvolume", "getpath", FS, SV, "--group_name", GROUP])
capture("subvolume_getpath_missing", "mgr", c_getpath(MISSING),
        ["fs", "subvolume", "getpath", FS, MISSING, "--group_name", GROUP])
capture("subvolume_resize", "mgr", c_resize(SV, 2 * GIB))
capture("subvolume_resize_missing", "mgr", c_resize(MISSING, 2 * GIB))
capture("subvolume_info_resized", "mgr", c_info(SV), a_info(SV))

# Metadata (not used by the driver yet: which releases have it).
capture("metadata_set", "mgr", c_meta("set", SV, key_name=KEY, value=VALUE))
capture("metadata_ls", "mgr", c_meta("ls", SV),
        ["fs", "subvolume", "metadata", "ls", FS, SV, "--group_name", GROUP, "--format", "json"])
capture("metadata_get", "mgr", c_meta("get", SV, key_name=KEY),
        ["fs", "subvolume", "metadata", "get", FS, SV, KEY, "--group_name", GROUP, "--format", "json"])
capture("metadata_get_missing_key", "mgr", c_meta("get", SV, key_name="cap-no-key"),
        ["fs", "subvolume", "metadata", "get", FS, SV, "cap-no-key", "--group_name", GROUP, "--format", "json"])

# Snapshots.
capture("snapshot_create", "mgr", c_snap("create", SV, SNAP))
capture("snapshot_create_again", "mgr", c_snap("create", SV, SNAP))
capture("snapshot_info", "mgr", c_snap("info", SV, SNAP), a_snap_info(SV, SNAP))
capture("snapshot_info_missing", "mgr", c_snap("info", SV, MISSING), a_snap_info(SV, MISSING))
capture("snapshot_getpath", "mgr", c_snap("getpath", SV, SNAP),
        ["fs", "subvolume", "snapshot", "getpath", FS, SV, SNAP, "--group_name", GROUP])
capture("snapshot_getpath_missing", "mgr", c_snap("getpath", SV, MISSING),
        ["fs", "subvolume", "snapshot", "getpath", FS, SV, MISSING, "--group_name", GROUP])
capture("snapshot_rm_missing", "mgr", c_snap("rm", SV, MISSING))
capture("snapshot_rm_missing_subvolume", "mgr", c_snap("rm", MISSING, MISSING))

# A clone of an empty snapshot: pending, then complete (quickly).
capture("clone", "mgr", c_clone(SV, SNAP, CLONE))
seen = set()
wait_clone(CLONE, {"complete"}, seen)
capture("clone_existing_target", "mgr", c_clone(SV, SNAP, CLONE))
capture("clone_missing_snapshot", "mgr", c_clone(SV, MISSING, MISSING))
capture("clone_status_missing", "mgr", c_clone_status(MISSING), a_clone_status(MISSING))
capture("clone_status_not_a_clone", "mgr", c_clone_status(SV_UNLIMITED), a_clone_status(SV_UNLIMITED))
capture("subvolume_info_clone", "mgr", c_info(CLONE), a_info(CLONE))

# A source with data, so that a clone stays in progress for a while.
must("mgr", c_create(SRC))
write_data(SRC, DATA_FILES, DATA_FILE_BYTES)
must("mgr", c_snap("create", SRC, SRC_SNAP))

# A clone held pending (snapshot_clone_delay), then canceled.
set_clone_delay(20)
capture("clone_delayed", "mgr", c_clone(SRC, SRC_SNAP, CLONE_PENDING))
capture("clone_status_pending_delayed", "mgr", c_clone_status(CLONE_PENDING), a_clone_status(CLONE_PENDING))
capture("subvolume_info_pending_clone", "mgr", c_info(CLONE_PENDING), a_info(CLONE_PENDING))
capture("subvolume_getpath_pending_clone", "mgr", c_getpath(CLONE_PENDING),
        ["fs", "subvolume", "getpath", FS, CLONE_PENDING, "--group_name", GROUP])
capture("snapshot_info_pending_clone", "mgr", c_snap("info", SRC, SRC_SNAP), a_snap_info(SRC, SRC_SNAP))
capture("snapshot_rm_pending_clone", "mgr", c_snap("rm", SRC, SRC_SNAP))
capture("subvolume_rm_pending_clone", "mgr", c_rm(CLONE_PENDING, retain_snapshots=True))
capture("clone_cancel", "mgr", base("fs clone cancel", clone_name=CLONE_PENDING))
# captured as clone_status_canceled
wait_clone(CLONE_PENDING, {"canceled", "failed", "complete"}, seen={"pending", "in-progress"}, limit=120)
capture("subvolume_info_canceled_clone", "mgr", c_info(CLONE_PENDING), a_info(CLONE_PENDING))
capture("subvolume_rm_force_canceled_clone", "mgr", c_rm(CLONE_PENDING, force=True))
set_clone_delay(0)

# A clone caught copying.
capture("clone_data", "mgr", c_clone(SRC, SRC_SNAP, CLONE_DATA))
deadline = time.time() + 60
while True:
    st, answer = clone_state(CLONE_DATA)
    if st == "in-progress":
        # No CLI here: the answers must all come from the copy's time.
        capture("clone_status_in_progress_data", "mgr", c_clone_status(CLONE_DATA), answer=answer)
        capture("subvolume_info_in_progress_clone", "mgr", c_info(CLONE_DATA))
        capture("subvolume_getpath_in_progress_clone", "mgr", c_getpath(CLONE_DATA))
        capture("snapshot_info_in_progress_clone", "mgr", c_snap("info", SRC, SRC_SNAP))
        if clone_state(CLONE_DATA)[0] != "in-progress":
            raise SystemExit("the clone ended while its in-progress answers were captured; run again")
        break
    if st != "pending" or time.time() > deadline:
        raise SystemExit(f"clone {CLONE_DATA} went {st} before it was seen in progress; run again")
    time.sleep(0.02)
wait_clone(CLONE_DATA, {"complete"}, {"in-progress"}, "_data")
capture("subvolume_resize_below_used", "mgr", c_resize(CLONE_DATA, 4 << 20))

# Removal with retained snapshots, then the retained subvolume.
capture("subvolume_rm_retain", "mgr", c_rm(SV, retain_snapshots=True))
capture("subvolume_info_retained", "mgr", c_info(SV), a_info(SV))
capture("subvolume_getpath_retained", "mgr", c_getpath(SV),
        ["fs", "subvolume", "getpath", FS, SV, "--group_name", GROUP])
capture("subvolume_rm_retain_again", "mgr", c_rm(SV, retain_snapshots=True))
capture("snapshot_info_retained", "mgr", c_snap("info", SV, SNAP), a_snap_info(SV, SNAP))
capture("snapshot_create_retained", "mgr", c_snap("create", SV, "cap-snap2"))
capture("subvolume_resize_retained", "mgr", c_resize(SV, GIB))
capture("clone_status_retained", "mgr", c_clone_status(SV), a_clone_status(SV))
# A restore from the snapshot of a deleted volume.
capture("clone_from_retained", "mgr", c_clone(SV, SNAP, CLONE_RETAINED))
wait_clone(CLONE_RETAINED, {"complete"})
capture("snapshot_rm_retained_last", "mgr", c_snap("rm", SV, SNAP))
capture("subvolume_info_purged", "mgr", c_info(SV), a_info(SV))
# Ceph re-creates a subvolume over a retained one of the same name.
must("mgr", c_snap("create", SV_UNLIMITED, SNAP))
must("mgr", c_rm(SV_UNLIMITED, retain_snapshots=True))
# While the removed incarnation is still being purged (asynchronously, in
# every release), create answers EAGAIN: the first such answer is kept.
deadline = time.time() + 120
while True:
    answer = raw("mgr", c_create(SV_UNLIMITED, GIB))
    if answer[0] != -11 or time.time() > deadline:
        break
    if "subvolume_create_over_retained_purging" not in order:
        capture("subvolume_create_over_retained_purging", "mgr", c_create(SV_UNLIMITED, GIB), answer=answer)
    time.sleep(0.5)
capture("subvolume_create_over_retained", "mgr", c_create(SV_UNLIMITED, GIB), answer=answer)
capture("subvolume_info_recreated", "mgr", c_info(SV_UNLIMITED), a_info(SV_UNLIMITED))
must("mgr", c_snap("rm", SV_UNLIMITED, SNAP))
capture("subvolume_rm_retain_no_snapshots", "mgr", c_rm(SV_UNLIMITED, retain_snapshots=True))
capture("subvolume_rm_missing", "mgr", c_rm(MISSING, retain_snapshots=True))
capture("subvolume_rm_force_missing", "mgr", c_rm(MISSING, force=True))

cleanup()
with open(os.path.join(outdir, "capture.json"), "w") as f:
    json.dump({"release": release, "versions": ver, "commands": order,
               "host_cli": subprocess.run(["ceph", "--version"], capture_output=True, text=True).stdout.strip(),
               "release_cli": subprocess.run([*native, "ceph", "--version"], capture_output=True,
                                             text=True).stdout.strip() if native else None},
              f, indent=1, sort_keys=True)
    f.write("\n")
cluster.shutdown()
log(f"{len(order)} commands captured into {outdir}")
PY

# No file may carry a CephX key: the admin key, or anything shaped like one.
if grep -rqF -f "$DIR/admin.key" "$OUTDIR" || grep -rqE 'AQ[A-Za-z0-9+/]{38}==' "$OUTDIR"; then
	die "a capture in $OUTDIR holds a CephX key; the files must not be kept"
fi
echo "$PROG: $RELEASE captured into $OUTDIR (cluster $DIR is still up; '$PROG wipe $RELEASE' removes it)" >&2
