package controller

import (
	"errors"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestWantsShallow(t *testing.T) {
	t.Parallel()
	capOf := func(m csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
		return &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: m}}
	}
	rox, srox := capOf(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY), capOf(csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY)
	rwx := capOf(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	snap := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "s"}}}
	vol := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: "v"}}}
	yes, no := true, false
	tests := []struct {
		name    string
		caps    []*csi.VolumeCapability
		src     *csi.VolumeContentSource
		param   *bool
		want    bool
		invalid bool
	}{
		{"default ROX from snapshot", []*csi.VolumeCapability{rox}, snap, nil, true, false},
		{"default both reader modes", []*csi.VolumeCapability{rox, srox}, snap, nil, true, false},
		{"default mixed modes", []*csi.VolumeCapability{rox, rwx}, snap, nil, false, false},
		{"default RWX", []*csi.VolumeCapability{rwx}, snap, nil, false, false},
		{"default ROX from volume", []*csi.VolumeCapability{rox}, vol, nil, false, false},
		{"default ROX empty", []*csi.VolumeCapability{rox}, nil, nil, false, false},
		{"false forces a clone", []*csi.VolumeCapability{rox}, snap, &no, false, false},
		{"true", []*csi.VolumeCapability{srox}, snap, &yes, true, false},
		{"true writable", []*csi.VolumeCapability{rwx}, snap, &yes, false, true},
		{"true without snapshot", []*csi.VolumeCapability{rox}, vol, &yes, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &csi.CreateVolumeRequest{VolumeCapabilities: tt.caps, VolumeContentSource: tt.src}
			got, err := wantsShallow(req, &volumeParams{backingSnapshot: tt.param})
			if tt.invalid {
				if !errors.Is(err, contract.ErrInvalid) || !strings.Contains(err.Error(), paramBackingSnapshot) {
					t.Errorf("err = %v, want InvalidArgument naming %s", err, paramBackingSnapshot)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("wantsShallow = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCephCSIVolumeRef(t *testing.T) {
	t.Parallel()
	const snap = "0001-0009-rook-ceph-0000000000000001-bff8a308-1431-11eb-b0fd-0242ac110006"
	const vol = "0001-0009-rook-ceph-0000000000000001-aaaaaaaa-1431-11eb-b0fd-0242ac110006"
	for ref, want := range map[string]string{
		"csi-vol-aaaaaaaa-1431-11eb-b0fd-0242ac110006": vol,
		vol:        vol,
		"short":    "",
		"csi-vol-": "",
		"csi-vol-not-a-uuid-but-thirty-six-chars-long": "",
	} {
		h, ok := cephCSIVolumeRef(snap, ref)
		if got := map[bool]string{true: h.Encode(), false: ""}[ok]; got != want {
			t.Errorf("cephCSIVolumeRef(%q) = %q, want %q", ref, got, want)
		}
	}
}
