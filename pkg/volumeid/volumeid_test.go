package volumeid

import (
	"errors"
	"strings"
	"testing"
)

func TestVolumeRoundTrip(t *testing.T) {
	t.Parallel()
	v := Volume{ClusterID: "rook-ceph", FSName: "myfs", Group: "csi", Subvolume: DeriveName("csi-vol-", "pvc-1")}
	id, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "cfs1:rook-ceph:myfs:csi:csi-vol-") {
		t.Errorf("id = %q", id)
	}
	got, err := DecodeVolume(id)
	if err != nil || got != v {
		t.Fatalf("DecodeVolume = %+v, %v; want %+v", got, err, v)
	}
	if _, err := DecodeSnapshot(id); !errors.Is(err, ErrMalformed) {
		t.Errorf("a volume ID decoded as a snapshot: %v", err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	// A long realistic case: OpenShift Data Foundation's cluster ID and filesystem name.
	s := Snapshot{
		Volume: Volume{ClusterID: "openshift-storage", FSName: "ocs-storagecluster-cephfilesystem", Group: "csi", Subvolume: DeriveName("csi-vol-", "pvc-x")},
		Name:   DeriveName("csi-snap-", "snapshot-y"),
	}
	id, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) > MaxLen {
		t.Fatalf("len = %d", len(id))
	}
	got, err := DecodeSnapshot(id)
	if err != nil || got != s {
		t.Fatalf("DecodeSnapshot = %+v, %v", got, err)
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Volume
		want error
	}{
		{"empty cluster", Volume{FSName: "a", Group: "b", Subvolume: "c"}, ErrMalformed},
		{"colon", Volume{ClusterID: "a:b", FSName: "a", Group: "b", Subvolume: "c"}, ErrMalformed},
		{"slash", Volume{ClusterID: "a", FSName: "a", Group: "../b", Subvolume: "c"}, ErrMalformed},
		{"space", Volume{ClusterID: "a", FSName: "a b", Group: "b", Subvolume: "c"}, ErrMalformed},
		{"too long", Volume{ClusterID: strings.Repeat("x", 100), FSName: "a", Group: "b", Subvolume: strings.Repeat("c", 30)}, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.v.Encode(); !errors.Is(err, tt.want) {
				t.Errorf("Encode() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want error
	}{
		{"", ErrMalformed},
		{"cfs1", ErrMalformed},
		{"cfs1:a:b:c", ErrMalformed},
		{"cfs1:a:b:c:d:e", ErrMalformed},
		{"cfs2:a:b:c:d", ErrMalformed},
		{"cfs1:a::c:d", ErrMalformed},
		{"cfs1:a:b:c:d\n", ErrMalformed},
		{"0001-0009-rook-ceph-0000000000000001-5d5f5b5e-1b1a-4a2b-8c2d-0e0f0a0b0c0d", ErrCephCSI},
		{"cfs1:" + strings.Repeat("a", 130) + ":b:c:d", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			if _, err := DecodeVolume(tt.id); !errors.Is(err, tt.want) {
				t.Errorf("DecodeVolume(%q) error = %v, want %v", tt.id, err, tt.want)
			}
		})
	}
}

func TestDeriveName(t *testing.T) {
	t.Parallel()
	a, b := DeriveName("csi-vol-", "pvc-1"), DeriveName("csi-vol-", "pvc-1")
	if a != b {
		t.Fatalf("not deterministic: %q %q", a, b)
	}
	if a == DeriveName("csi-vol-", "pvc-2") {
		t.Fatal("different names collide")
	}
	if len(a) != len("csi-vol-")+20 || !ValidName(a) {
		t.Fatalf("unexpected form %q", a)
	}
}

func FuzzDecodeVolume(f *testing.F) {
	f.Add("cfs1:rook-ceph:myfs:csi:csi-vol-abc")
	f.Add("0001-0009-rook-ceph-0000000000000001-uuid")
	f.Add("cfs1:::::")
	f.Fuzz(func(t *testing.T, id string) {
		v, err := DecodeVolume(id)
		if err != nil {
			return
		}
		again, err := v.Encode()
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode: %v", id, err)
		}
		if again != id {
			t.Fatalf("round trip changed %q to %q", id, again)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add("cfs1:c:fs:g:sv:snap")
	f.Fuzz(func(t *testing.T, id string) {
		s, err := DecodeSnapshot(id)
		if err != nil {
			return
		}
		if again, err := s.Encode(); err != nil || again != id {
			t.Fatalf("round trip of %q = %q, %v", id, again, err)
		}
	})
}

func TestDecodeCephCSI(t *testing.T) {
	t.Parallel()
	got, err := DecodeCephCSI("0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006")
	want := CephCSI{ClusterID: "rook-ceph", LocationID: 1, UUID: "bff8a308-1431-11eb-b0fd-0242ac110006"}
	if err != nil || got != want {
		t.Fatalf("DecodeCephCSI = %+v, %v", got, err)
	}
	// A cluster ID with dashes, of the fsid form.
	got, err = DecodeCephCSI("0001-0024-7635de36-ab1f-4a70-98a2-a1bd80ba77c4-000000000000000a-6e696bba-064f-11ec-a251-0242ac110002")
	if err != nil || got.ClusterID != "7635de36-ab1f-4a70-98a2-a1bd80ba77c4" || got.LocationID != 10 {
		t.Fatalf("fsid cluster: %+v, %v", got, err)
	}
	for _, bad := range []string{
		"", "0001-", "0002-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006",
		"0001-zzzz-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006",
		"0001-0099-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006",
		"0001-0009-rook-ceph-00000000000000g1-bff8a308-1431-11eb-b0fd-0242ac110006",
		"0001-0009-rook-ceph-0000000000000001-bff8a308x1431-11eb-b0fd-0242ac110006",
		"0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac11000",
		"cfs1:a:b:c:d",
	} {
		if _, err := DecodeCephCSI(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeCephCSI(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func FuzzDecodeCephCSI(f *testing.F) {
	f.Add("0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006")
	f.Fuzz(func(t *testing.T, id string) {
		h, err := DecodeCephCSI(id)
		if err != nil {
			return
		}
		if again := h.Encode(); !strings.EqualFold(again, id) {
			t.Fatalf("re-encoding %q gives %q", id, again)
		}
		if !isCephCSI(id) {
			t.Fatalf("decoded %q but isCephCSI is false", id)
		}
	})
}

func TestShallowRoundTrip(t *testing.T) {
	t.Parallel()
	// The longest realistic case still fits: the snapshot is not in the ID.
	v := Shallow{ClusterID: "0d4b4c9e-5a2c-4f7e-9a57-1c2e3f4a5b6c", FSName: "ocs-storagecluster-cephfilesystem", Name: DeriveName("csi-vol-", "pvc-z")}
	id, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeShallow(id)
	if err != nil || got != v {
		t.Fatalf("DecodeShallow = %+v, %v; want %+v", got, err, v)
	}
	for _, other := range []func(string) error{
		func(id string) error { _, err := DecodeVolume(id); return err },
		func(id string) error { _, err := DecodeSnapshot(id); return err },
	} {
		if err := other(id); !errors.Is(err, ErrMalformed) {
			t.Errorf("a shallow ID decoded as another kind: %v", err)
		}
	}
	vol, _ := Volume{ClusterID: "c", FSName: "f", Group: "g", Subvolume: "s"}.Encode()
	if _, err := DecodeShallow(vol); !errors.Is(err, ErrMalformed) {
		t.Errorf("a volume ID decoded as shallow: %v", err)
	}
}

func FuzzDecodeShallow(f *testing.F) {
	f.Add("cfs1:c:fs:csi-vol-abc")
	f.Fuzz(func(t *testing.T, id string) {
		v, err := DecodeShallow(id)
		if err != nil {
			return
		}
		if again, err := v.Encode(); err != nil || again != id {
			t.Fatalf("round trip of %q = %q, %v", id, again, err)
		}
	})
}
