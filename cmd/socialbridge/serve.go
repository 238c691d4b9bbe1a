package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/socialbridge/socialbridge/configs"
)

// started, when not nil, receives the public URL once the server listens
// (tests use it).
type started func(publicURL string)

// serve loads the configuration, wires every part and serves until ctx
// ends. getenv reads the environment; environ, when given, lists it
// (KEY=value, as os.Environ) so that misspelt SOCIALBRIDGE_* variables are
// found.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onStart started, environ ...string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv(configs.ConfigFileVariable), "YAML config file (default: none, dev mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configs.Load(*configPath, configs.Env{Getenv: getenv, Names: envNames(environ)}, os.ReadFile, providerTypes())
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration", "warning", w)
	}

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: listen on %s: %w", cfg.Server.Addr, err)
	}
	defer ln.Close()
	if cfg.Server.PublicURL == "" {
		cfg.SetPublicURL("http://" + loopbackURLHost(ln.Addr().(*net.TCPAddr)))
	}

	svc, err := newService(ctx, cfg, logger)
	if err != nil {
		return err
	}
	handler, err := svc.handler()
	if err != nil {
		_ = svc.Close()
		return err
	}
	// Background work outlives ctx: the requests still draining at
	// shutdown may need the keyring's reloads, so it stops after them.
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	waitBG := svc.runBackground(bg)

	conns := &connCounter{}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn), ConnState: conns.track,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	logger.Info("socialbridge started", append(cfg.Summary(), "listen", ln.Addr().String(), "issuer", cfg.Server.PublicURL, "version", version)...)
	if cfg.Mode == configs.ModeDev {
		logger.Warn("DEV MODE: generated secrets and the dev provider are for local use only")
	}
	if cfg.DemoPageEnabled() {
		fmt.Fprintf(stdout, "socialbridge is running. Demo page: %s/demo/\n", cfg.Server.PublicURL)
	} else {
		fmt.Fprintf(stdout, "socialbridge is running at %s\n", cfg.Server.PublicURL)
	}
	if cfg.AccountPageEnabled() {
		fmt.Fprintf(stdout, "Account page: %s/account/\n", cfg.Server.PublicURL)
	}
	if onStart != nil {
		onStart(cfg.Server.PublicURL)
	}

	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
		_ = srv.Close()
	case <-ctx.Done():
		err = drain(srv, conns, cfg.Server.ShutdownTimeout, logger)
	}
	// Then what the requests used: background work, and last the store.
	cancelBG()
	waitBG()
	logger.Info("background work stopped")
	if cerr := svc.Close(); cerr != nil {
		logger.Error("close the store", "error", cerr)
		return errors.Join(err, fmt.Errorf("close the store: %w", cerr))
	}
	logger.Info("store closed")
	return err
}

// handlerGrace is how long a shutdown that cut connections off waits for
// their handlers to return before it closes the store.
const handlerGrace = 5 * time.Second

// drain shuts srv down: it stops accepting connections at once, closes the
// idle ones and waits up to timeout for the requests in flight to finish.
// Those still running then have their connections closed, and drain
// returns an error saying so.
func drain(srv *http.Server, conns *connCounter, timeout time.Duration, logger *slog.Logger) error {
	open, active := conns.counts()
	logger.Info("shutting down: draining connections", "connections", open, "requests_in_flight", active, "timeout", timeout)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		open, active := conns.counts()
		logger.Error("shutting down: requests still in flight after server.shutdown_timeout; closing their connections",
			"connections", open, "requests_in_flight", active, "timeout", timeout)
		_ = srv.Close()
		// Closing a connection does not stop its handler: give the
		// handlers a bounded moment to return before the store they use
		// is closed.
		for deadline := time.Now().Add(handlerGrace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if open, _ := conns.counts(); open == 0 {
				break
			}
		}
		return fmt.Errorf("shutdown: %d requests still in flight after server.shutdown_timeout (%s) were cut off", active, timeout)
	}
	logger.Info("shutting down: connections drained", "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// connCounter follows the server's connections (http.Server.ConnState) so
// that a shutdown can say how many it waits for.
type connCounter struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

func (c *connCounter) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		c.state = map[net.Conn]http.ConnState{}
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(c.state, conn)
	default:
		c.state[conn] = s
	}
}

// counts returns how many connections are open and how many of them have
// a request in flight.
func (c *connCounter) counts() (open, active int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.state {
		if s == http.StateActive {
			active++
		}
	}
	return len(c.state), active
}

// envNames returns the variable names of environ (KEY=value entries).
func envNames(environ []string) []string {
	var names []string
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// loopbackURLHost names a listening address the way a browser should use
// it: "localhost" for loopback and unspecified addresses.
func loopbackURLHost(a *net.TCPAddr) string {
	if a.IP.IsLoopback() || a.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", a.Port)
	}
	return a.String()
}
