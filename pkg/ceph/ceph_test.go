package ceph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

type cephErr int

func (e cephErr) Error() string  { return fmt.Sprintf("ret=%d", int(e)) }
func (e cephErr) ErrorCode() int { return int(e) }

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want error
	}{
		{cephErr(-2), contract.ErrNotFound},
		{cephErr(-17), contract.ErrAlreadyExists},
		{cephErr(-13), contract.ErrPermission},
		{cephErr(-110), contract.ErrUnavailable},
		{fmt.Errorf("x: %w", cephErr(-39)), contract.ErrFailedPrecondition},
		{cephErr(-95), contract.ErrFailedPrecondition},
		// A mgr that just took over, before it loaded the volumes module.
		{fmt.Errorf("%w: Module 'volumes' is not enabled/loaded (required by command 'fs subvolume create'): use `ceph mgr module enable volumes` to enable it", cephErr(-95)), contract.ErrUnavailable},
	}
	for _, tt := range tests {
		got := classify(tt.err, "op")
		if !errors.Is(got, tt.want) || !strings.HasPrefix(got.Error(), "op: ") {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if classify(nil, "op") != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestWithPorts(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"10.0.0.1:6789": {"10.0.0.1:6789"},
		"mon-a":         {"mon-a:6789", "mon-a:3300"},
		"[::1]:3300":    {"[::1]:3300"},
		"::1":           {"[::1]:6789", "[::1]:3300"},
	}
	for in, want := range tests {
		if got := withPorts(in); !slices.Equal(got, want) {
			t.Errorf("withPorts(%q) = %v, want %v", in, got, want)
		}
	}
}
