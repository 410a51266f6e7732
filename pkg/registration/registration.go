// Package registration serves the kubelet's plugin Registration service, so
// that a node can run the driver without the node-driver-registrar sidecar:
// the kubelet's plugin watcher finds <dir>/<driver>-reg.sock, asks GetInfo
// for the driver's name and CSI endpoint, and reports the outcome through
// NotifyRegistrationStatus.
package registration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// SupportedVersions are the CSI versions the driver speaks, as the kubelet
// expects them from a CSI plugin.
var SupportedVersions = []string{"1.0.0"}

// Options describe what the driver registers.
type Options struct {
	// DriverName is the CSI driver name.
	DriverName string
	// Endpoint is the path of the driver's CSI socket as the kubelet sees
	// it (on the host), which may differ from the path inside the
	// driver's container.
	Endpoint string
	// Dir is the kubelet's plugin registration directory
	// (/var/lib/kubelet/plugins_registry).
	Dir string
}

// SocketPath is where the Registration service listens: the name the
// node-driver-registrar uses too, so the two are interchangeable.
func (o Options) SocketPath() string {
	return filepath.Join(o.Dir, o.DriverName+"-reg.sock")
}

// Serve listens on the registration socket until ctx ends, then removes it.
// A stale socket file (a previous run that crashed) is replaced.
func Serve(ctx context.Context, o Options) error {
	if o.DriverName == "" || o.Dir == "" || !filepath.IsAbs(o.Endpoint) {
		return fmt.Errorf("kubelet registration: need a driver name, a registration directory and an absolute endpoint path (got %q, %q, %q)", o.DriverName, o.Dir, o.Endpoint)
	}
	path := o.SocketPath()
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("kubelet registration directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale registration socket: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("kubelet registration socket: %w", err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &service{opts: o})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	klog.InfoS("Serving kubelet plugin registration", "socket", path, "endpoint", o.Endpoint)
	select {
	case <-ctx.Done():
		srv.Stop()
		<-done
		err = nil
	case err = <-done:
	}
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		klog.ErrorS(rmErr, "Removing the registration socket")
	}
	if err != nil {
		return fmt.Errorf("kubelet registration service: %w", err)
	}
	return nil
}

type service struct {
	registerapi.UnimplementedRegistrationServer
	opts Options
}

// GetInfo tells the kubelet what to register.
func (s *service) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.opts.DriverName,
		Endpoint:          s.opts.Endpoint,
		SupportedVersions: SupportedVersions,
	}, nil
}

// NotifyRegistrationStatus logs the kubelet's verdict. A refusal is logged as
// an error and the socket stays: the kubelet's plugin watcher retries.
func (s *service) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.GetPluginRegistered() {
		klog.InfoS("Registered with the kubelet", "driver", s.opts.DriverName)
	} else {
		klog.ErrorS(errors.New(st.GetError()), "The kubelet refused the registration", "driver", s.opts.DriverName)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
