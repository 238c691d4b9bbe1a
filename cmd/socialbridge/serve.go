package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/configs"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/dev"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
	"github.com/socialbridge/socialbridge/web"
)

// started, when not nil, receives the public URL once the server listens
// (tests use it).
type started func(publicURL string)

// serve loads the configuration, wires every part and serves until ctx
// ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onStart started) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("SOCIALBRIDGE_CONFIG"), "YAML config file (default: none, dev mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := configs.Load(*configPath, getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: listen on %s: %w", cfg.Server.Addr, err)
	}
	defer ln.Close()
	if cfg.Server.PublicURL == "" {
		cfg.SetPublicURL("http://" + loopbackURLHost(ln.Addr().(*net.TCPAddr)))
	}

	key, err := encryptionKey(cfg, logger)
	if err != nil {
		return err
	}
	st, closeStore, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeStore()

	sealer, err := tokens.NewSealer(key)
	if err != nil {
		return fmt.Errorf("crypto.encryption_key: %w", err)
	}
	clients := buildClients(cfg)
	// A succeeded key must verify every token it signed: size its lifetime
	// from the longest-lived client.
	var maxAccess, maxRefresh time.Duration
	for _, c := range clients {
		maxAccess = max(maxAccess, c.AccessTTL)
		maxRefresh = max(maxRefresh, min(c.RefreshIdleTTL, c.RefreshAbsoluteTTL))
	}
	keyring, err := tokens.NewKeyring(bridge.KeyStorage(st), sealer, tokens.KeyringOptions{
		Algorithm: cfg.Tokens.Algorithm, Rotation: cfg.Tokens.KeyRotation, PublishAhead: cfg.Tokens.KeyPublishAhead,
		AccessLifetime: max(maxAccess, cfg.Tokens.AccessTTL), RefreshLifetime: max(maxRefresh, cfg.Tokens.RefreshAbsoluteTTL),
		Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("tokens.algorithm: %w", err)
	}
	if err := keyring.Load(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	issuer := tokens.NewIssuer(keyring, cfg.Server.PublicURL, nil)

	provs, mounts := buildProviders(cfg)
	b, err := bridge.New(bridge.Options{
		PublicURL: cfg.Server.PublicURL, Store: st, Issuer: issuer, Sealer: sealer, Providers: provs,
		Clients: clients, FlowKey: deriveKey(key, "socialbridge login flow v1"),
		FlowTTL: cfg.Login.FlowTTL, CodeTTL: cfg.Login.CodeTTL, RefreshReuseGrace: cfg.Tokens.RefreshReuseGrace,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	demoClient := ""
	if cfg.DemoPageEnabled() {
		demoClient = cfg.DemoClientID()
	}
	handler, err := web.NewServer(web.Options{
		Bridge: b, PublicURL: cfg.Server.PublicURL, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		TrustedProxies: cfg.Server.TrustedProxies, DemoClientID: demoClient, DevMode: cfg.Mode == configs.ModeDev,
		FlowTTL: cfg.Login.FlowTTL, Ping: st.Ping, Mounts: mounts, RateLimit: cfg.Server.RateLimit, Logger: logger,
	})
	if err != nil {
		return err
	}

	bg, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	go keyring.Run(bg, time.Minute)
	go sweep(bg, st, logger)

	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	logger.Info("socialbridge started", append(cfg.Summary(), "listen", ln.Addr().String(), "issuer", cfg.Server.PublicURL, "version", version)...)
	if cfg.Mode == configs.ModeDev {
		logger.Warn("DEV MODE: embedded database, generated secrets and the dev provider are for local use only")
	}
	if demoClient != "" {
		fmt.Fprintf(stdout, "socialbridge is running. Demo page: %s/demo/\n", cfg.Server.PublicURL)
	} else {
		fmt.Fprintf(stdout, "socialbridge is running at %s\n", cfg.Server.PublicURL)
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

// loopbackURLHost names a listening address the way a browser should use
// it: "localhost" for loopback and unspecified addresses.
func loopbackURLHost(a *net.TCPAddr) string {
	if a.IP.IsLoopback() || a.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", a.Port)
	}
	return a.String()
}

func newLogger(c configs.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// encryptionKey returns the configured key or, in dev mode, the key kept
// under the data directory, generated on first start.
func encryptionKey(cfg *configs.Config, logger *slog.Logger) ([]byte, error) {
	if cfg.Crypto.EncryptionKey != "" {
		k, err := cfg.Crypto.Key()
		if err != nil {
			return nil, fmt.Errorf("crypto.encryption_key: %w", err)
		}
		return k, nil
	}
	if cfg.Mode != configs.ModeDev {
		return nil, errors.New("crypto.encryption_key: required outside dev mode")
	}
	path := filepath.Join(cfg.DataDir, "dev-encryption.key")
	if raw, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: not a base64 32-byte key; delete it to generate a new one (existing data becomes unreadable)", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dev encryption key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate dev encryption key: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write dev encryption key: %w", err)
	}
	logger.Warn("generated a dev encryption key", "path", path)
	return k, nil
}

// deriveKey derives an independent sub-key from the master key.
func deriveKey(master []byte, label string) []byte {
	h := hmac.New(sha256.New, master)
	h.Write([]byte(label))
	return h.Sum(nil)
}

// openStore connects to MongoDB, or starts the embedded database.
func openStore(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*store.Store, func(), error) {
	if cfg.Store.MongoDBURI != "" {
		st, err := store.Open(ctx, store.Options{URI: cfg.Store.MongoDBURI, Database: cfg.Store.Database})
		if err != nil {
			return nil, nil, fmt.Errorf("store.mongodb_uri: %w", err)
		}
		return st, func() { _ = st.Close(context.Background()) }, nil
	}
	dir := filepath.Join(cfg.DataDir, "db")
	// FerretDB logs every failed command at WARN; failed conditional
	// updates are routine here, so only its errors are shown.
	quiet := slog.New(logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "embedded-db")}))
	emb, err := store.StartEmbedded(dir, cfg.Store.EmbeddedAddr, slog.New(levelFloor{quiet.Handler(), slog.LevelError}))
	if err != nil {
		return nil, nil, fmt.Errorf("store.embedded_addr / data_dir: %w", err)
	}
	logger.Debug("embedded database listening", "uri", emb.URI())
	st, err := store.Open(ctx, store.Options{URI: emb.URI(), Database: cfg.Store.Database, Embedded: true})
	if err != nil {
		emb.Close()
		return nil, nil, fmt.Errorf("embedded database: %w", err)
	}
	return st, func() { _ = st.Close(context.Background()); emb.Close() }, nil
}

// levelFloor drops records below a level.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

func (l levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{l.Handler.WithAttrs(a), l.min}
}

func (l levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{l.Handler.WithGroup(n), l.min}
}

// buildProviders creates the enabled providers and the handlers they mount.
func buildProviders(cfg *configs.Config) ([]providers.Provider, map[string]http.Handler) {
	var out []providers.Provider
	mounts := map[string]http.Handler{}
	if cfg.GoogleEnabled() {
		g := cfg.Providers.Google
		out = append(out, google.New(google.Config{
			ClientID: g.ClientID, ClientSecret: g.ClientSecret, Issuer: g.Issuer,
			AuthURL: g.AuthURL, TokenURL: g.TokenURL, JWKSURL: g.JWKSURL, UserinfoURL: g.UserinfoURL,
			Scopes: g.Scopes, HostedDomains: g.HostedDomains, OfflineAccess: g.OfflineAccess,
		}))
	}
	if cfg.DevEnabled() {
		d := dev.New(cfg.Server.PublicURL, nil, nil)
		out = append(out, d)
		mounts[dev.PathPrefix] = d.Handler()
	}
	return out, mounts
}

// buildClients turns configured clients into bridge clients with every
// default resolved.
func buildClients(cfg *configs.Config) []bridge.Client {
	out := make([]bridge.Client, 0, len(cfg.Clients))
	orDefault := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	for _, c := range cfg.Clients {
		out = append(out, bridge.Client{
			ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, CORSOrigins: c.CORSOrigins, Secret: c.Secret,
			Audience: cfg.AudienceFor(c.ID), Providers: c.Providers,
			AccessTTL:          orDefault(c.AccessTTL, cfg.Tokens.AccessTTL),
			RefreshIdleTTL:     orDefault(c.RefreshIdleTTL, cfg.Tokens.RefreshIdleTTL),
			RefreshAbsoluteTTL: orDefault(c.RefreshAbsoluteTTL, cfg.Tokens.RefreshAbsoluteTTL),
		})
	}
	return out
}

// sweep removes expired flows and sessions every few minutes.
func sweep(ctx context.Context, st *store.Store, logger *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := st.SweepExpired(ctx, time.Now(), time.Hour)
			if err != nil && ctx.Err() == nil {
				logger.Error("sweep expired sessions", "err", err)
			} else if n > 0 {
				logger.Info("swept expired sessions", "count", n)
			}
		}
	}
}
