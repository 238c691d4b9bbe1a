package bridge

import "errors"

// Observer receives the events operators count (package metrics
// implements it with Prometheus). Every argument comes from a small fixed
// set: provider names from the configuration, grant types, OAuth error
// codes, revocation reasons. Never a user id, session id or token.
type Observer interface {
	// SignIn reports a finished sign-in, browser or native: result is
	// SignInSuccess, SignInFailed or SignInRefused.
	SignIn(provider, result string)
	// Grant reports a token grant: result is GrantSuccess or the OAuth
	// error code returned.
	Grant(grantType, result string)
	// Reuse reports a reused one-time code or refresh token, which
	// revoked its session: kind is ReuseCode or ReuseRefreshToken.
	Reuse(kind string)
	// Revoked reports n sessions revoked for reason (the reason stored
	// with them: logout, refresh_token_reuse, ...).
	Revoked(reason string, n int)
	// Feed reports a revocation feed response with entries entries; reset
	// says it is the whole feed.
	Feed(reset bool, entries int)
}

// Sign-in results.
const (
	SignInSuccess = "success"
	// SignInFailed: the sign-in could not complete (a provider error, an
	// expired, replayed or altered flow, our own fault).
	SignInFailed = "failed"
	// SignInRefused: it completed at the provider and a policy refused it
	// (the person or provider denied access, a disabled account, an
	// authentication older than max_age).
	SignInRefused = "refused"
)

// Grant types as reported to the Observer.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	// GrantTokenExchange is RFC 8693's grant (GrantTypeTokenExchange),
	// shortened.
	GrantTokenExchange = "token_exchange"
	// GrantSuccess is the result of a grant that issued tokens.
	GrantSuccess = "success"
)

// Kinds of reuse.
const (
	ReuseCode         = "code"
	ReuseRefreshToken = "refresh_token"
)

// noObserver is the Observer of a Bridge given none.
type noObserver struct{}

func (noObserver) SignIn(string, string) {}
func (noObserver) Grant(string, string)  {}
func (noObserver) Reuse(string)          {}
func (noObserver) Revoked(string, int)   {}
func (noObserver) Feed(bool, int)        {}

// observer returns the configured Observer, or one that does nothing.
func (b *Bridge) observer() Observer {
	if b.o.Observer == nil {
		return noObserver{}
	}
	return b.o.Observer
}

// observeGrant reports a grant's outcome: its OAuth error code, or
// server_error for a fault of ours.
func (b *Bridge) observeGrant(grantType string, err error) {
	b.observer().Grant(grantType, grantResult(err))
}

func grantResult(err error) string {
	if err == nil {
		return GrantSuccess
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ErrCodeServerError
}

// signInResult classifies the end of a sign-in by the OAuth error code it
// reports to the client ("" for none).
func signInResult(code string) string {
	switch code {
	case "":
		return SignInSuccess
	case ErrCodeAccessDenied, ErrCodeLoginRequired:
		return SignInRefused
	}
	return SignInFailed
}

// observeExchange reports a native token exchange: a grant, and a sign-in
// with its provider when the provider is one of ours (the name comes from
// the request). refused says a policy refused a verified token.
func (b *Bridge) observeExchange(provider string, refused bool, err error) {
	b.observeGrant(GrantTokenExchange, err)
	if _, ok := b.providers[provider]; !ok {
		return
	}
	result := SignInSuccess
	switch {
	case refused:
		result = SignInRefused
	case err != nil:
		result = SignInFailed
	}
	b.observer().SignIn(provider, result)
}

// revoked reports n sessions revoked for reason.
func (b *Bridge) revoked(reason string, n int64) {
	if n > 0 {
		b.observer().Revoked(reason, int(n))
	}
}

// revokedOne reports one session revoked for reason when ok.
func (b *Bridge) revokedOne(reason string, ok bool) {
	if ok {
		b.observer().Revoked(reason, 1)
	}
}
