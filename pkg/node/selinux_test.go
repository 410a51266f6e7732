package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/server"
)

// kubeletContext is the mount flag the kubelet v1.37 adds at NodeStage and
// NodePublish for a pod with an SELinux label, on a node with SELinux.
const kubeletContext = `context="system_u:object_r:container_file_t:s0:c1,c2"`

func TestSELinuxOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fuse, kernel := map[string]string{"mounter": "fuse"}, map[string]string{"mounter": "kernel"}

	// No SELinux on the node: the label is dropped, for both clients.
	s, _, _ := newTestServer(t, true)
	for _, vc := range []map[string]string{fuse, kernel} {
		_, req, err := s.mountRequest(ctx, stageReq("/s", vc, kubeletContext, "noatime"))
		if err != nil || slices.ContainsFunc(req.Options, func(o string) bool { return o == kubeletContext }) {
			t.Errorf("%v without SELinux: options %q, %v; want the context dropped", vc, req.Options, err)
		}
	}

	// SELinux on: the context stays one option, commas and quotes kept.
	s.selinux = true
	_, req, err := s.mountRequest(ctx, stageReq("/s", fuse, kubeletContext, "noatime"))
	if want := []string{"debug", kubeletContext, "noatime"}; err != nil || !slices.Equal(req.Options, want) {
		t.Errorf("fuse with SELinux: options %q, %v; want %q", req.Options, err, want)
	}
	// The kernel client, through mount(8), needs the host's SELinux config.
	s.selinuxConfig = filepath.Join(t.TempDir(), "config")
	if _, _, err := s.mountRequest(ctx, stageReq("/s", kernel, kubeletContext)); server.Code(err) != codes.FailedPrecondition {
		t.Errorf("kernel with SELinux, no %s: %v, want FailedPrecondition", s.selinuxConfig, err)
	}
	if err := os.WriteFile(s.selinuxConfig, []byte("SELINUX=enforcing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, req, err = s.mountRequest(ctx, stageReq("/s", kernel, kubeletContext))
	if want := []string{"noatime", kubeletContext}; err != nil || !slices.Equal(req.Options, want) {
		t.Errorf("kernel with SELinux: options %q, %v; want %q", req.Options, err, want)
	}

	// Hostile flags are refused whatever the node.
	for _, f := range []string{
		`context="a,b",secretfile=/x`,
		kubeletContext + ",secretfile=/x",
		`context="system_u:object_r:container_file_t:s0:c1,secretfile=/x"`,
		`context="system_u:object_r:container_file_t:s0:c1`,
	} {
		if _, _, err := s.mountRequest(ctx, stageReq("/s", fuse, f)); server.Code(err) != codes.InvalidArgument {
			t.Errorf("flag %q: %v, want InvalidArgument", f, err)
		}
	}
}

// TestPublishIgnoresSELinuxFlag: the kubelet passes context= at
// NodePublish too. The bind mount shares the staged mount's superblock,
// whose label covers it: the flag must neither reach nor fail the bind.
func TestPublishIgnoresSELinuxFlag(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, false)
	s.selinux = true
	dir := t.TempDir()
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	stage := stageReq(staging, nil, kubeletContext)
	stage.VolumeCapability.AccessMode.Mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	if _, err := s.NodeStageVolume(context.Background(), stage); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{
		VolumeId: stage.GetVolumeId(), StagingTargetPath: staging, TargetPath: target,
		VolumeCapability: stage.GetVolumeCapability(), VolumeContext: stage.GetVolumeContext(),
	}); err != nil {
		t.Fatalf("publish with %s: %v", kubeletContext, err)
	}
	mps, _ := s.mount.List()
	i := slices.IndexFunc(mps, func(mp mount.MountPoint) bool { return mp.Path == target })
	if i < 0 || !slices.Equal(mps[i].Opts, []string{"bind"}) {
		t.Errorf("mounts %+v: want %s bind-mounted with [bind] only", mps, target)
	}
}
