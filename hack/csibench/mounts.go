package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range infos {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out, nil
}

// unmountIfMounted unmounts target if something is mounted there, lazily
// when it is busy, so that a cleanup never leaves a mount behind.
func unmountIfMounted(target string) error {
	mounted, err := mountsUnder(target)
	if err != nil {
		return err
	}
	for range mounted { // stacked mounts come off one at a time
		err := unix.Unmount(target, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("umount %s: %w", target, err)
		}
	}
	return nil
}
