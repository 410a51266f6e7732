package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestIsShallow(t *testing.T) {
	t.Parallel()
	const handle = "0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006"
	tests := []struct {
		name string
		id   string
		vc   map[string]string
		want bool
	}{
		{"ours", "cfs1:c:fs:n", map[string]string{contract.CtxBackingSnapshotRoot: ".snap/s/u"}, true},
		{"ceph-csi static", "static", map[string]string{contract.CtxBackingSnapshotID: "x"}, true},
		{"ceph-csi parameter", handle, map[string]string{contract.CtxBackingSnapshot: "true"}, true},
		{"ceph-csi parameter false", handle, map[string]string{contract.CtxBackingSnapshot: "false", contract.CtxSubvolumeName: "csi-vol-a", contract.CtxSubvolumePath: "/volumes/csi/csi-vol-a/u"}, false},
		{"ceph-csi default", handle, map[string]string{contract.CtxSubvolumeName: "csi-vol-new", contract.CtxSubvolumePath: "/volumes/csi/csi-vol-src"}, true},
		{"ceph-csi volume", handle, map[string]string{contract.CtxSubvolumeName: "csi-vol-a", contract.CtxSubvolumePath: "/volumes/csi/csi-vol-a/u"}, false},
		{"ceph-csi legacy", handle, map[string]string{contract.CtxSubvolumeName: "csi-vol-a"}, false},
		{"ours, writable", "cfs1:c:fs:g:sv", map[string]string{contract.CtxSubvolumePath: "/volumes/csi/x/u"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isShallow(tt.id, tt.vc); got != tt.want {
				t.Errorf("isShallow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckSnapshotRoot(t *testing.T) {
	t.Parallel()
	for root, ok := range map[string]bool{
		".snap/s/uuid": true, ".snap/s": true,
		"": false, "/.snap/s/u": false, ".snap/../x": false, ".snap/s/../../x": false, "data/s/u": false,
		".snap/s/u/more": false, ".snap//s": false, ".snap/s\n/u": false, ".snap/s/u/": false,
	} {
		if err := checkSnapshotRoot(root); (err == nil) != ok || (err != nil && !errors.Is(err, contract.ErrInvalid)) {
			t.Errorf("checkSnapshotRoot(%q) = %v, want ok=%v", root, err, ok)
		}
	}
}

func TestSnapshotDir(t *testing.T) {
	t.Parallel()
	staging := t.TempDir()
	for _, d := range []string{".snap/one/uuid", ".snap/two/a", ".snap/two/b"} {
		if err := os.MkdirAll(filepath.Join(staging, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(staging, ".snap/one/.meta"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := snapshotDir(staging, "one"); err != nil || got != ".snap/one/uuid" {
		t.Errorf("snapshotDir(one) = %q, %v", got, err)
	}
	if _, err := snapshotDir(staging, "two"); !errors.Is(err, contract.ErrFailedPrecondition) {
		t.Errorf("two directories: %v, want FailedPrecondition", err)
	}
	if _, err := snapshotDir(staging, "gone"); !errors.Is(err, contract.ErrNotFound) {
		t.Errorf("missing snapshot: %v, want NotFound", err)
	}
	if _, err := snapshotDir(staging, "../x"); !errors.Is(err, contract.ErrInvalid) {
		t.Errorf("bad name: %v, want Invalid", err)
	}
}

func TestStaticSnapshotDir(t *testing.T) {
	t.Parallel()
	staging := t.TempDir()
	for _, d := range []string{".snap/_nightly_1099511627778", ".snap/_weekly_1099511627778", ".snap/_weekly-old_1099511627778"} {
		if err := os.MkdirAll(filepath.Join(staging, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := staticSnapshotDir(staging, "nightly"); err != nil || got != ".snap/_nightly_1099511627778" {
		t.Errorf("staticSnapshotDir(nightly) = %q, %v", got, err)
	}
	if _, err := staticSnapshotDir(staging, "weekly"); !errors.Is(err, contract.ErrFailedPrecondition) {
		t.Errorf("ambiguous: %v, want FailedPrecondition", err)
	}
	if _, err := staticSnapshotDir(staging, "monthly"); !errors.Is(err, contract.ErrFailedPrecondition) {
		t.Errorf("none: %v, want FailedPrecondition", err)
	}
}
