package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
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
	defer svc.Close()
	handler, err := svc.handler()
	if err != nil {
		return err
	}
	bg, cancelBG := context.WithCancel(ctx)
	waitBG := svc.runBackground(bg)
	defer waitBG() // before svc.Close: deferred calls run last-in, first-out
	defer cancelBG()

	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
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
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
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
