package registration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// TestServe plays the kubelet's plugin watcher: it dials the socket, asks
// GetInfo and reports the registration.
func TestServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Options{DriverName: "cephfs-csi.io", Endpoint: "/var/lib/kubelet/plugins/cephfs-csi.io/csi.sock", Dir: dir}
	// A stale socket file of a crashed run is replaced.
	if err := os.WriteFile(o.SocketPath(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o) }()

	conn, err := grpc.NewClient("unix://"+o.SocketPath(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := registerapi.NewRegistrationClient(conn)
	var info *registerapi.PluginInfo
	deadline := time.Now().Add(5 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		info, err = client.GetInfo(rctx, &registerapi.InfoRequest{})
		rcancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if info.GetType() != registerapi.CSIPlugin || info.GetName() != o.DriverName || info.GetEndpoint() != o.Endpoint || len(info.GetSupportedVersions()) == 0 {
		t.Errorf("GetInfo = %v", info)
	}
	for _, ok := range []bool{true, false} {
		if _, err := client.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: ok, Error: "test"}); err != nil {
			t.Errorf("NotifyRegistrationStatus(%v): %v", ok, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cephfs-csi.io-reg.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestServeRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Endpoint: "/x/csi.sock", Dir: t.TempDir()},
		{DriverName: "d", Endpoint: "relative/csi.sock", Dir: t.TempDir()},
		{DriverName: "d", Endpoint: "/x/csi.sock"},
	} {
		if err := Serve(context.Background(), o); err == nil {
			t.Errorf("Serve(%+v) accepted", o)
		}
	}
}
