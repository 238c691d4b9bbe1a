package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Introspect verifies token like Verify, then asks socialbridge's
// introspection endpoint (RFC 7662) whether it is still active: a network
// round trip per call, for routes where a revocation must take effect at
// once rather than at the next feed read (payments, account deletion). It
// needs Config.ClientID and ClientSecret.
//
// A token socialbridge calls inactive is refused as Revoked. When the
// endpoint cannot answer (network, 5xx, 429), the token is
// refused as RevocationUnavailable whatever Config.FailOpen says: a route
// that asks for introspection wants certainty. Without client credentials
// every call fails with an error that is not an *Error (WriteError: 500).
func (v *Verifier) Introspect(ctx context.Context, token string) (*Claims, error) {
	// The local checks, and the revocations already known, but not the
	// stale-feed policy: the introspection endpoint answers for itself.
	c, err := v.verify(ctx, token, false)
	if err != nil {
		return nil, err
	}
	if v.feed == nil {
		return nil, errNoCredentials
	}
	active, err := v.active(ctx, token)
	if err != nil {
		return nil, &Error{Reason: RevocationUnavailable, retryAfter: v.retryAfter, Err: err}
	}
	if !active {
		return nil, fail(Revoked, errors.New("introspection: the token is not active"))
	}
	return c, nil
}

// errNoCredentials is a configuration mistake, answered with 500.
var errNoCredentials = errors.New("verify: Introspect needs Config.ClientID and ClientSecret")

// active asks the introspection endpoint about token.
func (v *Verifier) active(ctx context.Context, token string) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspect, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	setClientAuth(req, v.cfg.ClientID, v.cfg.ClientSecret)
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	defer drainClose(resp)
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection: %w", statusError(resp))
	}
	var out struct {
		Active *bool `json:"active"`
	}
	if err := decodeJSON(resp, maxDocumentBytes, &out); err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	if out.Active == nil {
		return false, errors.New("introspection: response has no active member")
	}
	return *out.Active, nil
}
