package providertest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/providers/providertest"
)

func TestCasesAreDistinctAndComplete(t *testing.T) {
	t.Parallel()
	for _, subjects := range [][]string{nil, {"tid", "oid"}} {
		t.Run(fmt.Sprintf("subject claims %q", subjects), func(t *testing.T) {
			t.Parallel()
			cases := providertest.Cases(subjects...)
			ids, names := map[string]bool{}, map[string]bool{}
			accepted := 0
			for _, c := range cases {
				if c.ID == "" || c.Name == "" || ids[c.ID] || names[c.Name] {
					t.Errorf("case %q (%q) has no ID or name, or repeats one", c.ID, c.Name)
				}
				ids[c.ID], names[c.Name] = true, true
				if c.Claims == nil && c.Sign == nil {
					t.Errorf("case %s changes nothing", c.ID)
				}
				if c.Want == "" {
					accepted++
				}
			}
			if subjects == nil {
				subjects = []string{"sub"}
			}
			for _, s := range subjects {
				if !ids[s+"-missing"] || !ids[s+"-empty"] {
					t.Errorf("no missing and empty cases for the subject claim %s", s)
				}
			}
			for _, id := range []string{
				"iss-other", "aud-other", "exp-past", "nbf-future", "iat-future", "sig-payload-altered",
				"sig-unknown-kid", "sig-known-kid-wrong-key", "alg-none", "alg-hs256-public-key",
				"nonce-other", "nonce-missing", "at-hash-other", "aud-several-no-azp",
			} {
				if !ids[id] {
					t.Errorf("case %s is missing", id)
				}
			}
			if accepted == 0 || accepted > 3 {
				t.Errorf("%d cases must be accepted, want a few controls of unusual but valid tokens", accepted)
			}
		})
	}
}

// tokenServer answers /token with a token response and /other with JSON
// that has no id_token.
func tokenServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/token":
			_, _ = io.WriteString(w, `{"access_token":"access-token-0123456789","expires_in":3599,"refresh_token":"refresh-token-0123456789","id_token":"aaa.bbb.ccc","token_type":"Bearer"}`)
		default:
			_, _ = io.WriteString(w, `{"keys":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url string) (map[string]any, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}

func TestRewriterReplacesOnlyTheIDToken(t *testing.T) {
	t.Parallel()
	srv := tokenServer(t)
	tests := []struct {
		name    string
		rewrite func(string) (string, error)
		want    any // the delivered id_token; nil when removed
		wantErr bool
	}{
		{name: "nil rewrite delivers as is", want: "aaa.bbb.ccc"},
		{name: "a rewrite replaces it", rewrite: func(s string) (string, error) { return "x" + s, nil }, want: "xaaa.bbb.ccc"},
		{name: "an empty result removes it", rewrite: func(string) (string, error) { return "", nil }, want: nil},
		{name: "a failing rewrite fails the request", rewrite: func(string) (string, error) { return "", errors.New("boom") }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rw := providertest.NewRewriter(tt.rewrite)

			got, err := get(t, rw.Client(), srv.URL+"/token")
			other, oerr := get(t, rw.Client(), srv.URL+"/other")

			if oerr != nil || len(other) != 1 {
				t.Errorf("a response without id_token changed: %v, %v", other, oerr)
			}
			if orig := rw.Originals(); len(orig) != 1 || orig[0] != "aaa.bbb.ccc" {
				t.Errorf("Originals() = %q, want the fake's id_token once", orig)
			}
			if tt.wantErr {
				if err == nil || rw.Err() == nil {
					t.Errorf("request error %v, Err() %v; want both", err, rw.Err())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got["id_token"] != tt.want {
				t.Errorf("id_token = %v, want %v", got["id_token"], tt.want)
			}
			if got["expires_in"] != json.Number("3599") || got["access_token"] != "access-token-0123456789" {
				t.Errorf("other fields changed: %v", got)
			}
			secrets := strings.Join(rw.Secrets(), " ")
			if !strings.Contains(secrets, "access-token-0123456789") || !strings.Contains(secrets, "refresh-token-0123456789") {
				t.Errorf("Secrets() = %q, want the issued tokens", secrets)
			}
		})
	}
}

func TestParseUnverifiedKeepsNumbersExact(t *testing.T) {
	t.Parallel()
	enc := base64.RawURLEncoding.EncodeToString
	raw := enc([]byte(`{"alg":"ES256","kid":"k1"}`)) + "." + enc([]byte(`{"id":9007199254740993,"aud":["a"]}`)) + ".sig"

	tok, err := providertest.ParseUnverified(raw)

	if err != nil {
		t.Fatal(err)
	}
	if tok.Alg() != "ES256" || tok.Kid() != "k1" || tok.Claims["id"] != json.Number("9007199254740993") {
		t.Errorf("alg %q kid %q id %#v", tok.Alg(), tok.Kid(), tok.Claims["id"])
	}
	c := tok.ClaimsCopy()
	c["aud"].([]any)[0] = "changed"
	if tok.Claims["aud"].([]any)[0] != "a" {
		t.Error("ClaimsCopy shares nested values with Claims")
	}
	for _, bad := range []string{"a.b", "!!.e30.x", enc([]byte(`{}`)) + ".bm90IGpzb24.x"} {
		if _, err := providertest.ParseUnverified(bad); err == nil {
			t.Errorf("ParseUnverified(%q) succeeded", bad)
		}
	}
}

// recorder is a testing.TB that keeps the errors a helper reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

func TestWantNoSecretsFindsWholeTokensAndJWTParts(t *testing.T) {
	t.Parallel()
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	tests := []struct {
		msg  string
		want bool
	}{
		{"refused: " + jwt, true},
		{"refused: bad payload eyJzdWIiOiIxMjM0NTY3ODkwIn0", true},
		{"refused: access-token-0123456789", true},
		{"refused: id_token failed verification", false},
	}
	for _, tt := range tests {
		r := &recorder{TB: t}
		providertest.WantNoSecrets(r, errors.New(tt.msg), jwt, "access-token-0123456789")
		if got := len(r.errs) > 0; got != tt.want {
			t.Errorf("WantNoSecrets(%q) reported %v, want %v", tt.msg, r.errs, tt.want)
		}
	}
}

func TestNativeCasesAreDistinctAndComplete(t *testing.T) {
	t.Parallel()
	for _, subjects := range [][]string{nil, {"tid", "oid"}} {
		t.Run(fmt.Sprintf("subject claims %q", subjects), func(t *testing.T) {
			t.Parallel()
			ids, names := map[string]bool{}, map[string]bool{}
			for _, c := range providertest.NativeCases(subjects...) {
				if c.ID == "" || c.Name == "" || ids[c.ID] || names[c.Name] {
					t.Errorf("case %q (%q) has no ID or name, or repeats one", c.ID, c.Name)
				}
				ids[c.ID], names[c.Name] = true, true
				if c.Want != "" && c.WantMessage == "" {
					t.Errorf("case %s names no message: a refusal must say what was wrong", c.ID)
				}
			}
			for _, s := range append([]string{"sub"}, subjects...) {
				if !ids[s+"-missing"] || !ids[s+"-empty"] {
					t.Errorf("no missing and empty cases for the claim %s", s)
				}
			}
			// Every refusal reason of native sign-in has its case.
			for _, id := range []string{
				"aud-other", "azp-other", "aud-web-azp-app", "iss-other", "exp-past", "exp-within-leeway", "iat-future",
				"nbf-future", "sig-payload-altered", "sig-unknown-kid", "sig-known-kid-wrong-key", "alg-none",
				"alg-hs256-public-key", "too-large", "type-access-token", "nonce-raw", "nonce-sha256-hex",
				"nonce-sha256-base64url", "nonce-mismatch", "nonce-missing", "nonce-required-not-sent",
			} {
				if !ids[id] {
					t.Errorf("case %s is missing", id)
				}
			}
		})
	}
}
