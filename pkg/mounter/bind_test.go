package mounter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFlagsOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts string
		want uintptr
	}{
		{"rw,nosuid,nodev,relatime", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RELATIME},
		{"ro,noexec,noatime,nodiratime", unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME},
		{"rw,nosymfollow", unix.MS_NOSYMFOLLOW | unix.MS_STRICTATIME},
		{"rw", unix.MS_STRICTATIME},
	}
	for _, tt := range tests {
		if got := flagsOf(strings.Split(tt.opts, ",")); got != tt.want {
			t.Errorf("flagsOf(%s) = %#x, want %#x", tt.opts, got, tt.want)
		}
	}
}

// TestMountFlagsFindsItsMount: the flags are those of the line whose mount
// ID is the path's, the last one of several.
func TestMountFlagsFindsItsMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_MNT_ID, &st); err != nil || st.Mask&unix.STATX_MNT_ID == 0 {
		t.Skipf("no mount IDs from statx here (%v)", err)
	}
	id := st.Mnt_id
	info := filepath.Join(dir, "mountinfo")
	lines := fmt.Sprintf("%d 1 0:50 / /other rw,noexec shared:1 - tmpfs tmpfs rw\n", id+1) +
		fmt.Sprintf("%d 1 0:51 / /somewhere rw,nodev,noatime - fuse.ceph-fuse ceph-fuse rw\n", id) +
		fmt.Sprintf("%d 1 0:51 / /somewhere rw,nosuid,nodev,relatime - fuse.ceph-fuse ceph-fuse rw\n", id)
	if err := os.WriteFile(info, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := mountFlags(info, dir)
	if want := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RELATIME); err != nil || got != want {
		t.Errorf("mountFlags = %#x, %v; want %#x", got, err, want)
	}
	if err := os.WriteFile(info, []byte(lines[:strings.Index(lines, "\n")+1]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mountFlags(info, dir); err == nil || !strings.Contains(err.Error(), "is not in") {
		t.Errorf("a mount missing from mountinfo: %v", err)
	}
}

func TestEscapeMountPoint(t *testing.T) {
	t.Parallel()
	if got := escapeMountPoint("/a b\tc\\d"); got != `/a\040b\011c\134d` {
		t.Errorf("escaped %q", got)
	}
}
