package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// Scopes socialbridge understands. openid adds an ID token to the response.
var supportedScopes = []string{"openid", "profile", "email", "offline_access", ScopeAccount}

// defaultScope is used when the client asks for none.
const defaultScope = "openid profile email"

// Parameter limits: generous for real clients, small enough to keep the
// flow document and URLs bounded.
const (
	maxStateLen     = 1024
	maxNonceLen     = 512
	maxLoginHintLen = 512
)

// OpenID Connect prompt values (OpenID Connect Core §3.1.2.1).
const (
	promptNone          = "none"
	promptLogin         = "login"
	promptConsent       = "consent"
	promptSelectAccount = "select_account"
)

// authTimeLeeway is how far a provider's auth_time may fall before the
// earliest time max_age allows: the clocks of the provider and of
// socialbridge differ a little, and the browser takes a moment to come
// back from the provider.
const authTimeLeeway = 30 * time.Second

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
	// Prompt, MaxAge and LoginHint are OpenID Connect's (Core §3.1.2.1),
	// as sent: Prompt space separated, MaxAge a number of seconds.
	// prompt=none is answered login_required, since socialbridge keeps no
	// session of its own; the others are passed to the provider where it
	// supports them, and max_age is checked against the provider's
	// auth_time when it reports one.
	Prompt    string
	MaxAge    string
	LoginHint string
	// UserAgent and IP describe the browser, kept on the session so that
	// the person can tell their sessions apart.
	UserAgent string
	IP        string
}

// authOptions are the parsed OpenID Connect options of a request.
type authOptions struct {
	prompt []string // without none
	none   bool     // prompt=none
	maxAge *int64   // seconds; nil when not asked
}

// LoginChoice is what the hosted login page shows.
type LoginChoice struct {
	Client    *Client
	Providers []string
}

// CheckAuthorize validates an authorization request. Errors about the client
// or redirect URI are *PageError (never redirect to an unverified URI);
// other errors are *RedirectError. A valid request with prompt=none is a
// *RedirectError with login_required.
func (b *Bridge) CheckAuthorize(req AuthorizeRequest) (*LoginChoice, error) {
	choice, opts, err := b.checkAuthorize(req)
	if err != nil {
		return nil, err
	}
	if opts.none {
		return nil, loginRequired(req)
	}
	return choice, nil
}

// loginRequired answers prompt=none: no UI may be shown, and socialbridge
// has no session cookie that could sign the person in silently (OpenID
// Connect Core §3.1.2.6).
func loginRequired(req AuthorizeRequest) error {
	return &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: ErrCodeLoginRequired,
		Description: "prompt=none: socialbridge keeps no session of its own; sign in interactively"}
}

// checkAuthorize is CheckAuthorize without the answer to prompt=none: it
// also returns the parsed OpenID Connect options.
func (b *Bridge) checkAuthorize(req AuthorizeRequest) (*LoginChoice, authOptions, error) {
	var opts authOptions
	c, ok := b.clients[req.ClientID]
	if !ok {
		return nil, opts, &PageError{Kind: ErrUnknownClient}
	}
	// Exact string match, no normalization (RFC 9700 §4.1.3).
	if !slices.Contains(c.RedirectURIs, req.RedirectURI) {
		return nil, opts, &PageError{Kind: ErrRedirectMismatch, ClientName: c.Name}
	}
	fail := func(code, desc string) error {
		return &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: code, Description: desc}
	}
	// Bytes that are not UTF-8 do not come back intact: encoding/json
	// writes the nonce into the ID token with U+FFFD in their place, and
	// browsers' URL parsers do the same to a returned state. The client's
	// own check would then fail after a "successful" sign-in: refuse them.
	if name := invalidUTF8(req); name != "" {
		return nil, opts, fail(ErrCodeInvalidRequest, name+" is not valid UTF-8")
	}
	allowed := b.clientProviders(c)
	switch {
	case req.ResponseType != "code":
		return nil, opts, fail(ErrCodeUnsupportedResponse, "response_type must be code")
	case len(req.State) > maxStateLen:
		return nil, opts, fail(ErrCodeInvalidRequest, fmt.Sprintf("state is longer than %d characters", maxStateLen))
	case len(req.Nonce) > maxNonceLen:
		return nil, opts, fail(ErrCodeInvalidRequest, fmt.Sprintf("nonce is longer than %d characters", maxNonceLen))
	case len(req.LoginHint) > maxLoginHintLen:
		return nil, opts, fail(ErrCodeInvalidRequest, fmt.Sprintf("login_hint is longer than %d characters", maxLoginHintLen))
	case req.CodeChallenge == "" && c.Public():
		return nil, opts, fail(ErrCodeInvalidRequest, "code_challenge is required for public clients (PKCE, RFC 7636)")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return nil, opts, fail(ErrCodeInvalidRequest, "code_challenge_method must be S256")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return nil, opts, fail(ErrCodeInvalidRequest, "code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	case req.Provider != "" && !slices.Contains(allowed, req.Provider):
		return nil, opts, fail(ErrCodeInvalidRequest, fmt.Sprintf("provider %q is not available to this client", req.Provider))
	case len(allowed) == 0:
		return nil, opts, fail(ErrCodeServerError, "no identity provider is enabled for this client")
	}
	if scope, err := normalizeScope(req.Scope); err != nil {
		return nil, opts, fail(ErrCodeInvalidScope, err.Error())
	} else if hasScope(scope, ScopeAccount) && !c.AccountManagement {
		return nil, opts, fail(ErrCodeInvalidScope, "this client may not ask for the account scope (clients[].account_management)")
	}
	var err error
	if opts, err = parseAuthOptions(req); err != nil {
		return nil, opts, fail(ErrCodeInvalidRequest, err.Error())
	}
	return &LoginChoice{Client: c, Providers: allowed}, opts, nil
}

// invalidUTF8 names the first parameter of req that is not valid UTF-8,
// or returns "".
func invalidUTF8(req AuthorizeRequest) string {
	for _, p := range []struct{ name, value string }{
		{"client_id", req.ClientID}, {"redirect_uri", req.RedirectURI}, {"response_type", req.ResponseType},
		{"scope", req.Scope}, {"state", req.State}, {"nonce", req.Nonce}, {"code_challenge", req.CodeChallenge},
		{"code_challenge_method", req.CodeChallengeMethod}, {"provider", req.Provider}, {"prompt", req.Prompt},
		{"max_age", req.MaxAge}, {"login_hint", req.LoginHint},
	} {
		if !utf8.ValidString(p.value) {
			return p.name
		}
	}
	return ""
}

// effectiveMaxAge is the max_age the provider's auth_time is checked
// against: prompt=login asks for a fresh authentication, which is max_age=0
// (OpenID Connect Core §3.1.2.1), whatever max_age the client sent.
func (o authOptions) effectiveMaxAge() *int64 {
	if slices.Contains(o.prompt, promptLogin) {
		zero := int64(0)
		return &zero
	}
	return o.maxAge
}

// parseAuthOptions checks prompt and max_age (OpenID Connect Core
// §3.1.2.1): prompt is a space-separated set of known values in which none
// stands alone; max_age is a whole number of seconds.
func parseAuthOptions(req AuthorizeRequest) (authOptions, error) {
	var o authOptions
	for _, p := range strings.Fields(req.Prompt) {
		switch p {
		case promptNone:
			o.none = true
		case promptLogin, promptConsent, promptSelectAccount:
			if !slices.Contains(o.prompt, p) {
				o.prompt = append(o.prompt, p)
			}
		default:
			return o, fmt.Errorf("prompt value %q is not supported (supported: none, login, consent, select_account)", p)
		}
	}
	if o.none && len(o.prompt) > 0 {
		return o, errors.New("prompt=none cannot be combined with other prompt values")
	}
	if req.MaxAge != "" {
		// Digits only (base 10 takes no sign, space or underscore), at
		// most 2^31-1 seconds so that it converts to a time.Duration.
		n, err := strconv.ParseUint(req.MaxAge, 10, 31)
		if err != nil {
			return o, errors.New("max_age must be a whole number of seconds")
		}
		v := int64(n)
		o.maxAge = &v
	}
	return o, nil
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
//
// The URL is built before the flow is stored: when the provider cannot be
// reached (its discovery document, say), the cause is logged and no flow
// is left behind; the client gets temporarily_unavailable.
func (b *Bridge) BeginLogin(ctx context.Context, req AuthorizeRequest) (*Login, error) {
	_, opts, err := b.checkAuthorize(req)
	switch {
	case err != nil:
		return nil, err
	case opts.none:
		return nil, loginRequired(req)
	case req.Provider == "":
		return nil, &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: ErrCodeInvalidRequest, Description: "provider is required"}
	}
	scope, _ := normalizeScope(req.Scope) // checked above
	flowID := randomToken(16)
	prov := b.providers[req.Provider]
	u, err := prov.AuthCodeURL(ctx, providers.AuthRequest{
		RedirectURI:   b.callbackURL(req.Provider),
		State:         b.state(flowID),
		Nonce:         mac(b.o.FlowKey, "nonce", flowID),
		CodeChallenge: s256(b.verifier(flowID)),
		Prompt:        opts.prompt,
		MaxAge:        opts.maxAge,
		LoginHint:     req.LoginHint,
	})
	if err != nil {
		// The adapter's errors name what failed and never hold a secret.
		b.o.Logger.WarnContext(ctx, "provider unavailable; login not started", "provider", req.Provider,
			"flow", flowID, "client_id", req.ClientID, "err", err)
		return nil, &RedirectError{RedirectURI: req.RedirectURI, State: req.State, Code: ErrCodeTemporarilyUnavail,
			Description: fmt.Sprintf("%s sign-in is unavailable right now", req.Provider)}
	}
	now := b.o.Now()
	flow := &store.Session{
		ID: flowID, ExpiresAt: now.Add(b.o.FlowTTL), CreatedAt: now,
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, ClientState: req.State,
		CodeChallenge: req.CodeChallenge, Nonce: req.Nonce, Scope: scope, Provider: req.Provider,
		MaxAge:    opts.effectiveMaxAge(),
		UserAgent: deviceText(req.UserAgent, maxUserAgentLen), IP: deviceText(req.IP, 64),
	}
	if err := b.o.Store.CreateFlow(ctx, flow); err != nil {
		return nil, fmt.Errorf("begin login: %w", err)
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

// StateFlowID returns the flow a provider-facing state names, when the
// state's MAC holds: web uses it to find the flow's binding cookie.
func (b *Bridge) StateFlowID(state string) (string, bool) {
	return b.flowFromState(state)
}

// FlowBinding is the value of the cookie that binds flow flowID to the
// browser that started it: a MAC of the flow id under its own label, so
// that nobody without the flow key can make one, and a cookie planted with
// any other value is refused (login CSRF, RFC 9700 §4.7).
func (b *Bridge) FlowBinding(flowID string) string {
	return mac(b.o.FlowKey, "flow-binding", flowID)
}

// Callback is a provider's redirect back to socialbridge.
type Callback struct {
	State string
	Code  string
	// Error is the provider's error code; its description is not used
	// (it is provider text, and our own description goes to the client).
	Error string
	// Binding is the value of this browser's binding cookie for the flow
	// the state names (see StateFlowID and FlowBinding); empty when it has
	// none. It defends against login CSRF: a callback for a flow started
	// in another browser is refused.
	Binding string
}

// FinishLogin completes a sign-in: it checks the state and the browser's
// binding, claims the flow, exchanges the provider's code, records the
// user, issues the one-time code and returns the client redirect URL
// carrying it. A replayed, expired or foreign callback is refused before
// the provider is called or anything is written. Once claimed, the flow
// ends as code or failed, and a failure goes to the client as an error
// redirect (only a flow whose deadline passes during the exchange ends
// on the "expired" page instead). Database round trips: claim the flow,
// claim the identity, write the user, issue the code.
func (b *Bridge) FinishLogin(ctx context.Context, providerName string, cb Callback) (_ string, err error) {
	prov, ok := b.providers[providerName]
	if !ok {
		return "", &PageError{Kind: ErrUnknownProvider, Provider: providerName}
	}
	// A sign-in that ends on an error page (expired, replayed, altered,
	// our fault) failed; one that returns to the client is counted where
	// it ends (recordLogin, failUserLogin). The callback of an explicit
	// link is no sign-in, once the flow says it is one.
	isLink := false
	defer func() {
		if err != nil && !isLink {
			b.observer().SignIn(providerName, SignInFailed)
		}
	}()
	flowID, ok := b.flowFromState(cb.State)
	if !ok {
		return "", &PageError{Kind: ErrInvalidState}
	}
	if subtle.ConstantTimeCompare([]byte(cb.Binding), []byte(b.FlowBinding(flowID))) != 1 {
		return "", &PageError{Kind: ErrUnboundFlow}
	}
	// Claim the flow before anything else, provider errors included: a
	// second callback of one flow (an error racing a success) must not
	// fail the flow while the first is talking to the provider.
	flow, err := b.o.Store.ClaimFlow(ctx, flowID, providerName, b.o.Now())
	if err != nil {
		return "", b.explainFlow(ctx, flowID, providerName, err)
	}
	isLink = flow.LinkUserID != ""
	// A provider error or a missing code needs no call to the provider:
	// the claimed flow fails at once.
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
	if flow.LinkUserID != "" {
		return b.finishLink(ctx, flow, providerName, ident)
	}
	return b.recordLogin(ctx, flow, providerName, ident)
}

// recordLogin finishes a claimed flow the provider vouched for. It checks
// the provider's auth_time against the client's max_age, writes the
// identity and user (in that order: a crash in between leaves an identity
// whose user the next login creates), then moves the flow to holding a
// one-time code and returns the client redirect that carries it. A
// failure fails the flow and sends the client server_error.
func (b *Bridge) recordLogin(ctx context.Context, flow *store.Session, provider string, ident *providers.Identity) (string, error) {
	now := b.o.Now()
	authTime := now
	if !ident.AuthTime.IsZero() {
		if flow.MaxAge != nil && ident.AuthTime.Before(now.Add(-time.Duration(*flow.MaxAge)*time.Second-authTimeLeeway)) {
			b.o.Logger.InfoContext(ctx, "provider authentication older than max_age", "flow", flow.ID, "provider", provider,
				"client_id", flow.ClientID, "auth_time", ident.AuthTime, "max_age", *flow.MaxAge)
			return b.failLogin(ctx, flow.ID, provider, ErrCodeLoginRequired,
				fmt.Sprintf("%s last authenticated the user longer ago than max_age allows", provider))
		}
		// The provider's auth_time is when the person authenticated; a
		// time ahead of ours is clock skew, not news.
		if ident.AuthTime.Before(now) {
			authTime = ident.AuthTime
		}
	}
	signedIn, err := b.signInUser(ctx, ident, flow.ClientID, now)
	if err != nil {
		return b.failClaimed(ctx, flow, provider, err)
	}
	userID, user := signedIn.user.ID, signedIn.user
	if user.Disabled {
		return b.failUserLogin(ctx, flow.ID, provider, user.ID, ErrCodeAccessDenied, "this account is disabled")
	}
	secret := randomToken(32)
	code := flow.ID + "." + secret
	sess, err := b.o.Store.IssueCode(ctx, flow.ID, provider, now, store.CodeIssue{
		UserID: userID, AuthTime: authTime, Claims: b.o.ClaimRules.Apply(claims.Input{
			Provider: ident.Provider, Profile: user.Profile, Raw: ident.Claims, StoredRoles: user.Roles,
		}),
		CodeHash: hashSecret(code), CodeExpiresAt: now.Add(b.o.CodeTTL),
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", b.explainFlow(ctx, flow.ID, provider, err)
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("issue code: %w", err))
	}
	b.audit(ctx, store.AuditEvent{Type: AuditLogin, UserID: userID, SessionID: sess.ID, ClientID: sess.ClientID, IP: sess.IP,
		Detail: map[string]string{"provider": provider, "new_user": fmt.Sprint(signedIn.newUser)}})
	b.observer().SignIn(provider, SignInSuccess)
	b.o.Logger.InfoContext(ctx, "login finished", "flow", flow.ID, "user_id", userID, "new_user", signedIn.newUser,
		"auto_linked", signedIn.autoLinked, "provider", provider, "client_id", sess.ClientID)
	return b.clientRedirect(sess, url.Values{"code": {code}}), nil
}

// signedIn is the user a verified identity signed in as.
type signedIn struct {
	user       *store.User
	newUser    bool // the sign-in created the user
	autoLinked bool // the identity joined an existing user by email
}

// signInUser records a sign-in of a verified identity, for the browser
// flow and the native token exchange alike, so that one person gets one
// user whichever way they come: the user of the identity (creating the
// identity first, joining a user by trusted email or creating one), then
// the profile and the sealed provider tokens written to it in one update.
// A disabled user is returned as such; the caller refuses it.
//
// When the user is deleted between the claim and the write, the store
// refuses the write and releases the identity (store.ErrUserDeleted):
// the sign-in starts over once, and the identity gets a new user.
func (b *Bridge) signInUser(ctx context.Context, ident *providers.Identity, clientID string, now time.Time) (*signedIn, error) {
	in, err := b.signInUserOnce(ctx, ident, now)
	if errors.Is(err, store.ErrUserDeleted) {
		b.o.Logger.InfoContext(ctx, "user deleted during sign-in; signing in as a new user", "provider", ident.Provider, "client_id", clientID)
		in, err = b.signInUserOnce(ctx, ident, now)
	}
	if err != nil {
		return nil, err
	}
	if in.autoLinked {
		b.audit(ctx, store.AuditEvent{Type: AuditIdentityAutoLink, UserID: in.user.ID, ClientID: clientID,
			Detail: map[string]string{"provider": ident.Provider}})
	}
	return in, nil
}

// signInUserOnce is one attempt of signInUser.
func (b *Bridge) signInUserOnce(ctx context.Context, ident *providers.Identity, now time.Time) (*signedIn, error) {
	newUserID, joins, err := b.newUserID(ctx, ident)
	if err != nil {
		return nil, err
	}
	userID, created, err := b.o.Store.ClaimIdentity(ctx, ident.Key(), ident.Provider, ident.Subject, newUserID, now)
	if err != nil {
		return nil, fmt.Errorf("claim identity: %w", err)
	}
	autoLinked := created && joins
	link, err := b.sealLink(userID, ident, now)
	if err != nil {
		return nil, err
	}
	if ident.Tokens.AccessToken == "" {
		// A native ID token brings no provider tokens: keep the ones a
		// browser sign-in of this identity stored.
		if err := b.keepStoredTokens(ctx, userID, ident.Provider, &link); err != nil {
			return nil, err
		}
	}
	user, err := b.o.Store.UpsertLogin(ctx, userID, store.Login{
		IdentityKey: ident.Key(), Provider: ident.Provider, Link: link, Profile: ident.Profile, Now: now,
	})
	if err != nil {
		return nil, fmt.Errorf("write user: %w", err)
	}
	return &signedIn{user: user, newUser: created && !autoLinked, autoLinked: autoLinked}, nil
}

// keepStoredTokens copies into link (provider's, without tokens) the
// provider access and refresh tokens stored for the same identity, if
// any.
func (b *Bridge) keepStoredTokens(ctx context.Context, userID, provider string, link *store.ProviderLink) error {
	u, err := b.o.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read user: %w", err)
	}
	old, ok := u.Providers[provider]
	if !ok || old.Subject != link.Subject {
		return nil
	}
	link.AccessTokenSealed, link.RefreshTokenSealed = old.AccessTokenSealed, old.RefreshTokenSealed
	link.Expiry, link.Scopes = old.Expiry, old.Scopes
	return nil
}

// failClaimed ends a claimed flow that could not be finished because of
// our own fault (the database, sealing): the cause goes to the log, the
// flow to failed and the client gets server_error, or
// temporarily_unavailable when the database was unavailable. When even that fails,
// the cause is returned (an error page).
func (b *Bridge) failClaimed(ctx context.Context, flow *store.Session, provider string, cause error) (string, error) {
	b.o.Logger.ErrorContext(ctx, "login could not be finished", "flow", flow.ID, "provider", provider,
		"client_id", flow.ClientID, "err", cause)
	code, desc := ErrCodeServerError, "sign-in could not be completed; try again"
	if Unavailable(cause) {
		code, desc = ErrCodeTemporarilyUnavail, "sign-in could not be completed: the database is unavailable; try again shortly"
	}
	target, err := b.failLogin(ctx, flow.ID, provider, code, desc)
	if err != nil {
		return "", fmt.Errorf("finish login: %w (and failing the flow: %w)", cause, err)
	}
	return target, nil
}

// sealLink encrypts the provider's tokens, bound to this user and provider.
func (b *Bridge) sealLink(userID string, ident *providers.Identity, now time.Time) (store.ProviderLink, error) {
	link := store.ProviderLink{
		Subject: ident.Subject, Profile: ident.Profile, Expiry: ident.Tokens.Expiry, UpdatedAt: now,
		Scopes: ident.Tokens.Scopes, LinkEmail: b.linkEmail(ident),
	}
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

// linkEmail is the email of ident that automatic linking may trust: one
// the provider verified, from a provider configuration trusts for linking
// (link_by_email); "" otherwise.
func (b *Bridge) linkEmail(ident *providers.Identity) string {
	if !ident.Profile.EmailVerified || ident.Profile.Email == "" || !slices.Contains(b.o.LinkByEmail, ident.Provider) {
		return ""
	}
	return strings.ToLower(ident.Profile.Email)
}

// newUserID is the user a first sign-in of ident creates or joins: the
// one existing user that holds ident's email as a link email from a
// provider trusted for linking now (automatic linking), else a new id;
// joins says which. Two or more such users are ambiguous: the sign-in
// gets a new user rather than guess. An identity that already has a user
// keeps it (ClaimIdentity returns that one): for a provider trusted for
// linking a returning person costs one read, GetIdentity, and nothing
// more.
func (b *Bridge) newUserID(ctx context.Context, ident *providers.Identity) (id string, joins bool, err error) {
	email := b.linkEmail(ident)
	if email == "" {
		return randomToken(16), false, nil
	}
	switch _, err := b.o.Store.GetIdentity(ctx, ident.Key()); {
	case err == nil:
		// A returning person: ClaimIdentity finds the owner. A fresh id,
		// not the owner's, so that an unlink finishing in between cannot
		// be undone by this sign-in recreating the identity for them.
		return randomToken(16), false, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", false, fmt.Errorf("read identity: %w", err)
	}
	ids, err := b.o.Store.FindUsersByLinkEmail(ctx, email, b.o.LinkByEmail)
	if err != nil {
		return "", false, fmt.Errorf("find users by email: %w", err)
	}
	if len(ids) > 1 {
		b.o.Logger.WarnContext(ctx, "several users hold this verified email; not linking automatically", "provider", ident.Provider, "users", len(ids))
	}
	if len(ids) != 1 {
		return randomToken(16), false, nil
	}
	// A user with another identity of this provider is another account
	// at the provider: joining it would give the user two, which an
	// explicit link refuses too.
	if other, err := b.hasOtherIdentityOf(ctx, ids[0], ident); err != nil || other {
		return randomToken(16), false, err
	}
	return ids[0], true, nil
}

// providerTokenContext binds a sealed provider token to where it is stored.
func providerTokenContext(userID, provider, field string) string {
	return "user:" + userID + ":" + provider + ":" + field
}

// failLogin marks a pending or claimed flow failed and sends the client an
// error, or shows an error page when the flow cannot be used any more.
func (b *Bridge) failLogin(ctx context.Context, flowID, provider, code, desc string) (string, error) {
	return b.failUserLogin(ctx, flowID, provider, "", code, desc)
}

// failUserLogin is failLogin for a sign-in whose user is known (a
// disabled one), so that the audit event is the user's.
func (b *Bridge) failUserLogin(ctx context.Context, flowID, provider, userID, code, desc string) (string, error) {
	sess, err := b.o.Store.FailFlow(ctx, flowID, provider, b.o.Now())
	if err != nil {
		return "", b.explainFlow(ctx, flowID, provider, err)
	}
	if sess.LinkUserID == "" { // a link is not a sign-in
		b.observer().SignIn(provider, signInResult(code))
	}
	if userID == "" {
		userID = sess.LinkUserID
	}
	b.o.Logger.InfoContext(ctx, "login failed", "flow", flowID, "provider", provider, "client_id", sess.ClientID, "error", code)
	b.audit(ctx, store.AuditEvent{Type: AuditLoginFailed, UserID: userID, SessionID: flowID, ClientID: sess.ClientID, IP: sess.IP,
		Detail: map[string]string{"provider": provider, "error": code}})
	return b.clientRedirect(sess, url.Values{"error": {code}, "error_description": {desc}}), nil
}

// explainFlow turns a failed flow transition into the page the person
// should see: a flow gone or past its deadline has expired, a flow of
// another provider was sent to the wrong callback (an altered response),
// and any other has been used (or is being used by another callback).
func (b *Bridge) explainFlow(ctx context.Context, flowID, provider string, cause error) error {
	if !errors.Is(cause, store.ErrNotFound) {
		return fmt.Errorf("finish login: %w", cause)
	}
	sess, err := b.o.Store.GetSession(ctx, flowID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &PageError{Kind: ErrFlowExpired, Err: cause}
	case err != nil:
		return fmt.Errorf("finish login: %w", err)
	case sess.Provider != provider:
		return &PageError{Kind: ErrInvalidState, Err: fmt.Errorf("flow of provider %s called back by %s: %w", sess.Provider, provider, cause)}
	case (sess.State == store.StatePending || sess.State == store.StateExchanging) && !b.o.Now().Before(sess.ExpiresAt):
		return &PageError{Kind: ErrFlowExpired, Err: cause}
	default:
		return &PageError{Kind: ErrFlowUsed, Err: cause}
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
