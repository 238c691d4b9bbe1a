package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// Scopes socialbridge understands. openid adds an ID token to the response.
var supportedScopes = []string{"openid", "profile", "email", "offline_access"}

// defaultScope is used when the client asks for none.
const defaultScope = "openid profile email"

// Parameter limits: generous for real clients, small enough to keep the
// flow document and URLs bounded.
const (
	maxStateLen = 1024
	maxNonceLen = 512
)

// AuthorizeRequest is a client's authorization request (RFC 6749 §4.1.1,
// RFC 7636 §4.3), plus socialbridge's optional provider choice.
type AuthorizeRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	// Provider is empty when the person should pick on the login page.
	Provider string
}

// LoginChoice is what the hosted login page shows.
type LoginChoice struct {
	Client    *Client
	Providers []string
}

// CheckAuthorize validates an authorization request. Errors about the client
// or redirect URI are *PageError (never redirect to an unverified URI);
// other errors are *RedirectError.
func (b *Bridge) CheckAuthorize(req AuthorizeRequest) (*LoginChoice, error) {
	c, ok := b.clients[req.ClientID]
	if !ok {
		return nil, &PageError{Kind: ErrUnknownClient}
	}
	// Exact string match, no normalization (RFC 9700 §4.1.3).
	if !slices.Contains(c.RedirectURIs, req.RedirectURI) {
		return nil, &PageError{Kind: ErrRedirectMismatch, ClientName: c.Name}
	}
	fail := func(code, desc string) error {
		return &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: code, Description: desc}
	}
	allowed := b.clientProviders(c)
	switch {
	case req.ResponseType != "code":
		return nil, fail(ErrCodeUnsupportedResponse, "response_type must be code")
	case len(req.State) > maxStateLen:
		return nil, fail(ErrCodeInvalidRequest, fmt.Sprintf("state is longer than %d characters", maxStateLen))
	case len(req.Nonce) > maxNonceLen:
		return nil, fail(ErrCodeInvalidRequest, fmt.Sprintf("nonce is longer than %d characters", maxNonceLen))
	case req.CodeChallenge == "" && c.Public():
		return nil, fail(ErrCodeInvalidRequest, "code_challenge is required for public clients (PKCE, RFC 7636)")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return nil, fail(ErrCodeInvalidRequest, "code_challenge_method must be S256")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return nil, fail(ErrCodeInvalidRequest, "code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	case req.Provider != "" && !slices.Contains(allowed, req.Provider):
		return nil, fail(ErrCodeInvalidRequest, fmt.Sprintf("provider %q is not available to this client", req.Provider))
	case len(allowed) == 0:
		return nil, fail(ErrCodeServerError, "no identity provider is enabled for this client")
	}
	if _, err := normalizeScope(req.Scope); err != nil {
		return nil, fail(ErrCodeInvalidScope, err.Error())
	}
	return &LoginChoice{Client: c, Providers: allowed}, nil
}

// ClientProviders lists the providers a registered client may use (none
// for an unknown client).
func (b *Bridge) ClientProviders(clientID string) []string {
	c, ok := b.clients[clientID]
	if !ok {
		return nil
	}
	return b.clientProviders(c)
}

// clientProviders lists the enabled providers the client may use.
func (b *Bridge) clientProviders(c *Client) []string {
	if len(c.Providers) == 0 {
		return b.ProviderNames()
	}
	var out []string
	for _, name := range b.order {
		if slices.Contains(c.Providers, name) {
			out = append(out, name)
		}
	}
	return out
}

// validChallenge: an S256 challenge is 43 base64url characters.
func validChallenge(c string) bool { return len(c) == 43 && validVerifier(c) }

// normalizeScope checks the requested scopes and returns them space
// separated, deduplicated, in a stable order.
func normalizeScope(scope string) (string, error) {
	if strings.TrimSpace(scope) == "" {
		return defaultScope, nil
	}
	var out []string
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(supportedScopes, s) {
			return "", fmt.Errorf("scope %q is not supported (supported: %s)", s, strings.Join(supportedScopes, " "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// Login is a started sign-in: where to send the browser, and the flow id
// the browser must be bound to (web sets a cookie for it).
type Login struct {
	ProviderURL string
	FlowID      string
}

// BeginLogin validates the request, records the login flow and returns the
// provider's authorization URL. The provider is sent our own state, nonce
// and PKCE challenge; the client's are kept in the flow.
func (b *Bridge) BeginLogin(ctx context.Context, req AuthorizeRequest) (*Login, error) {
	if _, err := b.CheckAuthorize(req); err != nil {
		return nil, err
	}
	if req.Provider == "" {
		return nil, &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: ErrCodeInvalidRequest, Description: "provider is required"}
	}
	scope, _ := normalizeScope(req.Scope) // checked above
	now := b.o.Now()
	flowID := randomToken(16)
	flow := &store.Session{
		ID: flowID, ExpiresAt: now.Add(b.o.FlowTTL), CreatedAt: now,
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, ClientState: req.State,
		CodeChallenge: req.CodeChallenge, Nonce: req.Nonce, Scope: scope, Provider: req.Provider,
	}
	if err := b.o.Store.CreateFlow(ctx, flow); err != nil {
		return nil, fmt.Errorf("begin login: %w", err)
	}
	prov := b.providers[req.Provider]
	u, err := prov.AuthCodeURL(ctx, providers.AuthRequest{
		RedirectURI:   b.callbackURL(req.Provider),
		State:         b.state(flowID),
		Nonce:         mac(b.o.FlowKey, "nonce", flowID),
		CodeChallenge: s256(b.verifier(flowID)),
	})
	if err != nil {
		return nil, &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: ErrCodeTemporarilyUnavail,
			Description: fmt.Sprintf("%s sign-in is unavailable right now", req.Provider)}
	}
	b.o.Logger.InfoContext(ctx, "login started", "flow", flowID, "client_id", req.ClientID, "provider", req.Provider)
	return &Login{ProviderURL: u, FlowID: flowID}, nil
}

// callbackURL is socialbridge's redirect URI registered at a provider.
func (b *Bridge) callbackURL(provider string) string {
	return b.o.PublicURL + "/callback/" + provider
}

// state is the provider-facing state: the flow id and a MAC over it, so
// that forged states are refused before any lookup or provider call.
func (b *Bridge) state(flowID string) string {
	return flowID + "." + mac(b.o.FlowKey, "state", flowID)
}

// verifier derives the flow's PKCE verifier, so that nothing needs to be
// read from storage before the code exchange.
func (b *Bridge) verifier(flowID string) string {
	return mac(b.o.FlowKey, "pkce", flowID)
}

// flowFromState checks a state's MAC and returns its flow id.
func (b *Bridge) flowFromState(state string) (string, bool) {
	flowID, sig, ok := strings.Cut(state, ".")
	if !ok || len(flowID) != 22 {
		return "", false
	}
	want := mac(b.o.FlowKey, "state", flowID)
	return flowID, subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1
}

// Callback is a provider's redirect back to socialbridge.
type Callback struct {
	State string
	Code  string
	// Error is the provider's error code; its description is not used
	// (it is provider text, and our own description goes to the client).
	Error string
	// Bound reports whether this browser started the flow (web checks the
	// flow's cookie). It defends against login CSRF: a callback for a flow
	// started in another browser is refused.
	Bound func(flowID string) bool
}

// FinishLogin completes a sign-in: it exchanges the provider's code,
// records the user, issues the one-time code and returns the client
// redirect URL carrying it. Database round trips: claim the identity,
// write the user, issue the code.
func (b *Bridge) FinishLogin(ctx context.Context, providerName string, cb Callback) (string, error) {
	prov, ok := b.providers[providerName]
	if !ok {
		return "", &PageError{Kind: ErrUnknownProvider, Provider: providerName}
	}
	flowID, ok := b.flowFromState(cb.State)
	if !ok {
		return "", &PageError{Kind: ErrInvalidState}
	}
	if cb.Bound == nil || !cb.Bound(flowID) {
		return "", &PageError{Kind: ErrUnboundFlow}
	}
	if cb.Error != "" {
		code := ErrCodeAccessDenied
		if cb.Error != "access_denied" {
			code = ErrCodeServerError
		}
		return b.failLogin(ctx, flowID, providerName, code, fmt.Sprintf("%s reported %s", providerName, sanitize(cb.Error)))
	}
	if cb.Code == "" {
		return b.failLogin(ctx, flowID, providerName, ErrCodeServerError, providerName+" returned no code")
	}
	ident, err := prov.Exchange(ctx, providers.ExchangeRequest{
		Code: cb.Code, RedirectURI: b.callbackURL(providerName),
		CodeVerifier: b.verifier(flowID), Nonce: mac(b.o.FlowKey, "nonce", flowID),
	})
	if err != nil {
		b.o.Logger.WarnContext(ctx, "provider sign-in failed", "flow", flowID, "provider", providerName, "err", err)
		code, desc := ErrCodeServerError, providerName+" sign-in could not be verified"
		if pe, ok := providers.AsError(err); ok {
			switch pe.Code {
			case providers.CodeNotAllowed:
				code, desc = ErrCodeAccessDenied, pe.Message
			case providers.CodeUnavailable:
				code, desc = ErrCodeTemporarilyUnavail, providerName+" is unavailable right now"
			}
		}
		return b.failLogin(ctx, flowID, providerName, code, desc)
	}
	return b.recordLogin(ctx, flowID, ident)
}

// recordLogin writes the identity and user (in that order: a crash in
// between leaves an identity whose user the next login creates), then
// moves the flow to holding a one-time code and returns the client
// redirect that carries it.
func (b *Bridge) recordLogin(ctx context.Context, flowID string, ident *providers.Identity) (string, error) {
	now := b.o.Now()
	userID, created, err := b.o.Store.ClaimIdentity(ctx, ident.Key(), ident.Provider, ident.Subject, randomToken(16), now)
	if err != nil {
		return "", fmt.Errorf("finish login: %w", err)
	}
	link, err := b.sealLink(userID, ident, now)
	if err != nil {
		return "", fmt.Errorf("finish login: %w", err)
	}
	user, err := b.o.Store.UpsertLogin(ctx, userID, store.Login{
		IdentityKey: ident.Key(), Provider: ident.Provider, Link: link, Profile: ident.Profile, Now: now,
	})
	if err != nil {
		return "", fmt.Errorf("finish login: %w", err)
	}
	if user.Disabled {
		return b.failLogin(ctx, flowID, ident.Provider, ErrCodeAccessDenied, "this account is disabled")
	}
	secret := randomToken(32)
	code := flowID + "." + secret
	sess, err := b.o.Store.IssueCode(ctx, flowID, ident.Provider, now, store.CodeIssue{
		UserID: userID, AuthTime: now, Claims: claims.ForToken(user.Profile, user.Roles),
		CodeHash: hashSecret(code), CodeExpiresAt: now.Add(b.o.CodeTTL),
	})
	if err != nil {
		return "", b.explainFlow(ctx, flowID, err)
	}
	b.o.Logger.InfoContext(ctx, "login finished", "flow", flowID, "user_id", userID, "new_user", created,
		"provider", ident.Provider, "client_id", sess.ClientID)
	return b.clientRedirect(sess, url.Values{"code": {code}}), nil
}

// sealLink encrypts the provider's tokens, bound to this user and provider.
func (b *Bridge) sealLink(userID string, ident *providers.Identity, now time.Time) (store.ProviderLink, error) {
	link := store.ProviderLink{Subject: ident.Subject, Profile: ident.Profile, Expiry: ident.Tokens.Expiry, UpdatedAt: now}
	for _, f := range []struct {
		dst   *string
		value string
		name  string
	}{
		{&link.AccessTokenSealed, ident.Tokens.AccessToken, "access_token"},
		{&link.RefreshTokenSealed, ident.Tokens.RefreshToken, "refresh_token"},
		{&link.IDTokenSealed, ident.Tokens.IDToken, "id_token"},
	} {
		sealed, err := b.o.Sealer.SealString(f.value, providerTokenContext(userID, ident.Provider, f.name))
		if err != nil {
			return link, fmt.Errorf("seal provider %s: %w", f.name, err)
		}
		*f.dst = sealed
	}
	return link, nil
}

// providerTokenContext binds a sealed provider token to where it is stored.
func providerTokenContext(userID, provider, field string) string {
	return "user:" + userID + ":" + provider + ":" + field
}

// failLogin marks a pending flow failed and sends the client an error, or
// shows an error page when the flow cannot be used any more.
func (b *Bridge) failLogin(ctx context.Context, flowID, provider, code, desc string) (string, error) {
	sess, err := b.o.Store.FailFlow(ctx, flowID, provider, b.o.Now())
	if err != nil {
		return "", b.explainFlow(ctx, flowID, err)
	}
	b.o.Logger.InfoContext(ctx, "login failed", "flow", flowID, "provider", provider, "client_id", sess.ClientID, "error", code)
	return b.clientRedirect(sess, url.Values{"error": {code}, "error_description": {desc}}), nil
}

// explainFlow turns a failed flow transition into the page the person
// should see.
func (b *Bridge) explainFlow(ctx context.Context, flowID string, cause error) error {
	if !errors.Is(cause, store.ErrNotFound) {
		return fmt.Errorf("finish login: %w", cause)
	}
	sess, err := b.o.Store.GetSession(ctx, flowID)
	switch {
	case err == nil && sess.State == store.StatePending && !b.o.Now().Before(sess.ExpiresAt),
		errors.Is(err, store.ErrNotFound):
		return &PageError{Kind: ErrFlowExpired, Err: cause}
	case err == nil:
		return &PageError{Kind: ErrFlowUsed, Err: cause}
	default:
		return fmt.Errorf("finish login: %w", err)
	}
}

// clientRedirect builds the redirect to the client's verified redirect URI
// with the client's state and our issuer (RFC 9207).
func (b *Bridge) clientRedirect(sess *store.Session, params url.Values) string {
	if sess.ClientState != "" {
		params.Set("state", sess.ClientState)
	}
	params.Set("iss", b.o.PublicURL)
	return appendQuery(sess.RedirectURI, params)
}

// ErrorRedirect is where a *RedirectError sends the browser: the client's
// verified redirect URI with the error, its state and our issuer
// (RFC 6749 §4.1.2.1, RFC 9207).
func (b *Bridge) ErrorRedirect(e *RedirectError) string {
	q := url.Values{"error": {e.Code}, "error_description": {e.Description}, "iss": {b.o.PublicURL}}
	if e.State != "" {
		q.Set("state", e.State)
	}
	return appendQuery(e.RedirectURI, q)
}

// appendQuery adds params to a URI that may already have a query.
func appendQuery(uri string, params url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + params.Encode()
}

// sanitize keeps a provider-supplied error code short and printable.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
