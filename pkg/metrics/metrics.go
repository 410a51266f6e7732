// Package metrics serves the driver's HTTP endpoint: Prometheus metrics
// (per-RPC counts, errors and latency, and per-Ceph-call latency and errors)
// on /metrics, and a health check on /healthz.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/cephfs-csi/cephfs-csi/pkg/ceph"
)

// Metrics holds the collectors; its methods are the observers the gRPC
// server and the Ceph pool call.
type Metrics struct {
	registry    *prometheus.Registry
	rpcs        *prometheus.CounterVec
	rpcLatency  *prometheus.HistogramVec
	cephCalls   *prometheus.CounterVec
	cephLatency *prometheus.HistogramVec
}

// New registers the driver's metrics in a registry of their own, with the
// Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cephfs_csi", Name: "rpc_total", Help: "CSI RPCs answered, by method and gRPC code.",
		}, []string{"method", "code"}),
		rpcLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cephfs_csi", Name: "rpc_duration_seconds", Help: "CSI RPC latency, by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"method"}),
		cephCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cephfs_csi", Name: "ceph_calls_total", Help: "Calls into Ceph, by operation and errno name (\"\" = success).",
		}, []string{"op", "error"}),
		cephLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cephfs_csi", Name: "ceph_call_duration_seconds", Help: "Latency of calls into Ceph, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"op"}),
	}
	m.registry.MustRegister(m.rpcs, m.rpcLatency, m.cephCalls, m.cephLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRPC records one answered RPC.
func (m *Metrics) ObserveRPC(method string, code codes.Code, d time.Duration) {
	m.rpcs.WithLabelValues(method, code.String()).Inc()
	m.rpcLatency.WithLabelValues(method).Observe(d.Seconds())
}

// ObserveCephCall records one call into Ceph.
func (m *Metrics) ObserveCephCall(op string, d time.Duration, err error) {
	label := ""
	if err != nil {
		label = "other"
		if e := ceph.Errno(err); e != 0 {
			label = e.Error()
		}
	}
	m.cephCalls.WithLabelValues(op, label).Inc()
	m.cephLatency.WithLabelValues(op).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Serve answers /metrics and /healthz on addr until ctx ends. health is the
// check behind /healthz (see Healthz), so that a pod's probes need no
// livenessprobe sidecar.
func (m *Metrics) Serve(ctx context.Context, addr string, health func(context.Context) error) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: m.mux(health), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	klog.InfoS("Serving metrics and health", "address", l.Addr().String(), "paths", "/metrics /healthz")
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics address %s: %w", addr, err)
	}
	return nil
}

// mux routes the endpoint's two paths.
func (m *Metrics) mux(health func(context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	// GET also matches HEAD; other methods get 405.
	mux.Handle("GET /healthz", Healthz(health, HealthzTimeout))
	return mux
}
