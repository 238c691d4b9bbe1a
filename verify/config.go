package verify

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults of Config's zero values.
const (
	DefaultLeeway = 30 * time.Second
	// DefaultFeedInterval is how often the revocation feed is read: how
	// long a logout takes to reach the API.
	DefaultFeedInterval = 10 * time.Second
	// DefaultFeedMaxStale is how long the feed may go unread before
	// Config.FailOpen decides.
	DefaultFeedMaxStale = time.Minute
	// DefaultJWKSRefetchInterval is the least time between key-set
	// fetches caused by unknown kids.
	DefaultJWKSRefetchInterval = 30 * time.Second
	// DefaultJWKSRefreshInterval is how often the key set is fetched
	// again in the background: socialbridge lets verifiers cache it for
	// five minutes and publishes a new key a day before it signs.
	DefaultJWKSRefreshInterval = 5 * time.Minute
	// DefaultHTTPTimeout bounds each request to socialbridge when
	// Config.HTTPClient is nil.
	DefaultHTTPTimeout = 10 * time.Second
)

// MaxTokenBytes is the largest token Verify parses; longer ones are
// refused as Malformed before any decoding (socialbridge's own limit).
const MaxTokenBytes = 8 << 10

// DefaultAlgorithms are the signature algorithms socialbridge signs access
// tokens with. "none" and the HMAC algorithms can never be allowed: a
// verifier holds only public keys.
var DefaultAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// Config configures a Verifier. Issuer and Audience are required; the
// rest have defaults.
type Config struct {
	// Issuer is socialbridge's public URL, exactly as in its tokens' iss
	// and its discovery document ("https://auth.example.com").
	Issuer string
	// Audience lists the values this API accepts in aud: a token must
	// name at least one (socialbridge's tokens.audience or the client's
	// audience; by default its public URL).
	Audience []string

	// ClientID and ClientSecret are this API's confidential client at
	// socialbridge, with introspection: true. They authenticate the
	// revocation feed and introspection. Without them revocation is off:
	// a token stays valid until it expires even after logout (up to the
	// access-token lifetime, 15 minutes by default).
	ClientID     string
	ClientSecret string

	// HTTPClient makes every request to socialbridge; nil means a client
	// with a DefaultHTTPTimeout timeout that follows no redirects.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed for exp, nbf and iat (default
	// 30s, at most 1m).
	Leeway time.Duration
	// FeedInterval is how often the revocation feed is read (default
	// 10s): how long a logout takes to reach this API.
	FeedInterval time.Duration
	// FeedMaxStale is how long the feed may go unread (socialbridge
	// unreachable) before FailOpen decides (default 1m; at least
	// FeedInterval).
	FeedMaxStale time.Duration
	// FailOpen accepts tokens, from the last revocations known, while the
	// feed is stale. The default (false) refuses them with
	// RevocationUnavailable (HTTP 503): a logged-out or disabled user
	// must not keep access because the network is down.
	FailOpen bool
	// Algorithms allow-lists the signature algorithms (default
	// DefaultAlgorithms); a key's alg must be one of them too.
	Algorithms []string
	// JWKSRefetchInterval is the least time between two key-set fetches
	// caused by tokens with an unknown kid (default 30s), so that forged
	// kids cannot make this API hammer socialbridge.
	JWKSRefetchInterval time.Duration
	// JWKSRefreshInterval is how often the key set is fetched in the
	// background (default 5m).
	JWKSRefreshInterval time.Duration
	// Logger receives the verifier's own events (feed and key-set
	// fetches, failures, staleness); nil discards them. Tokens are never
	// logged.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
}

// maxLeeway bounds Leeway: socialbridge serves a revocation in its feed
// for the token lifetime plus a minute, so a token accepted more than a
// minute past its expiry could outlive the revocation that refuses it
// (after a restart of this API, which reads the feed afresh).
const maxLeeway = time.Minute

// withDefaults returns c with every zero value set and checks it, naming
// every problem at once.
func (c Config) withDefaults() (Config, error) {
	setDefault(&c.Leeway, DefaultLeeway)
	setDefault(&c.FeedInterval, DefaultFeedInterval)
	setDefault(&c.FeedMaxStale, DefaultFeedMaxStale)
	setDefault(&c.JWKSRefetchInterval, DefaultJWKSRefetchInterval)
	setDefault(&c.JWKSRefreshInterval, DefaultJWKSRefreshInterval)
	if c.HTTPClient == nil {
		// No redirects: every URL is checked before use (https, or
		// loopback), and a redirect would take the client credentials
		// somewhere that was not.
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	c.Audience = slices.Clone(c.Audience)
	c.Algorithms = slices.Clone(c.Algorithms)

	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Issuer == "" {
		add("Issuer: required (socialbridge's public URL)")
	} else if problem := checkURL(c.Issuer); problem != "" {
		add("Issuer: %s", problem)
	}
	if len(c.Audience) == 0 {
		add("Audience: at least one value is required (the aud this API accepts)")
	}
	for i, a := range c.Audience {
		if a == "" {
			add("Audience[%d]: must not be empty", i)
		}
	}
	if (c.ClientID == "") != (c.ClientSecret == "") {
		add("ClientID and ClientSecret: set both (revocation on) or neither (revocation off)")
	}
	for i, alg := range c.Algorithms {
		if !slices.Contains(DefaultAlgorithms, alg) {
			add("Algorithms[%d]: %q is not one of %s", i, alg, strings.Join(DefaultAlgorithms, ", "))
		}
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		add("Leeway: must be between 0 and %s, got %s", maxLeeway, c.Leeway)
	}
	if c.FeedInterval < 0 || c.FeedMaxStale < 0 || c.JWKSRefetchInterval < 0 || c.JWKSRefreshInterval < 0 {
		add("FeedInterval, FeedMaxStale, JWKSRefetchInterval, JWKSRefreshInterval: must not be negative")
	}
	if c.FeedMaxStale < c.FeedInterval {
		add("FeedMaxStale: must be at least FeedInterval (%s), got %s", c.FeedInterval, c.FeedMaxStale)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("verify: invalid config: %w", errors.Join(errs...))
	}
	return c, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// checkURL returns what is wrong with a URL keys or revocations are read
// from: it must be https, or http to a loopback host (a dev server on this
// machine), since whoever can change the keys in transit can forge tokens.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute http(s) URL", raw)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Sprintf("%q must be https (plain http only to localhost): keys fetched in clear text can be replaced", raw)
	}
	return ""
}

func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
