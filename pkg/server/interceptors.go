package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// SlowCall is the duration above which an RPC is logged as slow.
const SlowCall = 10 * time.Second

// quiet RPCs are polled by sidecars; they are logged only at V(5).
var quiet = map[string]bool{
	"Probe":                     true,
	"GetPluginInfo":             true,
	"GetPluginCapabilities":     true,
	"NodeGetCapabilities":       true,
	"ControllerGetCapabilities": true,
	"NodeGetInfo":               true,
}

type requestIDKey struct{}

var requestSeq atomic.Uint64

// RequestID returns the id the interceptor gave the request in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Observer is told of every answered RPC (metrics).
type Observer interface {
	ObserveRPC(method string, code codes.Code, d time.Duration)
}

// Interceptor returns the driver's one unary interceptor: it gives each
// request an id, logs the request and response with secrets stripped, turns a
// panic into codes.Internal, maps plain errors to gRPC codes, reports slow
// calls and tells obs (when not nil).
func Interceptor(obs Observer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return intercept(ctx, req, info, handler, obs)
	}
}

func intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler, obs Observer) (resp any, err error) {
	id := fmt.Sprintf("%06d", requestSeq.Add(1))
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	level := 2
	if quiet[method] {
		level = 5
	}
	logger := klog.LoggerWithValues(klog.Background(), "rpc", method, "req", id)
	ctx = klog.NewContext(ctx, logger)
	if klog.V(4).Enabled() {
		logger.V(4).Info("Request", "body", protosanitizer.StripSecrets(req))
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			logger.Error(nil, "Panic in RPC handler", "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s (request %s)", method, id)
		}
		err = ToStatus(err)
		took := time.Since(start)
		if obs != nil {
			obs.ObserveRPC(method, status.Code(err), took)
		}
		switch {
		case status.Code(err) == codes.Aborted:
			// Expected: an operation in progress or a clone still copying;
			// the caller retries, so this is no error.
			logger.V(2).Info("RPC aborted; the caller retries", "reason", status.Convert(err).Message(), "took", took)
		case err != nil:
			logger.Error(err, "RPC failed", "code", status.Code(err), "took", took)
		case took > SlowCall:
			logger.Info("Slow RPC", "took", took)
		default:
			logger.V(level).Info("RPC done", "took", took)
		}
		if err == nil && klog.V(5).Enabled() {
			logger.V(5).Info("Response", "body", protosanitizer.StripSecrets(resp))
		}
	}()
	return handler(ctx, req)
}
