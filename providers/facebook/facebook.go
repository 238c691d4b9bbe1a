// Package facebook signs people in with Facebook Login: the OAuth 2.0
// authorization-code flow with PKCE (S256) at Facebook's login dialog, the
// code exchange at the versioned Graph API, and the profile from Graph's
// /me. For mobile sign-in (providers.NativeVerifier), VerifyNative checks
// what a native app got from a Facebook SDK: a user access token, with
// Graph's debug_token and /me, or an iOS Limited Login id_token (the SDK's
// AuthenticationToken), an OpenID Connect token signed with RS256 that is
// verified against Facebook's published keys
// (developers.facebook.com/docs/facebook-login/limited-login/token/validating).
//
// Facebook's OAuth flow returns no id_token, so there is no nonce to check
// and ExchangeRequest.Nonce is ignored: the sign-in is bound to the browser
// by state (checked by socialbridge before Exchange) and to this server by
// PKCE and the app secret, which the code exchange needs.
//
// Every Graph call made with an access token also sends appsecret_proof,
// the hex HMAC-SHA256 of the token keyed with the app secret
// (developers.facebook.com/docs/graph-api/securing-requests): a token that
// leaks from socialbridge's storage is useless without the secret once the
// app's "Require App Secret" setting is on.
//
// The identity key is the Graph id, which Facebook scopes to the app: the
// same person has another id in another app. A Limited Login token's sub
// is that same app-scoped id, so the browser flow, an access token and a
// Limited Login token of one person in one app are one identity. Facebook
// does not say whether the email address it shares was verified, and it
// may share none (the person declined the email permission, or signed up
// with a phone number), so Profile.EmailVerified is false unless the
// operator sets TrustEmail.
//
// Facebook user access tokens come without a refresh token (a token from
// the code exchange lasts about 60 days and only a new sign-in renews it),
// so the adapter is not a providers.Refresher.
package facebook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers"
)

// TypeName is the provider type in configuration (type: facebook) and the
// default instance name.
const TypeName = "facebook"

// Defaults applied by New to empty Config fields.
const (
	// DefaultDialogURL is the host of Facebook's login dialog.
	DefaultDialogURL = "https://www.facebook.com"
	// DefaultGraphURL is the Graph API host.
	DefaultGraphURL = "https://graph.facebook.com"
	// DefaultGraphVersion is the Graph API version used for the dialog
	// and every Graph call. Facebook supports a version for at least two
	// years after the next one is released; pinning one keeps responses
	// stable until an operator moves on.
	DefaultGraphVersion = "v23.0"
)

// DefaultScopes are the permissions asked for when none are configured.
// Both are granted without App Review.
var DefaultScopes = []string{"email", "public_profile"}

// defaultTimeout bounds each call to Facebook when no HTTP client is given.
const defaultTimeout = 10 * time.Second

// Config configures the adapter. Use New to build it; Type builds it from
// configuration.
type Config struct {
	// Name is the instance name: Provider.Name, Identity.Provider, and the
	// key prefix in error messages (default "facebook").
	Name string
	// ClientID is the app's App ID (digits).
	ClientID string
	// ClientSecret is the app's App secret.
	ClientSecret string
	// DialogURL, GraphURL and GraphVersion locate Facebook (defaults
	// DefaultDialogURL, DefaultGraphURL, DefaultGraphVersion); tests and
	// proxies override the URLs.
	DialogURL, GraphURL, GraphVersion string
	// Scopes are the permissions asked for (default DefaultScopes).
	Scopes []string
	// RequireEmail refuses a sign-in when Facebook shares no email address.
	RequireEmail bool
	// TrustEmail reports Facebook's email address as verified. Facebook
	// does not say whether it verified an address; trusting it lets whoever
	// controls a Facebook account with someone's unconfirmed address be
	// linked to that person's account by email.
	TrustEmail bool
	// LimitedLoginJWKSURL is where the keys that sign iOS Limited Login
	// id_tokens are published (default DefaultLimitedLoginJWKSURL).
	LimitedLoginJWKSURL string
	// LimitedLoginIssuer is the iss those tokens must carry (default
	// DefaultLimitedLoginIssuer).
	LimitedLoginIssuer string
	// DisableLimitedLogin refuses Limited Login id_tokens; only access
	// tokens are then accepted from native apps.
	DisableLimitedLogin bool
	// LimitedLoginNonceOptional accepts a Limited Login id_token sent
	// without a nonce. By default one is required: the nonce is what ties
	// the token to the sign-in the app started, rather than to any token
	// for this app that came its way.
	LimitedLoginNonceOptional bool
	// HTTPClient talks to Facebook (default: a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry (default time.Now).
	Now func() time.Time
}

// Provider is the Facebook adapter. It is safe for concurrent use.
type Provider struct {
	cfg       Config
	dialogURL string  // <dialog>/<version>/dialog/oauth
	graphURL  string  // <graph>/<version>
	keys      *keySet // Limited Login's signing keys
}

// New checks cfg, applies its defaults and returns the adapter.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = TypeName
	}
	if cfg.DialogURL == "" {
		cfg.DialogURL = DefaultDialogURL
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.GraphVersion == "" {
		cfg.GraphVersion = DefaultGraphVersion
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = slices.Clone(DefaultScopes)
	} else {
		cfg.Scopes = slices.Clone(cfg.Scopes)
	}
	if cfg.LimitedLoginJWKSURL == "" {
		cfg.LimitedLoginJWKSURL = DefaultLimitedLoginJWKSURL
	}
	if cfg.LimitedLoginIssuer == "" {
		cfg.LimitedLoginIssuer = DefaultLimitedLoginIssuer
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The https policy of Validate depends on the mode and was applied to
	// the settings already; New checks the shape only.
	var problems []error
	check(settingsOf(cfg), true, func(key, msg string) {
		problems = append(problems, fmt.Errorf("%s: %s", key, msg))
	})
	if len(problems) > 0 {
		return nil, fmt.Errorf("facebook provider %q: %w", cfg.Name, errors.Join(problems...))
	}
	return &Provider{
		cfg:       cfg,
		dialogURL: strings.TrimSuffix(cfg.DialogURL, "/") + "/" + cfg.GraphVersion + "/dialog/oauth",
		graphURL:  strings.TrimSuffix(cfg.GraphURL, "/") + "/" + cfg.GraphVersion,
		keys:      newKeySet(cfg.LimitedLoginJWKSURL, cfg.HTTPClient, cfg.Now),
	}, nil
}

// Name implements providers.Provider: the instance name.
func (p *Provider) Name() string { return p.cfg.Name }

// AuthCodeURL implements providers.Provider. Facebook has no nonce,
// login_hint, max_age or account chooser; prompt=login and max_age=0 become
// auth_type=reauthenticate, which makes Facebook ask for the password
// again. Facebook does not report when the person authenticated, so
// Identity.AuthTime stays zero.
func (p *Provider) AuthCodeURL(_ context.Context, req providers.AuthRequest) (string, error) {
	switch {
	case req.RedirectURI == "":
		return "", fmt.Errorf("%s: authorization request without a redirect URI", p.cfg.Name)
	case req.CodeChallenge == "":
		// RFC 9700 §2.1.1: PKCE on every authorization-code flow.
		return "", fmt.Errorf("%s: authorization request without a PKCE code challenge", p.cfg.Name)
	}
	q := url.Values{
		"client_id":             {p.cfg.ClientID},
		"redirect_uri":          {req.RedirectURI},
		"response_type":         {"code"},
		"scope":                 {strings.Join(p.cfg.Scopes, ",")}, // Facebook separates scopes by commas
		"code_challenge":        {req.CodeChallenge},
		"code_challenge_method": {"S256"},
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	if slices.Contains(req.Prompt, "login") || (req.MaxAge != nil && *req.MaxAge == 0) {
		q.Set("auth_type", "reauthenticate")
	}
	return p.dialogURL + "?" + q.Encode(), nil
}

// tokenResponse is Graph's answer to a code exchange.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// Exchange implements providers.Provider: it redeems the code with the
// PKCE verifier and the app secret, then reads the profile from /me.
// ExchangeRequest.Nonce is ignored (see the package comment).
func (p *Provider) Exchange(ctx context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	switch {
	case req.Code == "":
		return nil, p.newError(providers.CodeInvalidGrant, "the callback carries no authorization code", nil)
	case req.CodeVerifier == "":
		// AuthCodeURL always sends a challenge, so Facebook would refuse
		// anyway; refusing here keeps a PKCE-less exchange from ever
		// being attempted.
		return nil, p.newError(providers.CodeInvalidGrant, "the code exchange has no PKCE code verifier", nil)
	case req.RedirectURI == "":
		return nil, p.newError(providers.CodeInvalidGrant, "the code exchange has no redirect URI", nil)
	}
	secrets := []string{req.Code, req.CodeVerifier}
	form := url.Values{
		"client_id":     {p.cfg.ClientID},
		"client_secret": {p.cfg.ClientSecret},
		"redirect_uri":  {req.RedirectURI},
		"code":          {req.Code},
		"code_verifier": {req.CodeVerifier},
	}
	// POST keeps the code and the app secret out of URLs, which proxies
	// and Facebook's own access logs record.
	var tok tokenResponse
	if err := p.graph(ctx, http.MethodPost, "/oauth/access_token", form, "", &tok, secrets); err != nil {
		return nil, p.classify(opExchange, err)
	}
	switch {
	case tok.AccessToken == "":
		return nil, p.newError(providers.CodeInvalidToken, "Facebook's code exchange answer has no access_token", nil)
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer"):
		return nil, p.newError(providers.CodeInvalidToken,
			fmt.Sprintf("Facebook issued a token of type %q, want bearer", clean(tok.TokenType)), nil)
	}
	now := p.cfg.Now()
	ident, err := p.profile(ctx, tok.AccessToken, append(secrets, tok.AccessToken))
	if err != nil {
		return nil, err
	}
	ident.Tokens.AccessToken = tok.AccessToken
	if ident.Tokens.Scopes == nil {
		// Graph did not list the permissions: report what was asked for.
		ident.Tokens.Scopes = slices.Clone(p.cfg.Scopes)
	}
	if tok.ExpiresIn > 0 {
		ident.Tokens.Expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return ident, nil
}

// debugTokenResponse is Graph's debug_token answer. An unusable input
// token is reported inside data (is_valid false, data.error), not as a
// Graph error; the outer error is about socialbridge's app token.
type debugTokenResponse struct {
	Data *struct {
		AppID               string   `json:"app_id"`
		Type                string   `json:"type"`
		IsValid             bool     `json:"is_valid"`
		ExpiresAt           int64    `json:"expires_at"`
		DataAccessExpiresAt int64    `json:"data_access_expires_at"`
		Scopes              []string `json:"scopes"`
		UserID              string   `json:"user_id"`
		Error               *struct {
			Code    int    `json:"code"`
			Subcode int    `json:"subcode"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"data"`
}

// VerifyAccessToken checks a user access token that a native app got from
// a Facebook SDK and returns its verified identity. debug_token, asked with
// socialbridge's app token, must say that the token is valid, was issued
// to this app, is a USER token, has not expired and names a user; then the
// profile is read from /me with the token and appsecret_proof, and /me's id
// must be debug_token's user_id. A token of another app is refused: it
// would let any app whose users' tokens leak sign them in here.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*providers.Identity, error) {
	ident, _, err := p.verifyAccessToken(ctx, token)
	return ident, err
}

// verifyAccessToken is VerifyAccessToken that also returns until when the
// token can be used for a sign-in (replayBound).
func (p *Provider) verifyAccessToken(ctx context.Context, token string) (*providers.Identity, time.Time, error) {
	var none time.Time
	switch {
	case token == "":
		return nil, none, p.newError(providers.CodeInvalidToken, "no Facebook access token was given", nil)
	case len(token) > maxAccessTokenBytes:
		return nil, none, p.newError(providers.CodeInvalidToken,
			fmt.Sprintf("the Facebook access token is larger than %d bytes", maxAccessTokenBytes), nil)
	}
	appToken := p.cfg.ClientID + "|" + p.cfg.ClientSecret
	secrets := []string{token}
	var dt debugTokenResponse
	err := p.graph(ctx, http.MethodGet, "/debug_token", url.Values{"input_token": {token}}, appToken, &dt, secrets)
	if err != nil {
		return nil, none, p.classify(opDebugToken, err)
	}
	d := dt.Data
	now := p.cfg.Now()
	switch {
	case d == nil:
		return nil, none, p.newError(providers.CodeInvalidToken, "Facebook's debug_token answer has no data", nil)
	case d.Error != nil:
		return nil, none, p.newError(providers.CodeInvalidToken, "Facebook says the access token is not valid",
			&GraphError{Code: d.Error.Code, Subcode: d.Error.Subcode, Message: clean(d.Error.Message, secrets...)})
	case !d.IsValid:
		return nil, none, p.newError(providers.CodeInvalidToken, "Facebook says the access token is not valid", nil)
	case d.AppID != p.cfg.ClientID:
		return nil, none, p.newError(providers.CodeInvalidToken, "the access token was issued to another Facebook app", nil)
	case d.Type != "USER":
		return nil, none, p.newError(providers.CodeInvalidToken,
			fmt.Sprintf("the access token is a %s token, want a USER token", clean(d.Type)), nil)
	case d.ExpiresAt != 0 && !now.Before(time.Unix(d.ExpiresAt, 0)):
		return nil, none, p.newError(providers.CodeInvalidToken, "the access token has expired", nil)
	case d.DataAccessExpiresAt != 0 && !now.Before(time.Unix(d.DataAccessExpiresAt, 0)):
		return nil, none, p.newError(providers.CodeInvalidToken,
			"the app's access to the person's data has expired; they must sign in with Facebook again", nil)
	case !validUserID(d.UserID):
		return nil, none, p.newError(providers.CodeInvalidToken, "debug_token names no valid user id", nil)
	}
	ident, err := p.profile(ctx, token, secrets)
	if err != nil {
		return nil, none, err
	}
	if !hmac.Equal([]byte(ident.Subject), []byte(d.UserID)) {
		return nil, none, p.newError(providers.CodeInvalidToken, "Graph /me and debug_token disagree about the token's user", nil)
	}
	ident.Tokens.AccessToken = token
	if d.ExpiresAt != 0 {
		ident.Tokens.Expiry = time.Unix(d.ExpiresAt, 0).UTC()
	}
	if ident.Tokens.Scopes == nil {
		ident.Tokens.Scopes = slices.Clone(d.Scopes)
	}
	return ident, replayBound(now, d.ExpiresAt, d.DataAccessExpiresAt), nil
}

// appSecretProof is Graph's appsecret_proof for token: the hex HMAC-SHA256
// of the token keyed with the app secret.
func (p *Provider) appSecretProof(token string) string {
	mac := hmac.New(sha256.New, []byte(p.cfg.ClientSecret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// newError returns a *providers.Error of this instance.
func (p *Provider) newError(code, msg string, err error) *providers.Error {
	return &providers.Error{Provider: p.cfg.Name, Code: code, Message: msg, Err: err}
}
