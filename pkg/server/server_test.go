package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cephfs-csi/cephfs-csi/pkg/contract"
)

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, network, addr string
		wantErr           bool
	}{
		{in: "unix:///run/csi/csi.sock", network: "unix", addr: "/run/csi/csi.sock"},
		{in: "unix:/run/csi.sock", network: "unix", addr: "/run/csi.sock"},
		{in: "/run/csi.sock", network: "unix", addr: "/run/csi.sock"},
		{in: "tcp://127.0.0.1:10000", network: "tcp", addr: "127.0.0.1:10000"},
		{in: "unix://relative.sock", wantErr: true},
		{in: "http://x", wantErr: true},
		{in: "unix://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			n, a, err := ParseEndpoint(tt.in)
			if (err != nil) != tt.wantErr || n != tt.network || a != tt.addr {
				t.Errorf("ParseEndpoint(%q) = %q, %q, %v", tt.in, n, a, err)
			}
		})
	}
}

func TestListenSocketHandling(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")

	// A live listener: refused.
	l, cleanup, err := Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, _, err := Listen("unix://" + sock); err == nil {
		t.Fatal("a socket in use was taken over")
	}
	// A stale socket file (listener gone, file kept): replaced.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}
	l2, cleanup2, err := Listen("unix://" + sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	cleanup2()
	cleanup()
	// A regular file: refused, not deleted.
	if err := os.WriteFile(sock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen("unix://" + sock); err == nil {
		t.Fatal("a regular file was replaced")
	}
}

func TestInterceptor(t *testing.T) {
	t.Parallel()
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/CreateVolume"}
	tests := []struct {
		name    string
		handler grpc.UnaryHandler
		want    codes.Code
	}{
		{"ok", func(ctx context.Context, req any) (any, error) {
			if RequestID(ctx) == "" {
				return nil, errors.New("no request id")
			}
			return "fine", nil
		}, codes.OK},
		{"panic", func(context.Context, any) (any, error) { panic("boom") }, codes.Internal},
		{"sentinel", func(context.Context, any) (any, error) { return nil, contract.ErrBusy }, codes.Aborted},
		{"status", func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "x") }, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Interceptor(nil)(context.Background(), nil, info, tt.handler)
			if status.Code(err) != tt.want {
				t.Errorf("code = %v (%v), want %v", status.Code(err), err, tt.want)
			}
		})
	}
}
