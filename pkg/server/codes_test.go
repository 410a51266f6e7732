package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"nil", nil, codes.OK},
		{"wrapped not found", fmt.Errorf("subvolume x: %w", contract.ErrNotFound), codes.NotFound},
		{"double wrapped busy", fmt.Errorf("a: %w", fmt.Errorf("b: %w", contract.ErrBusy)), codes.Aborted},
		{"deadline", fmt.Errorf("ceph: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"unavailable", fmt.Errorf("connect: %w", contract.ErrUnavailable), codes.Unavailable},
		{"status kept", status.Error(codes.OutOfRange, "too big"), codes.OutOfRange},
		{"plain", errors.New("boom"), codes.Internal},
		{"classified", contract.Invalid("volume ID is required"), codes.InvalidArgument},
		{"bad token", fmt.Errorf("list: %w", contract.ErrBadToken), codes.Aborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := status.Code(ToStatus(tt.err)); got != tt.want {
				t.Errorf("code = %v, want %v", got, tt.want)
			}
		})
	}
	if msg := status.Convert(ToStatus(fmt.Errorf("subvolume x: %w", contract.ErrNotFound))).Message(); msg != "subvolume x: not found" {
		t.Errorf("message = %q", msg)
	}
	// A classified error keeps the caller's words only.
	if msg := status.Convert(ToStatus(contract.Invalid("volume ID is required"))).Message(); msg != "volume ID is required" {
		t.Errorf("message = %q", msg)
	}
}
