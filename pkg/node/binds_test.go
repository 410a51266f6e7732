package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// fakeBinds binds in a FakeMounter, which the node's checks read, records
// what it was asked, and answers EBUSY to the first busy unmounts (every
// one with busy < 0) or err to all.
type fakeBinds struct {
	fm *mount.FakeMounter

	mu       sync.Mutex
	binds    []bindCall
	busy     int
	err      error
	unmounts int
}

type bindCall struct {
	source, target string
	readOnly       bool
}

func (f *fakeBinds) Bind(source, target string, readOnly bool) error {
	f.mu.Lock()
	f.binds = append(f.binds, bindCall{source, target, readOnly})
	f.mu.Unlock()
	opts := []string{"bind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	return f.fm.Mount(source, target, "", opts)
}

func (f *fakeBinds) Unmount(target string) error {
	f.mu.Lock()
	f.unmounts++
	busy, err := f.busy != 0, f.err
	if f.busy > 0 {
		f.busy--
	}
	f.mu.Unlock()
	switch {
	case err != nil:
		return &os.PathError{Op: "umount2", Path: target, Err: err}
	case busy:
		return &os.PathError{Op: "umount2", Path: target, Err: unix.EBUSY}
	}
	return f.fm.Unmount(target)
}

func (f *fakeBinds) calls() ([]bindCall, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bindCall(nil), f.binds...), f.unmounts
}

// TestPublishBinds: one bind per target, read-only when the request or the
// access mode says so, none for a target already published; unpublish
// unmounts once and removes the target, and again finds nothing to do.
func TestPublishBinds(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, false)
	binds := s.binds.(*fakeBinds)
	ctx := context.Background()
	dir := t.TempDir()
	staging := filepath.Join(dir, "staging")
	if _, err := s.NodeStageVolume(ctx, stageReq(staging, nil)); err != nil {
		t.Fatal(err)
	}
	id := stageReq(staging, nil).GetVolumeId()
	rw, roFlag, roMode := filepath.Join(dir, "rw"), filepath.Join(dir, "ro-flag"), filepath.Join(dir, "ro-mode")
	for _, req := range []*csi.NodePublishVolumeRequest{
		publishReq(id, staging, rw),
		publishReq(id, staging, rw), // already published
		{VolumeId: id, StagingTargetPath: staging, TargetPath: roFlag, Readonly: true, VolumeCapability: stageReq("", nil).GetVolumeCapability()},
		{VolumeId: id, StagingTargetPath: staging, TargetPath: roMode, VolumeCapability: mountCapability(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)},
	} {
		if _, err := s.NodePublishVolume(ctx, req); err != nil {
			t.Fatalf("publish %s: %v", req.GetTargetPath(), err)
		}
	}
	got, _ := binds.calls()
	want := []bindCall{{staging, rw, false}, {staging, roFlag, true}, {staging, roMode, true}}
	if len(got) != len(want) {
		t.Fatalf("binds %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bind %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for range 2 {
		if _, err := s.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: rw}); err != nil {
			t.Fatalf("unpublish: %v", err)
		}
	}
	if _, unmounts := binds.calls(); unmounts != 1 {
		t.Errorf("%d unmounts for one publication unpublished twice, want 1", unmounts)
	}
	if _, err := os.Stat(rw); !os.IsNotExist(err) {
		t.Errorf("target left behind: %v", err)
	}
}

func mountCapability(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	c := stageReq("", nil).GetVolumeCapability()
	c.AccessMode.Mode = mode
	return c
}

// TestUnmountBusy: a mount busy for a moment is unmounted on a later try; one
// that stays busy is Unavailable, saying so, and stays mounted; other errors
// are not retried; a request that ends while waiting says so.
func TestUnmountBusy(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		ctx         context.Context
		busy        int
		err         error
		code        codes.Code
		message     string
		minUnmounts int
		maxUnmounts int
	}{
		{"busy three times", context.Background(), 3, nil, codes.OK, "", 4, 4},
		{"busy for good", context.Background(), -1, nil, codes.Unavailable, "still in use after", 2, 100},
		{"another error", context.Background(), 0, unix.EPERM, codes.Internal, "operation not permitted", 1, 1},
		{"request ended", canceled, -1, nil, codes.Canceled, "busy, and context canceled", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := newTestServer(t, false)
			binds := s.binds.(*fakeBinds)
			staging := filepath.Join(t.TempDir(), "staging")
			if _, err := s.NodeStageVolume(context.Background(), stageReq(staging, nil)); err != nil {
				t.Fatal(err)
			}
			binds.busy, binds.err = tt.busy, tt.err
			_, err := s.NodeUnstageVolume(tt.ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: staging})
			if server.Code(err) != tt.code || (err != nil && !strings.Contains(err.Error(), tt.message)) {
				t.Fatalf("unstage: %v, want %v with %q", err, tt.code, tt.message)
			}
			_, unmounts := binds.calls()
			if unmounts < tt.minUnmounts || unmounts > tt.maxUnmounts {
				t.Errorf("%d unmounts, want %d to %d", unmounts, tt.minUnmounts, tt.maxUnmounts)
			}
			notMnt, _ := s.mount.IsLikelyNotMountPoint(staging)
			if (tt.code == codes.OK) != notMnt {
				t.Errorf("after unstage answered %v the staging path is mounted: %v", tt.code, !notMnt)
			}
		})
	}
}
