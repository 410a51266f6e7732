// Package server runs the gRPC server the CSI services are registered on:
// endpoint parsing, socket handling, the interceptor chain and graceful stop.
package server

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
)

// Server is a gRPC server bound to an endpoint.
type Server struct {
	GRPC     *grpc.Server
	listener net.Listener
	cleanup  func()
}

// New listens on endpoint and returns a server ready for registration; obs,
// when not nil, is told of every RPC.
func New(endpoint string, obs Observer) (*Server, error) {
	l, cleanup, err := Listen(endpoint)
	if err != nil {
		return nil, err
	}
	return &Server{
		GRPC:     grpc.NewServer(grpc.UnaryInterceptor(Interceptor(obs))),
		listener: l,
		cleanup:  cleanup,
	}, nil
}

// Close releases the endpoint of a server that will not be served.
func (s *Server) Close() {
	s.listener.Close()
	s.cleanup()
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Serve answers RPCs until ctx ends, then stops taking new ones, lets the
// in-flight ones finish (at most drain), and removes the socket.
func (s *Server) Serve(ctx context.Context, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.GRPC.Serve(s.listener) }()
	defer s.cleanup()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	klog.InfoS("Stopping: draining in-flight RPCs", "timeout", drain)
	stopped := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(drain):
		klog.InfoS("Drain timed out; stopping now")
		s.GRPC.Stop()
	}
	return nil
}
