package mounter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// Syscalls makes the node's bind mounts and unmounts with mount(2) and
// umount2(2) themselves: one system call where mount(8) and umount(8), as
// mount-utils runs them, cost a fork and an exec each (≈ 4 ms apiece on a
// loaded node, and a bind through mount-utils is two of them).
type Syscalls struct{}

// procMountInfo is where a read-only bind learns the flags it keeps.
const procMountInfo = "/proc/self/mountinfo"

// Bind bind-mounts source on target (not recursively: nothing is mounted
// below a staging path). A read-only bind takes a second call: mount(2)
// ignores MS_RDONLY with MS_BIND, so the new mount is remounted read-only,
// keeping the per-mount flags it got from source (nosuid, nodev, noexec, the
// atime mode), which a bind remount otherwise clears. Should the remount
// fail, the writable bind is unmounted again.
func (Syscalls) Bind(source, target string, readOnly bool) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", source, target, &os.PathError{Op: "mount", Path: target, Err: err})
	}
	if !readOnly {
		return nil
	}
	kept, err := mountFlags(procMountInfo, target)
	if err == nil {
		err = unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|kept, "")
		if err != nil {
			err = &os.PathError{Op: "remount read-only", Path: target, Err: err}
		}
	}
	if err != nil {
		if uerr := unix.Unmount(target, 0); uerr != nil {
			return fmt.Errorf("read-only bind of %s on %s: %w; and the writable bind is left: %w", source, target, err, &os.PathError{Op: "umount2", Path: target, Err: uerr})
		}
		return fmt.Errorf("read-only bind of %s on %s: %w", source, target, err)
	}
	return nil
}

// Unmount unmounts target with umount2(2), without MNT_DETACH: a mount in
// use answers EBUSY (*os.PathError), and stays. Target not being a mount
// point (EINVAL) is an error too: callers check first.
func (Syscalls) Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return &os.PathError{Op: "umount2", Path: target, Err: err}
	}
	return nil
}

// mountFlags are the per-mount flags of the mount at target, as mount(2)
// takes them for a bind remount: those a user may set (ro aside), with
// MS_STRICTATIME when the mount has neither relatime nor noatime, as a
// remount without either gets relatime. The mount is found in mountinfo by
// its ID (statx, Linux 5.8), else by its path with symbolic links resolved,
// as mountinfo shows it.
func mountFlags(mountinfo, target string) (uintptr, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, target, unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &st); err != nil {
		return 0, &os.PathError{Op: "statx", Path: target, Err: err}
	}
	byID := st.Mask&unix.STATX_MNT_ID != 0
	var want string
	if !byID {
		resolved, err := filepath.EvalSymlinks(target)
		if err != nil {
			return 0, err
		}
		want = escapeMountPoint(resolved)
	}
	infos, err := mount.ParseMountInfo(mountinfo)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", mountinfo, err)
	}
	var opts []string
	found := false
	for _, mi := range infos {
		if (byID && uint64(mi.ID) == st.Mnt_id) || (!byID && mi.MountPoint == want) {
			opts, found = mi.MountOptions, true // a later line is mounted on top
		}
	}
	if !found {
		return 0, fmt.Errorf("the mount at %s is not in %s", target, mountinfo)
	}
	return flagsOf(opts), nil
}

// perMountFlags are mountinfo's per-mount options as mount(2) flags.
var perMountFlags = map[string]uintptr{
	"nosuid":      unix.MS_NOSUID,
	"nodev":       unix.MS_NODEV,
	"noexec":      unix.MS_NOEXEC,
	"noatime":     unix.MS_NOATIME,
	"nodiratime":  unix.MS_NODIRATIME,
	"relatime":    unix.MS_RELATIME,
	"nosymfollow": unix.MS_NOSYMFOLLOW,
}

// flagsOf maps mountinfo's per-mount options to mount(2) flags.
func flagsOf(opts []string) uintptr {
	var flags uintptr
	for _, o := range opts {
		flags |= perMountFlags[o]
	}
	if flags&(unix.MS_NOATIME|unix.MS_RELATIME) == 0 {
		flags |= unix.MS_STRICTATIME
	}
	return flags
}

// escapeMountPoint writes a path as the kernel writes it in mountinfo
// (space, tab, newline and backslash in octal).
var escapeMountPoint = strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace
