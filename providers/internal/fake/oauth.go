package fake

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
)

// Errors of ClientCredentials; each fake answers them in its provider's
// words.
var (
	// ErrBasicNotFormEncoded is HTTP Basic credentials that are not
	// form-encoded, as RFC 6749 §2.3.1 wants them.
	ErrBasicNotFormEncoded = errors.New("client credentials in the Authorization header are not form-encoded")
	// ErrTwoAuthMethods is a client that authenticates with HTTP Basic and
	// with the form at once, which RFC 6749 §2.3 forbids.
	ErrTwoAuthMethods = errors.New("more than one client authentication method")
)

// ClientCredentials returns the client id and secret of token request r
// whose parsed body is form: from the Authorization header
// (client_secret_basic, basic is true) when r has one, else from the
// client_id and client_secret parameters (client_secret_post). An empty
// id means the request names no client.
func ClientCredentials(r *http.Request, form url.Values) (id, secret string, basic bool, err error) {
	id, secret, basic = r.BasicAuth()
	if !basic {
		return form.Get("client_id"), form.Get("client_secret"), false, nil
	}
	// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	if err1 != nil || err2 != nil {
		return "", "", true, ErrBasicNotFormEncoded
	}
	if form.Has("client_secret") || (form.Has("client_id") && form.Get("client_id") != id) {
		return "", "", true, ErrTwoAuthMethods
	}
	return id, secret, true, nil
}

// ValidPKCEString checks RFC 7636's syntax for code_verifier and
// code_challenge (§4.1, §4.2): 43 to 128 unreserved characters.
func ValidPKCEString(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// Errors of PKCEMethod and VerifyPKCE; each fake answers them in its
// provider's words.
var (
	// ErrChallengeMissing is a code_challenge_method without a
	// code_challenge.
	ErrChallengeMissing = errors.New("code_challenge_method without code_challenge")
	// ErrChallengeInvalid is a code_challenge that is not 43 to 128
	// unreserved characters.
	ErrChallengeInvalid = errors.New("code_challenge is not 43 to 128 unreserved characters")
	// ErrMethodUnsupported is a code_challenge_method other than S256 and
	// plain.
	ErrMethodUnsupported = errors.New("code_challenge_method is neither S256 nor plain")
	// ErrVerifierMissing is a token request without the code_verifier its
	// code's challenge asks for.
	ErrVerifierMissing = errors.New("code_verifier is missing")
	// ErrVerifierMismatch is a code_verifier that does not match its code's
	// challenge, is malformed, or comes for a code issued without one.
	ErrVerifierMismatch = errors.New("code_verifier does not match the code_challenge")
)

// PKCEMethod checks the code_challenge and code_challenge_method of an
// authorization request for a provider that, like Google, Entra and
// Facebook, makes PKCE optional and allows plain. It returns the method
// the code must remember: "" without PKCE, "plain" when the request names
// none (RFC 7636 §4.3), else method.
func PKCEMethod(challenge, method string) (string, error) {
	switch {
	case challenge == "" && method != "":
		return "", ErrChallengeMissing
	case challenge == "":
		return "", nil
	case !ValidPKCEString(challenge):
		return "", ErrChallengeInvalid
	case method == "":
		return "plain", nil
	case method != "S256" && method != "plain":
		return "", ErrMethodUnsupported
	}
	return method, nil
}

// VerifyPKCE checks the code_verifier of token request form against the
// challenge and method ("S256", else plain) of the code it redeems (RFC
// 7636 §4.6). A code issued without a challenge takes no verifier: RFC 9700
// §2.1.1 has one refused, which stops PKCE downgrade attacks.
func VerifyPKCE(challenge, method string, form url.Values) error {
	verifier := form.Get("code_verifier")
	if challenge == "" {
		if form.Has("code_verifier") {
			return ErrVerifierMismatch
		}
		return nil
	}
	if verifier == "" {
		return ErrVerifierMissing
	}
	if !ValidPKCEString(verifier) {
		return ErrVerifierMismatch
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) != 1 {
		return ErrVerifierMismatch
	}
	return nil
}
