package ceph

import (
	"context"
	"errors"
	"testing"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

// TestRetryOnStaleMap: only librados' own op timeout is retried, once, and
// only after the newest osdmap was had.
func TestRetryOnStaleMap(t *testing.T) {
	t.Parallel()
	timedOut := classify(cephErr(-110), "remove the claim")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		ctx         context.Context
		answers     []error // op's answers, in order
		refreshErr  error
		wantCalls   int
		wantRefresh bool
		wantErr     error
	}{
		{"success", context.Background(), []error{nil}, nil, 1, false, nil},
		{"other error", context.Background(), []error{classify(cephErr(-2), "x")}, nil, 1, false, contract.ErrNotFound},
		{"timed out, then answered", context.Background(), []error{timedOut, nil}, nil, 2, true, nil},
		{"timed out twice", context.Background(), []error{timedOut, timedOut}, nil, 2, true, timedOut},
		{"refresh fails", context.Background(), []error{timedOut}, errors.New("no monitor"), 1, true, timedOut},
		{"context ended", canceled, []error{timedOut}, nil, 1, false, timedOut},
		// The caller's deadline is not librados' timeout: no retry.
		{"deadline", context.Background(), []error{context.DeadlineExceeded}, nil, 1, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls, refreshed := 0, false
			op := func() (int, error) {
				err := tt.answers[calls]
				calls++
				return calls, err
			}
			refresh := func(context.Context) error { refreshed = true; return tt.refreshErr }
			_, err := retryOnStaleMap(tt.ctx, op, refresh)
			if calls != tt.wantCalls || refreshed != tt.wantRefresh {
				t.Errorf("op ran %d times, refreshed %v; want %d, %v", calls, refreshed, tt.wantCalls, tt.wantRefresh)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
		})
	}
}
