# shellcheck shell=bash
# hack/lib/debian-root.sh - what hack/ceph-root.sh, hack/image.sh,
# hack/e2e-kubelet.sh (the PostgreSQL image) and hack/kernel-vm.sh share to
# build Debian trees with debootstrap and apt: isolated steps, chroots whose
# mounts vanish with them, logged steps, apt set up for a tree without init.
#
# Sourced, not run. The caller sets PROG (its name), SELF (its own path: the
# chroot is entered through "$SELF _chroot-enter", which its main must pass to
# chroot_enter), STEP_LOG (where step writes), SOURCES (apt source lines) and
# optionally NO_VALID_UNTIL=true.

# The PATH of commands run inside a tree.
readonly ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The pid of the running step, for the caller's EXIT trap to kill.
CHILD=""
NO_VALID_UNTIL=${NO_VALID_UNTIL:-false}

die() {
	echo "$PROG: error: $*" >&2
	exit 1
}

log() {
	echo "$PROG: $*" >&2
}

# spawn CMD...: run CMD in the background and wait for it, so that a signal
# reaches the caller's trap at once (bash runs traps only between foreground
# commands) and the trap can kill CMD by its pid (CHILD).
spawn() {
	local rc=0
	"$@" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	return "$rc"
}

# in_namespaces CMD...: run CMD in new mount and pid namespaces. Every mount
# it makes (debootstrap's /proc, the chroot's binds) exists only there and
# goes away with it. If the caller dies, even by SIGKILL, the whole step dies
# too: --pdeathsig kills unshare, and --kill-child then kills the namespace's
# first process, which takes every other process in it along.
in_namespaces() {
	spawn setpriv --pdeathsig KILL \
		unshare --mount --pid --fork --kill-child --propagation private -- "$@"
}

# in_chroot TREE CMD...: run CMD chrooted in TREE (see chroot_enter).
in_chroot() {
	in_namespaces "$SELF" _chroot-enter "$@"
}

# chroot_enter TREE CMD...: (pid 1 of in_namespaces) mount /proc, /sys, /dev
# and /dev/pts into TREE, run CMD chrooted with a clean environment, and
# unmount them again whatever CMD does (the namespace's end would, too).
chroot_enter() {
	local tree=$1
	shift
	# shellcheck disable=SC2064 # tree is expanded now: locals are gone at EXIT
	trap "unmount_chroot_binds '$tree'" EXIT
	mount -t proc proc "$tree/proc" # a fresh one: this is a new pid namespace
	mount --bind /sys "$tree/sys"
	mount --bind /dev "$tree/dev"
	mount --bind /dev/pts "$tree/dev/pts"
	chroot "$tree" /usr/bin/env -i PATH="$ROOT_PATH" HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

unmount_chroot_binds() {
	local m
	for m in dev/pts dev sys proc; do
		umount "$1/$m" 2>/dev/null || umount -l "$1/$m" 2>/dev/null || true
	done
}

# step DESCRIPTION FUNCTION|CMD...: one logged build step, its output in
# STEP_LOG, the log's tail on the terminal when it fails.
step() {
	local what=$1 start=$SECONDS
	shift
	log "$what"
	echo "=== $what" >>"$STEP_LOG"
	if ! "$@" >>"$STEP_LOG" 2>&1; then
		tail -n 25 "$STEP_LOG" | sed 's/^/  | /' >&2
		die "$what failed after $((SECONDS - start)) s (log: $STEP_LOG)"
	fi
	log "  done in $((SECONDS - start)) s"
}

# configure_apt TREE: SOURCES, no recommends, and no service starts from
# package scripts (there is no init in the tree).
# (Step functions run where errexit is off, hence the explicit returns.)
configure_apt() {
	local tree=$1
	printf '%s\n' "${SOURCES[@]}" >"$tree/etc/apt/sources.list" || return 1
	{
		echo 'APT::Install-Recommends "false";'
		echo 'APT::Install-Suggests "false";'
		[[ "$NO_VALID_UNTIL" != true ]] || echo 'Acquire::Check-Valid-Until "false";'
	} >"$tree/etc/apt/apt.conf.d/90cephfs-csi" || return 1
	printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d" || return 1
	chmod 0755 "$tree/usr/sbin/policy-rc.d" || return 1
	# apt resolves names through the tree's file (debootstrap's copy may be stale)
	rm -f "$tree/etc/resolv.conf" && cp -L /etc/resolv.conf "$tree/etc/resolv.conf"
}

# install_packages TREE PACKAGE...: install the packages and drop apt's cache.
install_packages() {
	local tree=$1
	shift
	in_chroot "$tree" apt-get update -q &&
		in_chroot "$tree" apt-get install -y -q --no-install-recommends "$@" &&
		in_chroot "$tree" apt-get clean
}

# strip_tree FS: remove what an image does not need (the caller's
# STRIP_GLOBS, documentation, locales, byte code), and what differs between
# two builds of the tree (logs, host files debootstrap copied, dates).
strip_tree() {
	local fs=$1 g
	(
		cd "$fs" || exit 1
		shopt -s nullglob
		for g in "${STRIP_GLOBS[@]}"; do
			# shellcheck disable=SC2086 # the glob is meant to expand
			rm -rf --one-file-system -- $g
		done
		find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete &&
			find usr/share/doc -mindepth 1 -depth -type d -empty -delete &&
			find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf -- {} + &&
			find usr -depth -type d -name __pycache__ -exec rm -rf -- {} + &&
			find var/log -type f -delete &&
			printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >etc/hosts &&
			# The day of the last password change, i.e. of the build, is in
			# each shadow entry: left empty (no password aging; the accounts
			# are locked anyway), a rebuild on another day gives the same tree.
			sed -i -E 's/^([^:]*:[^:]*:)[0-9]*:/\1:/' etc/shadow etc/shadow-
	)
}
