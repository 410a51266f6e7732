package node

import (
	"context"
	"maps"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	mount "k8s.io/mount-utils"

	"github.com/cephfs-csi/cephfs-csi/pkg/config"
)

func TestNodeGetInfoTopology(t *testing.T) {
	t.Parallel()
	segment := map[string]string{"topology.cephfs-csi.io/node-plugin": "true"}
	cfg, err := config.Parse([]byte(`[{"clusterID":"c1","monitors":["v2:10.0.0.1:3300"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	fm := mount.NewFakeMounter(nil)
	opts := Options{NodeID: "n1", Config: cfg, Mount: fm, Binds: &fakeBinds{fm: fm}, Fuse: &recorder{name: "fuse", fm: fm}, Kernel: &recorder{name: "kernel", fm: fm},
		DefaultMounter: "fuse", Topology: segment}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	segment["changed"] = "after New" // New keeps a copy
	resp, err := s.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"topology.cephfs-csi.io/node-plugin": "true"}
	if resp.GetNodeId() != "n1" || !maps.Equal(resp.GetAccessibleTopology().GetSegments(), want) {
		t.Errorf("NodeGetInfo = %v; want node n1, segment %v", resp, want)
	}
	resp.AccessibleTopology.Segments["x"] = "y" // the answer is the caller's
	if again, _ := s.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{}); !maps.Equal(again.GetAccessibleTopology().GetSegments(), want) {
		t.Errorf("a caller changed the server's segment: %v", again)
	}

	opts.NodeID, opts.Topology = "n2", nil
	plain, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := plain.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{}); resp.GetAccessibleTopology() != nil {
		t.Errorf("no segment configured, NodeGetInfo = %v", resp)
	}
}
