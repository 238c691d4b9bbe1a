package facebook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// limitedHarness runs the shared id_token cases of providertest against
// Limited Login: Facebook's browser flow has no id_token, so a "sign-in"
// is the SDK handing the app a Limited Login token, which the app sends
// to VerifyNative with its nonce. The token passes through the case's
// Rewriter on the way, as a token response would.
type limitedHarness struct{ fake *facebooktest.Server }

func (h limitedHarness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
	t.Helper()
	nonce := randomString(t)
	raw := h.fake.LimitedLoginToken(h.fake.AppID(), facebooktest.DefaultUser, nonce)
	delivered, err := throughRewriter(t, rw, raw)
	if err != nil {
		return nil, err
	}
	p := limitedAdapter(t, h.fake, nil, nil)
	ident, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
		Token: delivered, Type: providers.TokenTypeIDToken, Nonce: nonce,
	})
	return ident, err
}

func (h limitedHarness) Sign(_ *testing.T, claims map[string]any) string {
	return h.fake.SignLimitedLogin(claims)
}

// throughRewriter hands raw to rw as the id_token of a token response and
// returns what rw delivers in its place ("" when it removes it).
func throughRewriter(t *testing.T, rw *providertest.Rewriter, raw string) (string, error) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"id_token": raw, "token_type": "Bearer"})
	if err != nil {
		return "", err
	}
	sdk := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r,
		}, nil
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://sdk.invalid/limited-login", nil)
	if err != nil {
		return "", err
	}
	resp, err := rw.Transport(sdk).RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("read the rewritten response: %w", err)
	}
	return out.IDToken, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSharedIDTokenVerificationCasesForLimitedLogin(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	providertest.RunIDTokenCases(t, limitedHarness{fake}, providertest.Options{
		Provider: "facebook",
		JWKSURL:  fake.LimitedLoginJWKSURL(),
		Exempt: map[string]string{
			"at-hash-other": "a Limited Login token comes without an access token, so there is no at_hash to check",
		},
	})
}
