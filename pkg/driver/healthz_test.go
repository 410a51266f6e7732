package driver

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The metrics address serves /healthz with the Identity Probe's check: a
// cluster whose monitor refuses connections makes it 503, naming the cluster.
func TestHealthzRunsTheProbe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`[{"clusterID":"down","monitors":["127.0.0.1:1"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Mode = ModeController
	o.Endpoint = "unix://" + filepath.Join(dir, "csi.sock")
	o.ClusterConfig = cfg
	o.MetricsAddress = freeAddr(t)
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	url := "http://" + o.MetricsAddress + "/healthz"
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get(url); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `cluster "down" unreachable`) {
		t.Errorf("GET /healthz = %d %q, want 503 naming the cluster", resp.StatusCode, body)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
