package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/configs"
	"github.com/socialbridge/socialbridge/metrics"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/sqlite"
	"github.com/socialbridge/socialbridge/tokens"
	"github.com/socialbridge/socialbridge/web"
)

// service is socialbridge with every part built from one configuration.
// serve runs it behind HTTP; admin subcommands use its parts directly.
type service struct {
	cfg     *configs.Config
	logger  *slog.Logger
	store   store.Store
	keyring *tokens.Keyring
	bridge  *bridge.Bridge
	// mounts are the providers' own HTTP handlers (the dev provider's page).
	mounts map[string]http.Handler
	// metrics and its registry are nil when metrics.addr is off.
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	// web is the HTTP layer, once handler built it.
	web *web.Server
}

// newService builds every part. cfg.Server.PublicURL must be set. The
// caller closes the service.
func newService(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*service, error) {
	master, generated, err := cfg.MasterKey()
	if err != nil {
		return nil, err
	}
	if generated != "" {
		logger.Warn("generated a dev encryption key", "path", generated)
	}
	sealKey, err := tokens.DeriveKey(master, tokens.PurposeSealing)
	if err != nil {
		return nil, fmt.Errorf("crypto.encryption_key: %w", err)
	}
	flowKey, err := tokens.DeriveKey(master, tokens.PurposeLoginFlow)
	if err != nil {
		return nil, fmt.Errorf("crypto.encryption_key: %w", err)
	}
	// Versions before key derivation sealed with the master key itself:
	// what they stored still opens, and is sealed anew when rewritten.
	sealer, err := tokens.NewSealer(sealKey, master)
	if err != nil {
		return nil, fmt.Errorf("crypto.encryption_key: %w", err)
	}

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	s := &service{cfg: cfg, logger: logger, store: st}
	if err := s.buildMetrics(); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := s.build(ctx, sealer, flowKey); err != nil {
		_ = st.Close()
		return nil, err
	}
	return s, nil
}

// build makes the keyring, providers and bridge over an open store.
func (s *service) build(ctx context.Context, sealer *tokens.Sealer, flowKey []byte) error {
	cfg := s.cfg
	accessLifetime, refreshLifetime := cfg.TokenLifetimes()
	settings := cfg.ClientSettings()
	// One current ID key per algorithm in use: the default, then each
	// client's own choice (the keyring drops repeats).
	idAlgs := []string{cfg.Tokens.IDTokenAlgorithm}
	for _, c := range settings {
		idAlgs = append(idAlgs, c.IDTokenSignedResponseAlg)
	}
	keyring, err := tokens.NewKeyring(bridge.KeyStorage(s.store), sealer, tokens.KeyringOptions{
		Algorithm: cfg.Tokens.Algorithm, IDAlgorithms: idAlgs,
		Rotation: cfg.Tokens.KeyRotation, PublishAhead: cfg.Tokens.KeyPublishAhead,
		AccessLifetime: accessLifetime, RefreshLifetime: refreshLifetime, Logger: s.logger,
	})
	if err != nil {
		return fmt.Errorf("tokens.algorithm, tokens.id_token_algorithm or a client's id_token_signed_response_alg: %w", err)
	}
	if err := keyring.Load(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	s.keyring = keyring
	if s.metrics != nil {
		if err := s.metrics.WatchKeys(keyring, nil); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}

	provs, err := buildProviders(cfg, providerTypes())
	if err != nil {
		return err
	}
	s.mounts = provs.mounts
	s.bridge, err = bridge.New(bridge.Options{
		PublicURL: cfg.Server.PublicURL, Store: s.store, Issuer: tokens.NewIssuer(keyring, cfg.Server.PublicURL, nil),
		Sealer: sealer, Providers: provs.list, ProviderLabels: provs.labels, ClaimRules: cfg.Claims,
		LinkByEmail: provs.linkByEmail, Clients: bridgeClients(settings), FlowKey: flowKey,
		FlowTTL: cfg.Login.FlowTTL, CodeTTL: cfg.Login.CodeTTL, RefreshReuseGrace: cfg.Tokens.RefreshReuseGrace,
		AdminToken: cfg.Admin.Token, Logger: s.logger, Observer: s.bridgeObserver(),
	})
	return err
}

// bridgeClients turns the clients' resolved settings (see
// configs.Config.ClientSettings) into the bridge's.
func bridgeClients(settings []configs.Client) []bridge.Client {
	var clients []bridge.Client
	for _, c := range settings {
		clients = append(clients, bridge.Client{
			ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, CORSOrigins: c.CORSOrigins, Secret: c.Secret,
			Audience: c.Audience, Providers: c.Providers,
			AccessTTL: c.AccessTTL, RefreshIdleTTL: c.RefreshIdleTTL, RefreshAbsoluteTTL: c.RefreshAbsoluteTTL,
			IDTokenAlg: c.IDTokenSignedResponseAlg, ProviderTokens: c.ProviderTokens, AccountManagement: c.AccountManagement,
			TokenExchange: c.TokenExchange, RefreshCookie: c.RefreshTokenCookie, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			Introspection: c.Introspection,
		})
	}
	return clients
}

// handler returns the HTTP handler of the whole service.
func (s *service) handler() (http.Handler, error) {
	srv, err := web.NewServer(s.webOptions())
	if err != nil {
		return nil, err
	}
	s.web = srv
	return srv, nil
}

// webOptions configures the HTTP layer: the pages socialbridge serves
// itself are on when their client id is set.
func (s *service) webOptions() web.Options {
	cfg := s.cfg
	demoClient := ""
	if cfg.DemoPageEnabled() {
		demoClient = cfg.DemoClientID()
	}
	return web.Options{
		Bridge: s.bridge, PublicURL: cfg.Server.PublicURL, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		TrustedProxies: cfg.Server.TrustedProxies, DemoClientID: demoClient, DemoCookieClientID: cfg.DemoCookieClientID(),
		AccountClientID: cfg.AccountClientID(), DevMode: cfg.Mode == configs.ModeDev,
		FlowTTL: cfg.Login.FlowTTL, Ping: s.store.Ping, Mounts: s.mounts, RateLimit: cfg.Server.RateLimit, Logger: s.logger,
		Metrics: s.webRecorder(),
	}
}

// sweepInterval is how often the sweeper runs.
const sweepInterval = 5 * time.Minute

// runBackground starts key rotation and the sweeper (see runSweeper).
// The keyring reloads every ReloadInterval: within a minute, and well
// within the publish-ahead period, so that every replica knows a new key
// before it signs.
// They stop when ctx ends; the returned wait blocks until they have, so
// that the store is not closed under them.
func (s *service) runBackground(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { s.keyring.Run(ctx, s.keyring.ReloadInterval()) })
	wg.Go(func() { s.runSweeper(ctx, sweepInterval) })
	if s.cfg.Server.RateLimitShared && s.web != nil {
		wg.Go(func() { s.web.RunSharedRateLimit(ctx, s.store) })
	}
	s.serveMetrics(ctx, &wg)
	return wg.Wait
}

// runSweeper removes expired flows and sessions, and audit events older
// than audit.retention, every interval until ctx ends.
func (s *service) runSweeper(ctx context.Context, interval time.Duration) {
	store.RunSweeper(ctx, s.store, interval, s.cfg.Audit.Retention, time.Now, s.logger)
}

// Close releases the store.
func (s *service) Close() error { return s.store.Close() }

// openStore opens MongoDB when store.mongodb_uri is set, waiting for the
// server to answer until ctx ends, else the embedded SQLite database.
func openStore(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (store.Store, error) {
	if cfg.Store.MongoDBURI != "" {
		// A server starting alongside socialbridge (a compose file, a pod)
		// is waited for until ctx ends, as a shutdown signal ends it.
		uri := cfg.Store.MongoDBURI
		st, err := mongo.Open(ctx, mongo.Options{URI: uri, Database: cfg.Store.Database, Logger: logger,
			WaitForServer: true, Redact: func(msg string) string { return redactURISecrets(msg, uri) }})
		if err != nil {
			// The driver's URI parser can quote parts of the URI, the
			// password included, in its errors.
			return nil, fmt.Errorf("store.mongodb_uri: %s", redactURISecrets(err.Error(), cfg.Store.MongoDBURI))
		}
		return st, nil
	}
	if old := legacyDatabase(cfg.DataDir); old != "" {
		logger.Warn("found the database of an earlier socialbridge version (embedded FerretDB); it is not read or migrated. "+
			"It held dev data only: delete it when you no longer need it", "path", old)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.Store.SQLite.Path, Synchronous: cfg.Store.SQLite.Synchronous, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("store.sqlite.path %s: %w", cfg.Store.SQLite.Path, err)
	}
	return st, nil
}

// redactURISecrets replaces, in msg, the credentials of a MongoDB URI and
// any of their pieces an error may quote (user, password, whole or
// percent-decoded) with "***".
func redactURISecrets(msg, uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return msg
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return msg
	}
	userinfo := rest[:at]
	user, password, _ := strings.Cut(userinfo, ":")
	secrets := []string{userinfo, password, user}
	for _, p := range []string{password, user} {
		if d, err := url.PathUnescape(p); err == nil {
			secrets = append(secrets, d)
		}
	}
	for _, sec := range secrets {
		if len(sec) >= 3 {
			msg = strings.ReplaceAll(msg, sec, "***")
		}
	}
	// A parser error may quote a fragment of a malformed escape ("%zz").
	for i := 0; i+3 <= len(password); i++ {
		if password[i] == '%' {
			msg = strings.ReplaceAll(msg, password[i:i+3], "***")
		}
	}
	return msg
}

// legacyDatabase returns the directory where socialbridge versions before
// the SQLite store kept their embedded FerretDB database (data_dir/db with
// one .sqlite file per database), or "" when there is none.
func legacyDatabase(dataDir string) string {
	dir := filepath.Join(dataDir, "db")
	matches, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil || len(matches) == 0 {
		return ""
	}
	return dir
}

// newLogger builds the one logger every part gets.
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
