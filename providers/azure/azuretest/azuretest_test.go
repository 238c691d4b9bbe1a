package azuretest_test

import (
	"crypto/rsa"
	"crypto/sha1" // the fake's x5t is a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

const redirectURI = "https://app.example.test/callback/azure"

// noRedirect stops at the fake's 302 so the test can read the callback.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// verifier is a fixed PKCE verifier and challenge, for brevity.
const verifier = "dBjftJeZ4CK-P_aR8pV6x0kGnQ7sLwMcYhTzUu3o9iE"

func challenge() string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams are the parameters of a valid authorization request of the
// default app; edit changes them.
func authParams(srv *azuretest.Server, edit func(url.Values)) url.Values {
	q := url.Values{
		"client_id":             {srv.ClientID()},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid profile email"},
		"state":                 {"state-1"},
		"nonce":                 {"nonce-1"},
		"code_challenge":        {challenge()},
		"code_challenge_method": {"S256"},
	}
	if edit != nil {
		edit(q)
	}
	return q
}

// get visits the authorization endpoint under tenant and returns the
// answer and its body.
func get(t *testing.T, srv *azuretest.Server, tenant string, q url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(srv.AuthURL(tenant) + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// callback returns the parameters of the redirect back to the app, or
// fails.
func callback(t *testing.T, resp *http.Response, body string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint answered %d, want 302: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != redirectURI {
		t.Fatalf("redirected to %q, want %q", resp.Header.Get("Location"), redirectURI)
	}
	return loc.Query()
}

// code runs a valid authorization under tenant and returns the code.
func code(t *testing.T, srv *azuretest.Server, tenant string, edit func(url.Values)) string {
	t.Helper()
	resp, body := get(t, srv, tenant, authParams(srv, edit))
	cb := callback(t, resp, body)
	if cb.Get("code") == "" {
		t.Fatalf("callback without code: %v", cb)
	}
	return cb.Get("code")
}

// post calls the token endpoint under tenant with form (client_secret_post
// unless form says otherwise) and decodes the JSON answer.
func post(t *testing.T, srv *azuretest.Server, tenant string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.TokenURL(tenant), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint answered %d with a body that is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// redeem is the form that redeems code for the default app.
func redeem(srv *azuretest.Server, code string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
	}
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, c); err != nil {
		t.Fatalf("parse id_token: %v", err)
	}
	return c
}

// wantEntraError checks an error answer's status, codes and shape.
func wantEntraError(t *testing.T, status int, body map[string]any, wantStatus int, wantError string, wantAADSTS int) {
	t.Helper()
	if status != wantStatus || body["error"] != wantError {
		t.Errorf("answer %d %v, want %d %s", status, body["error"], wantStatus, wantError)
	}
	if codes, _ := body["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(wantAADSTS) {
		t.Errorf("error_codes = %v, want [%d]", body["error_codes"], wantAADSTS)
	}
	if d, _ := body["error_description"].(string); !strings.HasPrefix(d, "AADSTS"+itoa(wantAADSTS)+": ") {
		t.Errorf("error_description = %q, want it to start with AADSTS%d", d, wantAADSTS)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestDiscoveryDocumentsAreEntras(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	tests := []struct {
		tenant, wantIssuer string
		// oidcDiscovers says whether go-oidc's discovery, which requires
		// the issuer to be the URL it fetched from, accepts the document.
		oidcDiscovers bool
	}{
		{"common", srv.IssuerTemplate(), false},
		{"organizations", srv.IssuerTemplate(), false},
		{"consumers", srv.Issuer(azuretest.PersonalTenantID), false},
		{"contoso.onmicrosoft.com", srv.Issuer(azuretest.ContosoTenantID), false},
		{azuretest.ContosoTenantID, srv.Issuer(azuretest.ContosoTenantID), true},
	}
	// The group returns once its parallel subtests have all finished.
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.tenant, func(t *testing.T) {
				t.Parallel()
				resp, err := http.Get(srv.DiscoveryURL(tt.tenant))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var doc map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
					t.Fatal(err)
				}
				if doc["issuer"] != tt.wantIssuer {
					t.Errorf("issuer = %v, want %s", doc["issuer"], tt.wantIssuer)
				}
				if got, _ := doc["authorization_endpoint"].(string); !strings.HasSuffix(got, "/oauth2/v2.0/authorize") {
					t.Errorf("authorization_endpoint = %q", got)
				}
				if doc["subject_types_supported"].([]any)[0] != "pairwise" {
					t.Errorf("subject_types_supported = %v", doc["subject_types_supported"])
				}
				_, err = oidc.NewProvider(t.Context(), strings.TrimSuffix(srv.DiscoveryURL(tt.tenant), "/.well-known/openid-configuration"))
				if (err == nil) != tt.oidcDiscovers {
					t.Errorf("go-oidc discovery error = %v, want success %v", err, tt.oidcDiscovers)
				}
			})
		}
	})
	if n := srv.DiscoveryRequests(); n != 2*len(tests) {
		t.Errorf("DiscoveryRequests() = %d, want %d", n, 2*len(tests))
	}

	t.Run("an unknown tenant is AADSTS90002", func(t *testing.T) {
		resp, err := http.Get(srv.DiscoveryURL("nowhere.example"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		wantEntraError(t, resp.StatusCode, body, http.StatusBadRequest, "invalid_tenant", 90002)
	})
}

func TestKeysArePublishedWithCertificatesAndRotate(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	keys := func() []map[string]any {
		resp, err := http.Get(srv.KeysURL("common"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		return set.Keys
	}

	first := keys()
	if len(first) != 1 {
		t.Fatalf("JWKS holds %d keys, want 1", len(first))
	}
	k := first[0]
	der, err := base64.StdEncoding.DecodeString(k["x5c"].([]any)[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("x5c: %v", err)
	}
	sum := sha1.Sum(der)
	if x5t := base64.RawURLEncoding.EncodeToString(sum[:]); k["x5t"] != x5t || k["kid"] != x5t {
		t.Errorf("kid %v, x5t %v; want both the certificate's thumbprint %s", k["kid"], k["x5t"], x5t)
	}
	n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.Cmp(new(big.Int).SetBytes(n)) != 0 {
		t.Error("the certificate's key is not the published n")
	}
	if k["kty"] != "RSA" || k["use"] != "sig" || k["issuer"] != srv.IssuerTemplate() {
		t.Errorf("key = %v", k)
	}

	srv.RotateKey(true)
	kept := keys()
	srv.RotateKey(false)
	dropped := keys()
	if len(kept) != 2 || kept[1]["kid"] != k["kid"] {
		t.Errorf("after RotateKey(true): %d keys, want the new one and the old one", len(kept))
	}
	if len(dropped) != 1 || dropped[0]["kid"] == kept[0]["kid"] || dropped[0]["kid"] == k["kid"] {
		t.Errorf("after RotateKey(false): %v, want only a new key", dropped)
	}
	if n := srv.KeysRequests(); n != 3 {
		t.Errorf("KeysRequests() = %d, want 3", n)
	}
}

func TestAuthorizationAdmitsAccountsAsEntraDoes(t *testing.T) {
	t.Parallel()
	single := azuretest.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000001", Secret: "s", Audience: azuretest.AudienceMyOrg}
	multi := azuretest.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000002", Secret: "s", Audience: azuretest.AudienceAnyOrg}
	both := azuretest.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000003", Secret: "s", Audience: azuretest.AudienceAnyOrgAndPersonal}
	personal := azuretest.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000004", Secret: "s", Audience: azuretest.AudiencePersonal}
	tests := []struct {
		name   string
		app    azuretest.App
		tenant string
		user   azuretest.User
		want   string // "" for a code; else on the error page
	}{
		{"a single-tenant app signs in its tenant's member", single, azuretest.ContosoTenantID, azuretest.Alice, ""},
		{"a single-tenant app by domain signs in its tenant's member", single, "contoso.com", azuretest.Alice, ""},
		{"a single-tenant app refuses another tenant's member", single, azuretest.ContosoTenantID, azuretest.Bob, "AADSTS50020"},
		{"a single-tenant app cannot use common", single, "common", azuretest.Alice, "AADSTS50194"},
		{"a single-tenant app is not in another tenant", single, azuretest.FabrikamTenantID, azuretest.Bob, "AADSTS700016"},
		{"a multi-tenant app signs in any work account", multi, "organizations", azuretest.Bob, ""},
		{"a multi-tenant app refuses a personal account at common", multi, "common", azuretest.Carol, "personal account"},
		{"a multi-tenant app is not enabled for consumers", multi, "consumers", azuretest.Carol, "not enabled for consumers"},
		{"organizations refuses a personal account", both, "organizations", azuretest.Carol, "personal account"},
		{"consumers refuses a work account", both, "consumers", azuretest.Alice, "Microsoft account"},
		{"common signs in a personal account", both, "common", azuretest.Carol, ""},
		{"common signs in a work account", both, "common", azuretest.Bob, ""},
		{"a tenant endpoint refuses another tenant's member", both, azuretest.FabrikamTenantID, azuretest.Alice, "AADSTS50020"},
		{"a personal-accounts app signs in at consumers", personal, "consumers", azuretest.Carol, ""},
		{"a personal-accounts app refuses organizations", personal, "organizations", azuretest.Bob, "AADSTS50194"},
		{"an unknown tenant is AADSTS90002", both, "nowhere.example", azuretest.Alice, "AADSTS90002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := azuretest.New(t, azuretest.WithApp(tt.app))
			srv.SetUser(tt.user)

			resp, body := get(t, srv, tt.tenant, authParams(srv, nil))

			if tt.want == "" {
				if cb := callback(t, resp, body); cb.Get("code") == "" || cb.Get("state") != "state-1" {
					t.Errorf("callback %v, want a code and the state", cb)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("answer %d %q, want the error page with %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestAuthorizationRequestErrors(t *testing.T) {
	t.Parallel()
	registered := azuretest.App{ClientID: azuretest.DefaultClientID, Secret: "s", RedirectURIs: []string{redirectURI}}
	tests := []struct {
		name string
		edit func(url.Values)
		// page is text of an error page; else the error sent back.
		page, backError string
	}{
		{name: "an unknown client gets a page", edit: func(q url.Values) { q.Set("client_id", "ffffffff-0000-4000-8000-000000000000") }, page: "AADSTS700016"},
		{name: "an unregistered redirect URI gets a page", edit: func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, page: "AADSTS50011"},
		{name: "a repeated parameter gets a page", edit: func(q url.Values) { q.Add("state", "again") }, page: "more than once"},
		{name: "a request without openid is sent back", edit: func(q url.Values) { q.Set("scope", "profile") }, backError: "invalid_scope"},
		{name: "the implicit flow is sent back", edit: func(q url.Values) { q.Set("response_type", "id_token") }, backError: "unsupported_response_type"},
		{name: "two prompt values are sent back", edit: func(q url.Values) { q.Set("prompt", "login consent") }, backError: "invalid_request"},
		{name: "a short code_challenge is sent back", edit: func(q url.Values) { q.Set("code_challenge", "short") }, backError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := azuretest.New(t, azuretest.WithApp(registered))
			resp, body := get(t, srv, "common", authParams(srv, tt.edit))
			if tt.page != "" {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.page) {
					t.Errorf("answer %d %q, want the error page with %q", resp.StatusCode, body, tt.page)
				}
				return
			}
			cb := callback(t, resp, body)
			if cb.Get("error") != tt.backError || !strings.HasPrefix(cb.Get("error_description"), "AADSTS") || cb.Get("state") != "state-1" {
				t.Errorf("callback %v, want error %s with an AADSTS description and the state", cb, tt.backError)
			}
		})
	}

	t.Run("Deny sends access_denied back once", func(t *testing.T) {
		t.Parallel()
		srv := azuretest.New(t)
		srv.Deny()
		resp, body := get(t, srv, "common", authParams(srv, nil))
		cb := callback(t, resp, body)
		if cb.Get("error") != "access_denied" || !strings.HasPrefix(cb.Get("error_description"), "AADSTS65004") || cb.Get("state") != "state-1" {
			t.Errorf("callback %v, want access_denied (AADSTS65004) with the state", cb)
		}
		code(t, srv, "common", nil)
		if n := srv.AuthRequests(); n != 2 {
			t.Errorf("AuthRequests() = %d, want 2", n)
		}
	})
}

func TestTokenEndpointIssuesV2Tokens(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	bob := azuretest.Bob
	bob.Roles = []string{"Admin"}
	srv.SetUser(bob)
	c := code(t, srv, "organizations", nil)

	status, body := post(t, srv, "organizations", redeem(srv, c), nil)

	if status != http.StatusOK {
		t.Fatalf("token endpoint answered %d: %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["ext_expires_in"] == nil {
		t.Errorf("token response = %v", body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Error("a refresh token without offline_access")
	}
	if scope, _ := body["scope"].(string); !strings.Contains(scope, "https://graph.microsoft.com/User.Read") {
		t.Errorf("scope = %q, want Graph's User.Read like Entra", scope)
	}
	raw := body["id_token"].(string)
	// The id_token verifies with go-oidc against the fake's keys and the
	// issuer of Bob's tenant.
	keys := oidc.NewRemoteKeySet(t.Context(), srv.KeysURL("organizations"))
	idt, err := oidc.NewVerifier(srv.Issuer(azuretest.FabrikamTenantID), keys, &oidc.Config{ClientID: srv.ClientID()}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	claims := claimsOf(t, raw)
	for k, want := range map[string]any{
		"ver": "2.0", "tid": azuretest.FabrikamTenantID, "oid": bob.OID, "name": bob.Name,
		"preferred_username": bob.PreferredUsername, "email": bob.Email, "nonce": "nonce-1",
		"sub": srv.Sub(srv.ClientID(), bob), "aud": srv.ClientID(),
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if idt.Subject == bob.OID || len(idt.Subject) != 43 {
		t.Errorf("sub = %q, want a 43-character pairwise id", idt.Subject)
	}
	if _, ok := claims["at_hash"]; ok {
		t.Error("at_hash in an id_token from the token endpoint")
	}
	if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "Admin" {
		t.Errorf("roles = %v", claims["roles"])
	}
	if issued := srv.Issued(); !slices.Contains(issued, raw) || !slices.Contains(issued, body["access_token"].(string)) {
		t.Error("Issued() lacks the tokens")
	}

	t.Run("scopes decide which claims are sent", func(t *testing.T) {
		c := code(t, srv, "organizations", func(q url.Values) { q.Set("scope", "openid") })
		_, body := post(t, srv, "organizations", redeem(srv, c), nil)
		claims := claimsOf(t, body["id_token"].(string))
		for _, k := range []string{"oid", "name", "preferred_username", "email"} {
			if _, ok := claims[k]; ok {
				t.Errorf("claim %s sent without the profile or email scope", k)
			}
		}
		if claims["tid"] != azuretest.FabrikamTenantID {
			t.Errorf("tid = %v, want it always", claims["tid"])
		}
	})
}

func TestTokenEndpointErrorsHaveEntrasShape(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	const corr = "0d9a3c1e-2b4f-4a6d-8e0c-1f2a3b4c5d6e"

	status, body := post(t, srv, "common", redeem(srv, "1.Anot-a-code"), http.Header{"Client-Request-Id": {corr}})

	wantEntraError(t, status, body, http.StatusBadRequest, "invalid_grant", 9002313)
	if body["correlation_id"] != corr {
		t.Errorf("correlation_id = %v, want the client-request-id %s", body["correlation_id"], corr)
	}
	if trace, _ := body["trace_id"].(string); !guidPattern.MatchString(trace) {
		t.Errorf("trace_id = %q, want a GUID", trace)
	}
	if ts, _ := body["timestamp"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`).MatchString(ts) {
		t.Errorf("timestamp = %q, want Entra's 2006-01-02 15:04:05Z", ts)
	}
	if d, _ := body["error_description"].(string); !strings.Contains(d, "Trace ID: ") || !strings.Contains(d, "Correlation ID: "+corr) {
		t.Errorf("error_description = %q, want the ids repeated", d)
	}
	if u, _ := body["error_uri"].(string); !strings.HasSuffix(u, "/error?code=9002313") {
		t.Errorf("error_uri = %q", u)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// tenant of the token call (the code comes from organizations).
		tenant     string
		edit       func(srv *azuretest.Server, form url.Values, h http.Header)
		wantStatus int
		wantError  string
		wantAADSTS int
	}{
		{name: "a wrong secret", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) { f.Set("client_secret", "wrong") },
			wantStatus: 401, wantError: "invalid_client", wantAADSTS: 7000215},
		{name: "no secret", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) { f.Del("client_secret") },
			wantStatus: 401, wantError: "invalid_client", wantAADSTS: 7000218},
		{name: "an expired secret", edit: func(srv *azuretest.Server, _ url.Values, _ http.Header) { srv.ExpireClientSecret(srv.ClientID()) },
			wantStatus: 401, wantError: "invalid_client", wantAADSTS: 7000222},
		{name: "an unknown client", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) {
			f.Set("client_id", "ffffffff-0000-4000-8000-000000000000")
		},
			wantStatus: 400, wantError: "unauthorized_client", wantAADSTS: 700016},
		{name: "HTTP Basic and a form secret at once", edit: func(srv *azuretest.Server, _ url.Values, h http.Header) {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(srv.ClientID()+":"+srv.ClientSecret())))
		}, wantStatus: 400, wantError: "invalid_request", wantAADSTS: 9002313},
		{name: "a wrong redirect URI", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) {
			f.Set("redirect_uri", "https://app.example.test/other")
		},
			wantStatus: 400, wantError: "invalid_grant", wantAADSTS: 500112},
		{name: "a wrong PKCE verifier", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) {
			f.Set("code_verifier", strings.Repeat("x", 43))
		}, wantStatus: 400, wantError: "invalid_grant", wantAADSTS: 501481},
		{name: "no PKCE verifier", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) { f.Del("code_verifier") },
			wantStatus: 400, wantError: "invalid_grant", wantAADSTS: 50148},
		{name: "a code of organizations redeemed at a tenant", tenant: azuretest.FabrikamTenantID,
			wantStatus: 400, wantError: "invalid_grant", wantAADSTS: 700005},
		{name: "an unknown grant type", edit: func(_ *azuretest.Server, f url.Values, _ http.Header) { f.Set("grant_type", "password") },
			wantStatus: 400, wantError: "unsupported_grant_type", wantAADSTS: 70003},
		{name: "an unknown tenant", tenant: "nowhere.example", wantStatus: 400, wantError: "invalid_tenant", wantAADSTS: 90002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := azuretest.New(t)
			form, h := redeem(srv, code(t, srv, "organizations", nil)), http.Header{}
			if tt.edit != nil {
				tt.edit(srv, form, h)
			}
			status, body := post(t, srv, cmpOr(tt.tenant, "organizations"), form, h)
			wantEntraError(t, status, body, tt.wantStatus, tt.wantError, tt.wantAADSTS)
		})
	}

	t.Run("HTTP Basic alone is accepted, and a code is single-use", func(t *testing.T) {
		t.Parallel()
		srv := azuretest.New(t)
		form := redeem(srv, code(t, srv, "organizations", nil))
		form.Del("client_secret")
		form.Del("client_id")
		basic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(srv.ClientID()+":"+url.QueryEscape(srv.ClientSecret())))}}
		if status, body := post(t, srv, "organizations", form, basic); status != http.StatusOK {
			t.Fatalf("Basic: %d %v", status, body)
		}
		status, body := post(t, srv, "organizations", form, basic)
		wantEntraError(t, status, body, http.StatusBadRequest, "invalid_grant", 54005)
	})

	t.Run("a code expires after ten minutes", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		now := time.Now()
		srv := azuretest.New(t, azuretest.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
		c := code(t, srv, "organizations", nil)
		mu.Lock()
		now = now.Add(11 * time.Minute)
		mu.Unlock()
		status, body := post(t, srv, "organizations", redeem(srv, c), nil)
		wantEntraError(t, status, body, http.StatusBadRequest, "invalid_grant", 70008)
	})

	t.Run("a code of a tenant may be redeemed under its domain", func(t *testing.T) {
		t.Parallel()
		srv := azuretest.New(t)
		c := code(t, srv, azuretest.ContosoTenantID, nil)
		if status, body := post(t, srv, "contoso.com", redeem(srv, c), nil); status != http.StatusOK {
			t.Errorf("answer %d %v", status, body)
		}
	})
}

func TestRefreshTokensRotateAndCanBeRevoked(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	c := code(t, srv, "organizations", func(q url.Values) { q.Set("scope", "openid profile offline_access") })
	_, first := post(t, srv, "organizations", redeem(srv, c), nil)
	rt, _ := first["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token with offline_access: %v", first)
	}
	refresh := func(rt string) (int, map[string]any) {
		return post(t, srv, "organizations", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
		}, nil)
	}

	status, second := refresh(rt)
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, second)
	}
	next, _ := second["refresh_token"].(string)
	if next == "" || next == rt {
		t.Errorf("refresh_token not rotated")
	}
	claims := claimsOf(t, second["id_token"].(string))
	if claims["oid"] != azuretest.Alice.OID || claims["nonce"] != nil {
		t.Errorf("refreshed id_token claims = %v, want Alice's without nonce", claims)
	}
	if status, _ := refresh(rt); status != http.StatusOK {
		t.Errorf("the old refresh token answered %d: Entra keeps it valid until revoked", status)
	}

	srv.RevokeRefreshTokens(azuretest.Alice.OID)
	status, body := refresh(next)
	wantEntraError(t, status, body, http.StatusBadRequest, "invalid_grant", 50173)
}

func TestTamperHooksAreOneShot(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	redeemNew := func() (int, map[string]any) {
		return post(t, srv, "common", redeem(srv, code(t, srv, "common", nil)), nil)
	}

	srv.NextIDToken(func(c map[string]any) { c["tid"] = "mutated" })
	_, a := redeemNew()
	_, b := redeemNew()
	if claimsOf(t, a["id_token"].(string))["tid"] != "mutated" || claimsOf(t, b["id_token"].(string))["tid"] != azuretest.ContosoTenantID {
		t.Error("NextIDToken did not apply to exactly one token")
	}

	srv.ForgeNextIDToken(azuretest.ForgeAlgNone)
	_, a = redeemNew()
	_, b = redeemNew()
	if !strings.HasSuffix(a["id_token"].(string), ".") || strings.HasSuffix(b["id_token"].(string), ".") {
		t.Error("ForgeNextIDToken did not apply to exactly one token")
	}

	srv.FailNextToken(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "Try again.")
	status, body := redeemNew()
	wantEntraError(t, status, body, http.StatusServiceUnavailable, "temporarily_unavailable", 90033)
	if status, _ := redeemNew(); status != http.StatusOK {
		t.Errorf("the call after FailNextToken answered %d", status)
	}

	// Generous bounds: only whether the delay applied, once, is checked.
	srv.DelayNextToken(time.Second)
	start := time.Now()
	redeemNew()
	if d := time.Since(start); d < time.Second {
		t.Errorf("delayed call took %v, want at least the delay", d)
	}
	start = time.Now()
	redeemNew()
	if d := time.Since(start); d >= time.Second {
		t.Errorf("the call after the delayed one took %v, want no delay", d)
	}
	if n := srv.TokenRequests(); n != 8 {
		t.Errorf("TokenRequests() = %d, want 8", n)
	}
	if got := srv.LastTokenRequest().Get("grant_type"); got != "authorization_code" {
		t.Errorf("LastTokenRequest() grant_type = %q", got)
	}
}

func TestSignInPageWaitsForTheButton(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t, azuretest.WithSignInPage())
	q := authParams(srv, nil)

	resp, body := get(t, srv, "common", q)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="continue"`) || !strings.Contains(body, azuretest.Alice.Name) {
		t.Fatalf("answer %d %q, want the sign-in page", resp.StatusCode, body)
	}

	press := func(action string) url.Values {
		resp, err := noRedirect.PostForm(srv.AuthURL("common")+"?"+q.Encode(), url.Values{"azuretest_action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return callback(t, resp, string(b))
	}
	if cb := press("continue"); cb.Get("code") == "" {
		t.Errorf("Continue: callback %v, want a code", cb)
	}
	if cb := press("cancel"); cb.Get("error") != "access_denied" {
		t.Errorf("Cancel: callback %v, want access_denied", cb)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestDirectlySignedTokensForNativeSignIn(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	const mobile = "22222222-2222-4222-8222-222222222222"
	verifier := oidc.NewVerifier(srv.Issuer(azuretest.FabrikamTenantID),
		oidc.NewRemoteKeySet(t.Context(), srv.KeysURL("common")), &oidc.Config{ClientID: mobile})
	verify := func(raw string) error {
		_, err := verifier.Verify(t.Context(), raw)
		return err
	}

	claims := srv.Claims(mobile, azuretest.Bob, "app-nonce")
	for k, want := range map[string]any{
		"aud": mobile, "tid": azuretest.FabrikamTenantID, "oid": azuretest.Bob.OID, "iss": srv.Issuer(azuretest.FabrikamTenantID),
		"nonce": "app-nonce", "sub": srv.Sub(mobile, azuretest.Bob), "email": azuretest.Bob.Email, "ver": "2.0",
	} {
		if claims[k] != want {
			t.Errorf("Claims()[%s] = %v, want %v", k, claims[k], want)
		}
	}
	if _, ok := srv.Claims(mobile, azuretest.Bob, "")["nonce"]; ok {
		t.Error("Claims without a nonce has one")
	}
	if err := verify(srv.NativeIDToken(mobile, azuretest.Bob, "app-nonce")); err != nil {
		t.Errorf("NativeIDToken does not verify: %v", err)
	}
	genuine := srv.SignIDToken(claims)
	if err := verify(genuine); err != nil {
		t.Errorf("SignIDToken does not verify: %v", err)
	}
	for _, tt := range []struct {
		name         string
		sign         func(map[string]any) string
		publishedKid bool
	}{
		{"SignWithForeignKey", srv.SignWithForeignKey, true},
		{"SignWithUnknownKey", srv.SignWithUnknownKey, false},
	} {
		raw := tt.sign(claims)
		if err := verify(raw); err == nil {
			t.Errorf("%s verifies", tt.name)
		}
		if same := kidOf(t, raw) == kidOf(t, genuine); same != tt.publishedKid {
			t.Errorf("%s: under the published key's kid: %v, want %v", tt.name, same, tt.publishedKid)
		}
	}
}

// kidOf returns the kid of a JWT's header.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
