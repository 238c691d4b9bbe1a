package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/metrics"
	"github.com/socialbridge/socialbridge/web"
)

// buildMetrics makes the metrics registry (socialbridge's collectors, and
// the Go runtime's and the process's) and times the store, unless
// metrics.addr is off. Call it before build, which hands the metrics to
// the bridge and the keyring.
func (s *service) buildMetrics() error {
	if s.cfg.MetricsAddr() == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m, err := metrics.New(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	s.metrics, s.registry = m, reg
	s.store = m.WrapStore(s.store)
	return nil
}

// bridgeObserver is the bridge's Observer: nil (an interface holding no
// pointer) when metrics are off.
func (s *service) bridgeObserver() bridge.Observer {
	if s.metrics == nil {
		return nil
	}
	return s.metrics
}

// webRecorder is the HTTP layer's Recorder: nil when metrics are off.
func (s *service) webRecorder() web.Recorder {
	if s.metrics == nil {
		return nil
	}
	return s.metrics
}

// metricsShutdownTimeout bounds how long a scrape in progress may delay
// the end of the process.
const metricsShutdownTimeout = 5 * time.Second

// serveMetrics serves /metrics on metrics.addr, a listener of its own
// (never the public one), until ctx ends; wg waits for it. It records the
// address it listens on in the configuration (the port picked for port
// 0), for the start-up log line. A listener that cannot start is logged
// and metrics are off: the sign-in service does not stop for the lack of
// its metrics (two processes on one host with the default address, say).
func (s *service) serveMetrics(ctx context.Context, wg *sync.WaitGroup) {
	addr := s.cfg.MetricsAddr()
	if s.registry == nil || addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.logger.Error("metrics are off: cannot listen on metrics.addr; set it to a free address, or to off", "addr", addr, "err", err)
		s.cfg.SetMetricsAddr("")
		return
	}
	s.cfg.SetMetricsAddr(ln.Addr().String())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn), Registry: s.registry,
	}))
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 8 << 10,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close()
		}
	})
}
