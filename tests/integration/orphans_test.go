package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/driver"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
	"github.com/cephfs-csi/cephfs-csi/tests/clusterdesc"
	"github.com/cephfs-csi/cephfs-csi/tests/testcluster"
)

// orphanItem is what `cephfs-csi orphans --json` prints of one object.
type orphanItem struct {
	Status, Kind, Group, Subvolume, Snapshot, Handle, Result string
}

// TestOrphans: volumes, snapshots, a shallow volume and ceph-csi volumes in
// a group and journal namespace of the test's own; some handles are passed
// as live. The report lists exactly the rest, --delete removes exactly
// that, the live ones stay usable, and a claim without its subvolume (a
// create in progress) is reported but never removed.
func TestOrphans(t *testing.T) {
	needRoot(t)
	t.Parallel()
	base := testcluster.Get(t)
	ctx := context.Background()
	suffix := time.Now().Format("150405.000")
	c := *base
	c.Group = "orphans-" + strings.ReplaceAll(suffix, ".", "")
	ns := "csi-" + c.Group
	cfg := filepath.Join(t.TempDir(), "config.json")
	writeJSON(t, cfg, []map[string]any{{
		"clusterID": testcluster.ClusterID, "monitors": []string{c.Mon},
		"cephFS": map[string]string{"subvolumeGroup": c.Group, "radosNamespace": ns},
	}})
	t.Cleanup(func() { // last: once every volume of the test is gone
		_, _ = exec.Command("ceph", "-c", c.Conf, "fs", "subvolumegroup", "rm", c.FS, c.Group).CombinedOutput()
		out, _ := exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", ns, "ls").Output()
		for _, obj := range strings.Fields(string(out)) {
			_, _ = exec.Command("rados", "-c", c.Conf, "-p", c.FS+"-metadata", "--namespace", ns, "rm", obj).CombinedOutput()
		}
	})
	drv := c.StartDriver(t, func(o *driver.Options) { o.ClusterConfig = cfg })

	live := createVolume(t, drv, &c, "orph-live", 64<<20, nil).GetVolumeId()
	orphan := createVolume(t, drv, &c, "orph-orphan", 64<<20, nil).GetVolumeId()
	snap := func(name, src string) string {
		r, err := drv.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name + "-" + suffix, SourceVolumeId: src, Secrets: c.Secrets()})
		if err != nil {
			t.Fatalf("CreateSnapshot %s: %v", name, err)
		}
		t.Cleanup(func() {
			_, _ = drv.Controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: r.GetSnapshot().GetSnapshotId(), Secrets: c.Secrets()})
		})
		return r.GetSnapshot().GetSnapshotId()
	}
	liveSnap := snap("live", live)
	orphanSnap := snap("orphan", live) // of a live volume, with no live handle
	shallowSnap := snap("shallow", live)
	shallow := createShallow(t, drv, &c, "orph-ro", shallowSnap)

	// ceph-csi's volumes, journaled in the test's namespace.
	liveLegacy, _ := orphanLegacyVolume(t, &c, ns, "pvc-live-"+suffix)
	orphanLegacy, orphanLegacySub := orphanLegacyVolume(t, &c, ns, "pvc-orphan-"+suffix)
	// A create in progress: a claim whose subvolume is not made yet.
	radosNS(t, &c, "cephfs-csi", "create", "claim/"+c.Group+"/csi-vol-halfway")

	handles := writeLines(t, live, shallow, liveLegacy)
	snapHandles := writeLines(t, liveSnap)
	args := []string{"orphans", "--cluster-config", cfg, "--keyring", filepath.Join(c.Dir, "keyring.admin"),
		"--handles", handles, "--snapshot-handles", snapHandles, "--group", c.Group, "--json"}

	// With the default minimum age everything is too young to be an orphan.
	items, code := runOrphans(t, args...)
	if code != 0 || slices.ContainsFunc(items, func(it orphanItem) bool { return it.Status == "orphan" }) {
		t.Fatalf("default --min-age: exit %d, %v; want no orphan", code, items)
	}

	args = append(args, "--min-age", "0s")
	items, code = runOrphans(t, args...)
	want := []string{
		"in-progress claim csi-vol-halfway ",
		"orphan snapshot " + sub(t, live) + " " + snapName(t, orphanSnap),
		"orphan subvolume " + orphanLegacySub + " ",
		"orphan subvolume " + sub(t, orphan) + " ",
	}
	slices.Sort(want)
	if got := lines(items); code != 1 || !slices.Equal(got, want) {
		t.Fatalf("exit %d, report:\n%s\nwant:\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, it := range items {
		if it.Kind == "subvolume" && it.Subvolume == orphanLegacySub && it.Handle != orphanLegacy {
			t.Errorf("ceph-csi volume listed as %s, want its handle %s", it.Handle, orphanLegacy)
		}
	}

	items, code = runOrphans(t, append(args, "--delete")...)
	if code != 1 {
		t.Fatalf("--delete: exit %d: %v", code, items)
	}
	for _, it := range items {
		if (it.Status == "orphan") != (it.Result == "removed") {
			t.Errorf("%s %s %s: result %q", it.Status, it.Kind, it.Subvolume, it.Result)
		}
	}
	if slices.Contains(c.Snapshots(t, live), snapName(t, orphanSnap)) || c.CountSubvolumes(t, orphan) != 0 {
		t.Error("an orphan is still there after --delete")
	}
	if n := countIn(t, &c, orphanLegacySub); n != 0 {
		t.Errorf("the orphaned ceph-csi subvolume is still there")
	}
	if out := radosNS(t, &c, ns, "ls"); strings.Contains(out, strings.TrimPrefix(orphanLegacySub, "csi-vol-")) {
		t.Errorf("the orphaned ceph-csi volume's journal entry is left:\n%s", out)
	}
	// The live ones are all there and work.
	for _, id := range []string{live, liveLegacy} {
		if _, err := drv.Controller.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{
			VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{rwx}, Secrets: c.Secrets(),
		}); err != nil {
			t.Errorf("live volume %s after --delete: %v", id, err)
		}
	}
	for _, id := range []string{liveSnap, shallowSnap} {
		if r, err := drv.Controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id, Secrets: c.Secrets()}); err != nil || len(r.GetEntries()) != 1 {
			t.Errorf("live snapshot %s after --delete: %v, %v", id, r, err)
		}
	}
	items, code = runOrphans(t, args...)
	if got := lines(items); code != 0 || !slices.Equal(got, []string{"in-progress claim csi-vol-halfway "}) {
		t.Errorf("after --delete: exit %d, %v; want only the claim in progress", code, got)
	}
	radosNS(t, &c, "cephfs-csi", "rm", "claim/"+c.Group+"/csi-vol-halfway")
}

func createShallow(t *testing.T, drv *testcluster.Clients, c *testcluster.Cluster, name, snapID string) string {
	t.Helper()
	rox := mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	r, err := drv.Controller.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: name + "-" + time.Now().Format("150405.000"), VolumeCapabilities: []*csi.VolumeCapability{rox},
		Parameters: c.Params(), Secrets: c.Secrets(), VolumeContentSource: fromSnapshot(snapID),
	})
	if err != nil {
		t.Fatalf("shallow CreateVolume: %v", err)
	}
	t.Cleanup(func() { deleteEventually(t, drv, r.GetVolume().GetVolumeId(), c.Secrets()) })
	return r.GetVolume().GetVolumeId()
}

// orphanLegacyVolume makes a volume as ceph-csi does (legacyVolume), its
// journal in namespace ns, and returns its handle and subvolume.
func orphanLegacyVolume(t *testing.T, c *testcluster.Cluster, ns, request string) (string, string) {
	t.Helper()
	uuid := newUUID()
	subvolume := "csi-vol-" + uuid
	c.Ceph(t, "fs", "subvolume", "create", c.FS, subvolume, "--group_name", c.Group, "--size", "67108864")
	for _, kv := range [][3]string{
		{"csi.volume." + uuid, "csi.imagename", subvolume},
		{"csi.volume." + uuid, "csi.volname", request},
		{"csi.volumes.default", "csi.volume." + request, uuid},
	} {
		radosNS(t, c, ns, "setomapval", kv[0], kv[1], kv[2])
	}
	fscid, err := clusterdesc.FilesystemID([]byte(c.Ceph(t, "fs", "dump", "--format=json")), c.FS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = exec.Command("ceph", "-c", c.Conf, "fs", "subvolume", "rm", c.FS, subvolume, "--group_name", c.Group).CombinedOutput()
	})
	return volumeid.CephCSI{ClusterID: testcluster.ClusterID, LocationID: fscid, UUID: uuid}.Encode(), subvolume
}

func radosNS(t *testing.T, c *testcluster.Cluster, ns string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"-c", c.Conf, "-p", c.FS + "-metadata", "--namespace", ns}, args...)
	out, err := exec.CommandContext(ctx, "rados", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("rados %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runOrphans runs the driver binary's orphans subcommand and decodes its
// JSON.
func runOrphans(t *testing.T, args ...string) ([]orphanItem, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testcluster.Binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 2 {
		t.Fatalf("cephfs-csi %s: exit 2\n%s", strings.Join(args, " "), stderr.Bytes())
	}
	var out struct{ Items []orphanItem }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output: %v\n%s\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return out.Items, code
}

func lines(items []orphanItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s %s %s %s", it.Status, it.Kind, it.Subvolume, it.Snapshot))
	}
	slices.Sort(out)
	return out
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "handles")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sub(t *testing.T, id string) string {
	t.Helper()
	v, err := volumeid.DecodeVolume(id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Subvolume
}

func snapName(t *testing.T, id string) string {
	t.Helper()
	s, err := volumeid.DecodeSnapshot(id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Name
}

// countIn counts subvolume name in the test's group.
func countIn(t *testing.T, c *testcluster.Cluster, name string) int {
	t.Helper()
	var list []struct{ Name string }
	c.CephJSON(t, &list, "fs", "subvolume", "ls", c.FS, "--group_name", c.Group)
	n := 0
	for _, e := range list {
		if e.Name == name {
			n++
		}
	}
	return n
}
