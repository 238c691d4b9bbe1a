package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

func TestDiscoveryListsIDTokenAlgorithmsApartFromAccessTokenAlgorithms(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil) // ES256 access tokens, default (RS256) ID tokens

	var doc map[string]any
	getWellKnown(t, a.url+"/.well-known/openid-configuration", &doc)
	strs := func(name string) []string {
		t.Helper()
		list, ok := doc[name].([]any)
		if !ok {
			t.Fatalf("%s = %#v, want a list", name, doc[name])
		}
		var out []string
		for _, v := range list {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	// OpenID Connect Discovery 1.0 §3: RS256 MUST be listed for ID tokens.
	if got := strs("id_token_signing_alg_values_supported"); !slices.Equal(got, []string{"RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want [RS256], not the access-token algorithm", got)
	}
	if got := strs("access_token_signing_alg_values_supported"); !slices.Equal(got, []string{"ES256"}) {
		t.Errorf("access_token_signing_alg_values_supported = %v, want [ES256]", got)
	}
	// Clients learn which prompt values are accepted (others are refused).
	if got := strs("prompt_values_supported"); !slices.Equal(got, []string{"none", "login", "consent", "select_account"}) {
		t.Errorf("prompt_values_supported = %v", got)
	}

	// The JWKS holds the keys of both.
	var jwks struct {
		Keys []struct {
			Alg string `json:"alg"`
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	getWellKnown(t, a.url+"/.well-known/jwks.json", &jwks)
	var algs []string
	for _, k := range jwks.Keys {
		algs = append(algs, k.Alg+"/"+k.Kty)
	}
	slices.Sort(algs)
	if !slices.Equal(algs, []string{"ES256/EC", "RS256/RSA"}) {
		t.Errorf("JWKS keys = %v, want the ES256 access key and the RS256 ID key", algs)
	}
}

// getWellKnown GETs u and decodes its JSON body into v.
func getWellKnown(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
