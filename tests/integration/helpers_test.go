package integration

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

var rwx = mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)

// createVolume makes a volume (from src when not nil) and deletes it when
// the test ends.
func createVolume(t *testing.T, drv *testcluster.Clients, c *testcluster.Cluster, name string, size int64, src *csi.VolumeContentSource) *csi.Volume {
	t.Helper()
	resp, err := drv.Controller.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: name + "-" + time.Now().Format("150405.000"), CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.Params(), Secrets: c.Secrets(),
		VolumeContentSource: src,
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	t.Cleanup(func() { deleteEventually(t, drv, resp.GetVolume().GetVolumeId(), c.Secrets()) })
	return resp.GetVolume()
}

// files lists the regular files in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSynced writes a file and fsyncs it: data that must survive the
// client's death (a killed ceph-fuse loses what it has not flushed, as the
// Reef client showed).
func writeSynced(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
