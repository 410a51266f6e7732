package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
	"github.com/cephfs-csi/cephfs-csi/pkg/config"
	"github.com/cephfs-csi/cephfs-csi/pkg/controller/fake"
	"github.com/cephfs-csi/cephfs-csi/pkg/server"
	"github.com/cephfs-csi/cephfs-csi/pkg/volumeid"
)

// orphanWorld is a fake cluster c1 holding one of everything the report
// tells apart; live and want say what the report must find.
type orphanWorld struct {
	s                   *Server
	f                   *fake.Session
	live, liveSnaps     map[string]bool
	liveVol, orphanVol  string
	liveSnap, orphanSnp string
}

func newOrphanWorld(t *testing.T) *orphanWorld {
	t.Helper()
	ctx := context.Background()
	s, f := newFakeServer(t)
	w := &orphanWorld{s: s, f: f, live: map[string]bool{}, liveSnaps: map[string]bool{}}
	w.liveVol = mustCreate(t, s, "live")
	w.orphanVol = mustCreate(t, s, "orphan")
	w.live[w.liveVol] = true
	snap := func(name, src string) string {
		r, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: src, Secrets: req("x").Secrets})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetSnapshot().GetSnapshotId()
	}
	w.liveSnap = snap("snap-live", w.liveVol)
	w.liveSnaps[w.liveSnap] = true
	w.orphanSnp = snap("snap-orphan", w.liveVol) // of a live volume, no live handle
	// A snapshot that only a live shallow volume reads, and one that only
	// an orphaned shallow volume reads.
	readByShallow := snap("snap-shallow", w.liveVol)
	readByOrphan := snap("snap-shallow-orphan", w.liveVol)
	shallow := func(name, snapID string) string {
		r := req(name)
		r.VolumeCapabilities[0].AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
		r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
		v, err := s.CreateVolume(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return v.GetVolume().GetVolumeId()
	}
	w.live[shallow("ro-live", readByShallow)] = true
	shallow("ro-orphan", readByOrphan)
	for k, r := range f.References { // made long ago
		var rec shallowRecord
		mustUnmarshal(t, r, &rec)
		rec.Created = fake.Created.UnixNano()
		f.References[k] = mustMarshal(t, rec)
	}

	// A create in progress: a claim without its subvolume; a subvolume
	// made a minute ago; a clone still copying.
	f.Claims["myfs/grp/csi-vol-halfway"] = []byte("pvc-halfway")
	mustCreate(t, s, "young")
	f.Subvolumes[key3("myfs", "grp", mustDerive(t, "young"))].Created = time.Now().Add(-time.Minute)
	mustCreate(t, s, "copying")
	f.CloneStates = map[string]ceph.CloneState{mustDerive(t, "copying"): {State: "in-progress"}}
	// A snapshot clones copy from, of an orphaned volume.
	snapOfOrphan := snap("snap-busy", w.orphanVol)
	sb, _ := volumeid.DecodeSnapshot(snapOfOrphan)
	f.PendingClones = map[string]bool{key3("myfs", "grp", sb.Subvolume) + "@" + sb.Name: true}

	// Made by hand: no claim.
	f.Subvolumes["myfs/grp/by-hand"] = &ceph.Subvolume{Path: "/volumes/grp/by-hand/u", State: "complete", Created: fake.Created}
	// A record whose snapshot is gone.
	gone := snap("snap-gone", w.liveVol)
	g, _ := volumeid.DecodeSnapshot(gone)
	delete(f.Snapshots, key3("myfs", "grp", g.Subvolume)+"@"+g.Name)
	for k, r := range f.Records { // taken long ago
		var rec snapshotRecord
		mustUnmarshal(t, r, &rec)
		rec.Created = fake.Created.UnixNano()
		f.Records[k] = mustMarshal(t, rec)
	}

	// ceph-csi: a live volume, an orphaned one, an entry whose subvolume
	// is gone, a directory key whose entry is gone.
	f.CephCSI = map[string]ceph.CephCSIEntry{}
	for i, name := range []string{"live", "orphan", "nosub"} {
		uuid := fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", i)
		sub := "csi-vol-" + uuid
		f.CephCSI[uuid] = ceph.CephCSIEntry{Name: sub, Request: "pvc-" + name}
		if name != "nosub" {
			f.Subvolumes[key3("myfs", "grp", sub)] = &ceph.Subvolume{Path: "/volumes/grp/" + sub + "/u", State: "complete", Created: fake.Created}
		}
		if name == "live" {
			w.live[volumeid.CephCSI{ClusterID: "c1", LocationID: 1, UUID: uuid}.Encode()] = true
		}
	}
	f.DanglingCephCSI = map[string]string{"00000000-0000-0000-0000-000000000009": "pvc-dangling"}
	return w
}

func (w *orphanWorld) orphans(t *testing.T, include bool) *Orphans {
	t.Helper()
	cfg, err := config.Parse([]byte(`[{"clusterID":"c1","monitors":["127.0.0.1:3300"],"cephFS":{"subvolumeGroup":"grp"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	return &Orphans{
		Config:  cfg,
		Connect: func(context.Context, *config.Cluster) (Session, error) { return w.f, nil },
		Options: OrphanOptions{Handles: w.live, SnapshotHandles: w.liveSnaps, MinAge: time.Hour, IncludeUnclaimed: include},
	}
}

// line is an item in one comparable string.
func line(it OrphanItem) string {
	return strings.Join([]string{it.Status, it.Kind, it.Subvolume, it.Snapshot}, " ")
}

// TestOrphanReport: exactly what no live handle accounts for is an orphan;
// creates in progress and objects the records do not name are reported
// apart; --delete removes exactly the orphans and the live volumes stay.
func TestOrphanReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newOrphanWorld(t)
	o := w.orphans(t, false)
	items, err := o.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, line(it))
	}
	orphanSub := mustSub(t, w.orphanVol)
	liveSub := mustSub(t, w.liveVol)
	want := []string{
		"in-progress claim csi-vol-halfway ",
		"in-progress snapshot " + orphanSub + " " + mustDerive2(t, "csi-snap-", "snap-busy"),
		"in-progress subvolume " + mustDerive(t, "copying") + " ",
		"in-progress subvolume " + mustDerive(t, "young") + " ",
		"orphan journal-entry  ",
		"orphan journal-entry csi-vol-00000000-0000-0000-0000-000000000002 ",
		"orphan shallow-volume " + liveSub + " " + mustDerive2(t, "csi-snap-", "snap-shallow-orphan"),
		"orphan snapshot " + liveSub + " " + mustDerive2(t, "csi-snap-", "snap-orphan"),
		"orphan snapshot " + liveSub + " " + mustDerive2(t, "csi-snap-", "snap-shallow-orphan"),
		"orphan snapshot-record " + liveSub + " " + mustDerive2(t, "csi-snap-", "snap-gone"),
		"orphan subvolume csi-vol-00000000-0000-0000-0000-000000000001 ",
		"orphan subvolume " + orphanSub + " ",
		"unknown subvolume by-hand ",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if failed := o.Remove(ctx, items); failed != 0 {
		t.Fatalf("%d removals failed: %+v", failed, items)
	}
	for _, it := range items {
		if (it.Status == StatusOrphan) != (it.Result == ResultRemoved) {
			t.Errorf("%s: result %q", line(it), it.Result)
		}
	}
	again, err := o.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range again {
		if it.Status == StatusOrphan {
			t.Errorf("still an orphan after --delete: %s", line(it))
		}
	}
	if len(again) != 5 {
		t.Errorf("after --delete: %d items, want the 5 in progress or unknown: %v", len(again), again)
	}
	// The live ones are all there.
	if _, ok := w.f.Subvolumes[key3("myfs", "grp", liveSub)]; !ok {
		t.Error("the live volume's subvolume was removed")
	}
	if _, ok := w.f.Claims[key3("myfs", "grp", orphanSub)]; ok {
		t.Error("the orphan's claim is left")
	}
	if len(w.f.CephCSI) != 1 {
		t.Errorf("ceph-csi's journal keeps %v, want the live volume's entry only", w.f.CephCSI)
	}
	for _, id := range []string{w.liveSnap} {
		if _, err := w.s.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: id, Secrets: req("x").Secrets}); err != nil {
			t.Errorf("live snapshot %s: %v", id, err)
		}
	}
}

// TestOrphanReportUnclaimed: with IncludeUnclaimed a subvolume no record
// names is an orphan.
func TestOrphanReportUnclaimed(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	items, err := w.orphans(t, true).Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Subvolume == "by-hand" && it.Status != StatusOrphan {
			t.Errorf("by-hand: %s, want orphan", it.Status)
		}
	}
}

// TestOrphanReportRechecks: what changed between the listing and the
// removal is skipped: a handle that became live, an orphan recreated.
func TestOrphanReportRechecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newOrphanWorld(t)
	o := w.orphans(t, false)
	items, err := o.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orphanSub := mustSub(t, w.orphanVol)
	w.live[w.orphanVol] = true // bound since
	recreated := "csi-vol-00000000-0000-0000-0000-000000000001"
	w.f.Subvolumes[key3("myfs", "grp", recreated)].Created = time.Now()
	o.Remove(ctx, items)
	for _, it := range items {
		if it.Kind == KindSubvolume && (it.Subvolume == orphanSub || it.Subvolume == recreated) && !strings.HasPrefix(it.Result, "skipped") {
			t.Errorf("%s: %q, want skipped", line(it), it.Result)
		}
	}
	if _, ok := w.f.Subvolumes[key3("myfs", "grp", orphanSub)]; !ok {
		t.Error("a volume that became live was removed")
	}
}

// TestOrphanReportEmptyHandles: no handle means nothing is live, which is
// refused unless allowed.
func TestOrphanReportEmptyHandles(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	o := w.orphans(t, false)
	o.Options.Handles = nil
	if _, err := o.Scan(context.Background()); server.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty handles: %v, want InvalidArgument", err)
	}
	o.Options.AllowEmpty = true
	items, err := o.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(items, func(it OrphanItem) bool { return it.Subvolume == mustSub(t, w.liveVol) && it.Status == StatusOrphan }) {
		t.Error("with an empty list allowed, the volume no handle names is not an orphan")
	}
}

func mustSub(t *testing.T, id string) string {
	t.Helper()
	v, err := volumeid.DecodeVolume(id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Subvolume
}

func mustDerive2(t *testing.T, prefix, name string) string {
	t.Helper()
	return volumeid.DeriveName(prefix, name)
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOrphanReportGroups: a group restricts the report to what is in it.
func TestOrphanReportGroups(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	o := w.orphans(t, false)
	o.Options.Groups = []string{"other"}
	items, err := o.Scan(context.Background())
	if err != nil || len(items) != 0 {
		t.Fatalf("group other: %v, %v; want nothing", items, err)
	}
}
