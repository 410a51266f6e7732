package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// get asks srv for path and returns the status and body.
func get(t *testing.T, srv *httptest.Server, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	unreachable := errors.New(`cluster "a" unreachable: monitor 10.0.0.1:3300: connection refused`)
	tests := []struct {
		name       string
		check      func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{"passes", func(context.Context) error { return nil }, http.StatusOK, "ok"},
		{"no check", nil, http.StatusOK, "ok"},
		{"fails", func(context.Context) error { return unreachable }, http.StatusServiceUnavailable, unreachable.Error() + "\n"},
		{
			"gives up on its context",
			func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			http.StatusServiceUnavailable, "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(Healthz(tt.check, 100*time.Millisecond))
			defer srv.Close()
			status, body := get(t, srv, http.MethodGet, "/healthz")
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", status, tt.wantStatus, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

// A check that ignores its context still gets a 503 at the deadline: the
// kubelet's probe must not wait for a stuck check.
func TestHealthzStuckCheckHitsDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	sawDeadline := make(chan bool, 1)
	check := func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		sawDeadline <- ok
		<-release
		return nil
	}
	srv := httptest.NewServer(Healthz(check, 50*time.Millisecond))
	defer srv.Close()
	start := time.Now()
	status, body := get(t, srv, http.MethodGet, "/healthz")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %s, want about the 50ms deadline", took)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "did not finish within 50ms") ||
		!strings.Contains(body, context.DeadlineExceeded.Error()) {
		t.Errorf("got %d %q, want 503 naming the deadline", status, body)
	}
	if !<-sawDeadline {
		t.Error("the check's context had no deadline")
	}
}

// The endpoint serves both paths on one listener; /healthz answers GET (and
// HEAD) only.
func TestMuxRoutes(t *testing.T) {
	t.Parallel()
	m := New()
	srv := httptest.NewServer(m.mux(func(context.Context) error { return nil }))
	defer srv.Close()
	if status, body := get(t, srv, http.MethodGet, "/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d %.80q", status, body)
	}
	if status, body := get(t, srv, http.MethodGet, "/healthz"); status != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz: %d %q", status, body)
	}
	if status, _ := get(t, srv, http.MethodHead, "/healthz"); status != http.StatusOK {
		t.Errorf("HEAD /healthz: %d", status)
	}
	if status, _ := get(t, srv, http.MethodPost, "/healthz"); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", status)
	}
}

// Not parallel: it sets klog's global verbosity and output, and restores them
// before the parallel tests resume.
func TestHealthzLogsFailuresAtV4Only(t *testing.T) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	var buf bytes.Buffer
	klog.LogToStderr(false)
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		klog.SetOutput(os.Stderr)
		klog.LogToStderr(true)
		_ = fs.Set("v", "0")
	})
	failing := httptest.NewServer(Healthz(func(context.Context) error { return errors.New("mon down") }, time.Second))
	defer failing.Close()
	passing := httptest.NewServer(Healthz(func(context.Context) error { return nil }, time.Second))
	defer passing.Close()

	for _, tt := range []struct {
		v         string
		srv       *httptest.Server
		wantLines int
	}{
		{"4", failing, 1},
		{"3", failing, 0},
		{"2", passing, 0},
		{"5", passing, 0},
	} {
		buf.Reset()
		if err := fs.Set("v", tt.v); err != nil {
			t.Fatal(err)
		}
		get(t, tt.srv, http.MethodGet, "/healthz")
		klog.Flush()
		if got := strings.Count(buf.String(), "\n"); got != tt.wantLines {
			t.Errorf("-v=%s, %s: %d log lines, want %d:\n%s", tt.v, tt.srv.URL, got, tt.wantLines, buf.String())
		}
		if tt.wantLines > 0 && !strings.Contains(buf.String(), `"Health check failed" reason="mon down"`) {
			t.Errorf("-v=%s: log lacks the reason:\n%s", tt.v, buf.String())
		}
	}
}
