package mounter

import (
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestChoose(t *testing.T) {
	t.Parallel()
	const fuse, kernel, auto = contract.MounterFuse, contract.MounterKernel, contract.MounterAuto
	tests := []struct {
		asked, nodeDefault string
		kernelOK           bool
		want               string
		wantErr            bool
	}{
		{"", "", true, kernel, false},
		{"", "", false, fuse, false},
		{auto, "", true, kernel, false},
		{"", fuse, true, fuse, false},
		{"", kernel, false, fuse, false},
		{"", auto, false, fuse, false},
		{kernel, fuse, true, kernel, false},
		{kernel, "", false, fuse, false},
		{fuse, kernel, true, fuse, false},
		{"nfs", "", true, "", true},
		{"", "nfs", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.asked+"/"+tt.nodeDefault, func(t *testing.T) {
			t.Parallel()
			got, err := Choose(tt.asked, tt.nodeDefault, tt.kernelOK)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Choose(%q, %q, %v) = %q, %v; want %q (error %v)", tt.asked, tt.nodeDefault, tt.kernelOK, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
