package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// HealthzTimeout bounds one /healthz check. The driver's prober gives up on
// the monitors after 3s; the kubelet's probes in deploy/ wait 10s, so a
// check that hangs answers 503 well before the kubelet counts a timeout.
const HealthzTimeout = 5 * time.Second

// Healthz answers 200 "ok" when check passes within timeout, and 503 with
// the reason otherwise. The check is a plain function so that this package
// needs to know nothing of the CSI Identity service whose Probe it mirrors.
// A nil check always passes.
func Healthz(check func(context.Context) error, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := runCheck(r.Context(), check, timeout); err != nil {
			// Failures are logged at V(4) only: the kubelet probes
			// periodically, and its probe events and the pod's readiness
			// already show the reason.
			klog.V(4).InfoS("Health check failed", "reason", err.Error())
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte("ok"))
	})
}

// runCheck runs check under a deadline and stops waiting at the deadline even
// if check ignores its context, so that a stuck check cannot hold the
// kubelet's probe past timeout.
func runCheck(ctx context.Context, check func(context.Context) error, timeout time.Duration) error {
	if check == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Buffered: a check that outlives the deadline can still hand over
	// its result and end, instead of leaking a blocked goroutine.
	done := make(chan error, 1)
	go func() { done <- check(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("health check did not finish within %s: %w", timeout, context.Cause(ctx))
	}
}
