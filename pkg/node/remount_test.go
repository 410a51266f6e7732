package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
	"github.com/cephfs-csi/cephfs-csi/pkg/mounter"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// holding is a recorder whose mounts a holder keeps: it lists held.
type holding struct {
	*recorder
	held []mounter.Held
	err  error
}

func (h *holding) Held(context.Context) ([]mounter.Held, error) { return h.held, h.err }

func newHoldingServer(t *testing.T, h *holding) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(`[{"clusterID":"c1","monitors":["10.0.0.1:6789"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	fm := mount.NewFakeMounter(nil)
	h.recorder = &recorder{name: "fuse", fm: fm}
	s, err := New(Options{NodeID: "n1", Config: cfg, Mount: fm, Binds: &fakeBinds{fm: fm}, Fuse: h, Kernel: &recorder{name: "kernel", fm: fm},
		DefaultMounter: "fuse"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publishReq(volumeID, staging, target string) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{
		VolumeId: volumeID, StagingTargetPath: staging, TargetPath: target,
		VolumeCapability: stageReq("", nil).GetVolumeCapability(),
	}
}

// A node plugin started after NodeStage learns the holder's mounts and
// mounts a dead one again at NodePublish with what it was made with.
func TestRelearnedMountRestagedAtPublish(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	made := mounter.Request{VolumeID: "cfs1:c1:myfs:csi:v", Monitors: []string{"10.0.0.1:6789"}, FSName: "myfs",
		Path: "/volumes/csi/v/uuid", Creds: contract.Credentials{ID: "node", Key: key}, Options: []string{"debug"}}
	h := &holding{held: []mounter.Held{
		{Target: staging, Request: made},
		{Target: filepath.Join(dir, "unnamed"), Request: mounter.Request{Path: "/x"}}, // no volume ID: skipped
	}}
	s := newHoldingServer(t, h)
	if n, err := s.Relearn(context.Background()); err != nil || n != 1 {
		t.Fatalf("Relearn = %d, %v; want 1", n, err)
	}
	// The holder's ceph-fuse is gone: the staging path is a plain directory.
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NodePublishVolume(context.Background(), publishReq(made.VolumeID, staging, target)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if len(h.got) != 1 || h.got[0].Creds != made.Creds || h.got[0].Path != made.Path || h.got[0].VolumeID != made.VolumeID {
		t.Fatalf("mounted again with %+v, want %+v", h.got, made)
	}
	// Another volume's publish on that staging path is not served from it.
	other := filepath.Join(dir, "other")
	if _, err := s.NodePublishVolume(context.Background(), publishReq("cfs1:c1:myfs:csi:w", filepath.Join(dir, "unnamed"), other)); server.Code(err) != codes.FailedPrecondition {
		t.Fatalf("publish of an unlearned volume: %v, want FailedPrecondition", err)
	}
}

// What NodeStage gave since is newer than what the holder lists.
func TestRelearnKeepsNodeStage(t *testing.T) {
	t.Parallel()
	staging := filepath.Join(t.TempDir(), "staging")
	h := &holding{held: []mounter.Held{{Target: staging, Request: mounter.Request{VolumeID: "cfs1:c1:myfs:csi:v", Path: "/old"}}}}
	s := newHoldingServer(t, h)
	s.staged.remember(staging, stagedMount{volumeID: "cfs1:c1:myfs:csi:v", mounter: h, req: mounter.Request{Path: "/new"}})
	if n, err := s.Relearn(context.Background()); err != nil || n != 0 {
		t.Fatalf("Relearn = %d, %v; want 0", n, err)
	}
	if m, _ := s.staged.lookup(staging); m.req.Path != "/new" {
		t.Errorf("remembered %q, want what NodeStage gave", m.req.Path)
	}
	h.err = errors.New("connection refused")
	if _, err := s.Relearn(context.Background()); err == nil {
		t.Error("an unreachable holder went unreported")
	}
}
