package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// TestJudge: what each look at a mount becomes. The failures are fakes of
// what the real clients answer (tests/integration covers a killed
// ceph-fuse, a removed subvolume and a full quota on the real thing).
func TestJudge(t *testing.T) {
	t.Parallel()
	const (
		inaccessible = csi.VolumeHealthErrorType_INACCESSIBLE
		degraded     = csi.VolumeHealthErrorType_DEGRADED
	)
	well := volumeState{links: 2, avail: 1 << 20}
	timedOut := fmt.Errorf("no answer from /p: %w", context.DeadlineExceeded)
	tests := []struct {
		name    string
		st      volumeState
		err     error
		status  csi.VolumeHealthErrorType
		reason  string // "": no entry
		wantErr bool
	}{
		{"healthy", well, nil, 0, "", false},
		{"healthy with a quota", volumeState{links: 2, avail: 1, quota: true}, nil, 0, "", false},
		{"dead ceph-fuse", volumeState{}, &os.PathError{Op: "statx", Path: "/p", Err: unix.ENOTCONN}, inaccessible, contract.ReasonClientDisconnected, false},
		{"aborted FUSE connection", volumeState{}, &os.PathError{Op: "statx", Path: "/p", Err: unix.ECONNABORTED}, inaccessible, contract.ReasonClientDisconnected, false},
		{"stale", volumeState{}, &os.PathError{Op: "lstat", Path: "/p", Err: unix.ESTALE}, inaccessible, contract.ReasonClientDisconnected, false},
		{"blocklisted kernel client", volumeState{}, &os.PathError{Op: "statx", Path: "/p", Err: unix.ESHUTDOWN}, inaccessible, contract.ReasonClientDisconnected, false},
		{"no answer", volumeState{}, timedOut, inaccessible, contract.ReasonClientNotResponding, false},
		{"evicted kernel client (EACCES)", volumeState{}, &os.PathError{Op: "statx", Path: "/p", Err: unix.EACCES}, inaccessible, contract.ReasonClientDisconnected, false},
		{"subvolume removed", volumeState{links: 0}, nil, inaccessible, contract.ReasonSubvolumeMissing, false},
		{"at its quota", volumeState{links: 2, avail: 0, quota: true}, nil, degraded, contract.ReasonQuotaExceeded, false},
		{"no quota, no space", volumeState{links: 2, avail: 0}, nil, degraded, contract.ReasonPoolFull, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := judge("/p", tt.st, tt.err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			switch {
			case tt.reason == "" && len(got) != 0:
				t.Errorf("entries %v, want none", got)
			case tt.reason != "" && (len(got) != 1 || got[0].GetStatus() != tt.status || got[0].GetReason() != tt.reason || got[0].GetMessage() == ""):
				t.Errorf("entries %v, want one %v %s with a message", got, tt.status, tt.reason)
			}
		})
	}
}

// fakeInspect answers every look with st and err, and counts the looks.
func fakeInspect(st volumeState, err error, looks *int) inspectFunc {
	return func(context.Context, string) (volumeState, error) {
		*looks++
		return st, err
	}
}

func TestNodeGetVolumeHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const id = "cfs1:c1:myfs:csi:v"
	s, _, _ := newTestServer(t, false)
	fm := s.mount.(*mount.FakeMounter)
	dir := t.TempDir()
	staging, target, bare := filepath.Join(dir, "staging"), filepath.Join(dir, "target"), filepath.Join(dir, "bare")
	for _, p := range []string{target, bare} {
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.NodeStageVolume(ctx, stageReq(staging, nil)); err != nil {
		t.Fatal(err)
	}
	if err := fm.Mount(staging, target, "", []string{"bind"}); err != nil {
		t.Fatal(err)
	}
	looks := 0
	s.inspect = fakeInspect(volumeState{links: 0}, nil, &looks)

	ask := func(publish, staging string) ([]*csi.VolumeHealth_VolumeHealthEntry, error) {
		resp, err := s.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: publish, StagingTargetPath: staging})
		if err == nil && resp.GetVolumeHealth().GetVolumeId() != id {
			t.Errorf("answer for %q, want %q", resp.GetVolumeHealth().GetVolumeId(), id)
		}
		return resp.GetVolumeHealth().GetHealthStatuses(), err
	}

	// Both paths show the removal; the spec allows one entry per (status, reason).
	got, err := ask(target, staging)
	if err != nil || len(got) != 1 || got[0].GetReason() != contract.ReasonSubvolumeMissing || looks != 2 {
		t.Errorf("both paths: %v, %v after %d looks, want one %s after 2", got, err, looks, contract.ReasonSubvolumeMissing)
	}
	// The ID alone: the staging path NodeStage remembered.
	looks = 0
	if got, err := ask("", ""); err != nil || len(got) != 1 || looks != 1 {
		t.Errorf("ID alone: %v, %v after %d looks, want one entry after 1", got, err, looks)
	}
	// A publish path not mounted yet: the staging path answers.
	if got, err := ask(bare, staging); err != nil || len(got) != 1 {
		t.Errorf("unmounted publish path: %v, %v, want the staging mount's entry", got, err)
	}
	// A client gone at the mount check itself.
	fm.MountCheckErrors = map[string]error{staging: &os.PathError{Op: "lstat", Path: staging, Err: unix.ENOTCONN}}
	if got, err := ask("", staging); err != nil || len(got) != 1 || got[0].GetReason() != contract.ReasonClientDisconnected {
		t.Errorf("corrupted staging mount: %v, %v, want %s", got, err, contract.ReasonClientDisconnected)
	}
	fm.MountCheckErrors = nil

	// The request's own end is an error, not a sick client.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s.inspect = func(ctx context.Context, _ string) (volumeState, error) { return volumeState{}, ctx.Err() }
	if _, err := s.NodeGetVolumeHealth(cctx, &csi.NodeGetVolumeHealthRequest{VolumeId: id, StagingTargetPath: staging}); err == nil {
		t.Error("canceled request answered")
	}

	other, _, _ := newTestServer(t, false)
	if resp, err := other.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: id}); err != nil || len(resp.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Errorf("ID alone, nothing staged here: %v, %v, want an empty answer", resp, err)
	}

	for _, tt := range []struct {
		name string
		req  *csi.NodeGetVolumeHealthRequest
		code codes.Code
	}{
		{"no volume ID", &csi.NodeGetVolumeHealthRequest{StagingTargetPath: staging}, codes.InvalidArgument},
		{"relative publish path", &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: "pods/x"}, codes.InvalidArgument},
		{"dot-dot staging path", &csi.NodeGetVolumeHealthRequest{VolumeId: id, StagingTargetPath: "/var/../etc"}, codes.InvalidArgument},
		{"control character", &csi.NodeGetVolumeHealthRequest{VolumeId: id, StagingTargetPath: "/a\nb"}, codes.InvalidArgument},
		{"missing path", &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: filepath.Join(dir, "nope")}, codes.NotFound},
		{"no mount there", &csi.NodeGetVolumeHealthRequest{VolumeId: id, VolumePublishPath: bare}, codes.NotFound},
	} {
		if _, err := s.NodeGetVolumeHealth(ctx, tt.req); server.Code(err) != tt.code {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.code)
		}
	}
}
