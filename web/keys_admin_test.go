package web_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
)

// keyRoutes are the admin API's signing-key routes, for a key kid.
func keyRoutes(kid string) []struct{ method, path string } {
	return []struct{ method, path string }{
		{http.MethodGet, "/admin/keys"},
		{http.MethodPost, "/admin/keys/rotate"},
		{http.MethodPost, "/admin/keys/" + kid + "/retire"},
	}
}

// listedKey is a key of GET /admin/keys.
type listedKey struct {
	KID        string `json:"kid"`
	Use        string `json:"use"`
	Alg        string `json:"alg"`
	Generation int    `json:"generation"`
	SignFrom   string `json:"sign_from"`
	RetiredAt  string `json:"retired_at"`
	Signing    bool   `json:"signing"`
	Verifying  bool   `json:"verifying"`
	Published  bool   `json:"published"`
	Created    bool   `json:"created"` // rotations only
}

// adminKeys lists the keys through the admin API.
func (a *app) adminKeys(t testing.TB) []listedKey {
	t.Helper()
	r := a.admin(t, http.MethodGet, "/admin/keys", adminSecret, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/keys: %d %s", r.StatusCode, r.Body)
	}
	var body struct {
		Keys []listedKey `json:"keys"`
	}
	decodeInto(t, r.Body, &body)
	return body.Keys
}

// signingKID is the kid of the listed key of use that signs.
func signingKID(t testing.TB, keys []listedKey, use string) string {
	t.Helper()
	for _, k := range keys {
		if k.Use == use && k.Signing {
			return k.KID
		}
	}
	t.Fatalf("no signing %s key in %+v", use, keys)
	return ""
}

// jwksKIDs are the kids of the published JWKS.
func (a *app) jwksKIDs(t testing.TB) []string {
	t.Helper()
	r := a.send(t, http.MethodGet, "/.well-known/jwks.json", "", nil)
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	decodeInto(t, r.Body, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func TestKeyAdminRoutesNeedTheAdminToken(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	kid := signingKID(t, a.adminKeys(t), "access")
	off := fullApp(t, fullOptions{})
	for _, route := range keyRoutes(kid) {
		for _, auth := range []struct{ name, header string }{
			{"no Authorization header", ""},
			{"a wrong token", "Bearer wrong"},
			{"the token as Basic credentials", "Basic " + adminSecret},
		} {
			t.Run(route.method+" "+route.path+" with "+auth.name, func(t *testing.T) {
				t.Parallel()
				r := a.send(t, route.method, route.path, "", func(r *http.Request) {
					if auth.header != "" {
						r.Header.Set("Authorization", auth.header)
					}
				})
				checkError(t, r, http.StatusUnauthorized, "invalid_token")
			})
		}
		t.Run(route.method+" "+route.path+" with the admin API off", func(t *testing.T) {
			t.Parallel()
			checkError(t, off.admin(t, route.method, route.path, adminSecret, ""), http.StatusNotFound, bridge.ErrCodeAdminDisabled)
		})
	}
	// Nothing changed: three keys, the first one still signing.
	if keys := a.adminKeys(t); len(keys) != 3 || signingKID(t, keys, "access") != kid {
		t.Errorf("keys after refused calls = %+v", keys)
	}
}

func TestKeyListingShowsPublicFactsOnly(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	r := a.admin(t, http.MethodGet, "/admin/keys", adminSecret, "")
	if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /admin/keys: %d, Cache-Control %q: %s", r.StatusCode, r.Header.Get("Cache-Control"), r.Body)
	}
	var body struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	decodeInto(t, r.Body, &body)
	if len(body.Keys) != 3 {
		t.Fatalf("listed %d keys, want access, ID and refresh: %s", len(body.Keys), r.Body)
	}
	allowed := []string{"kid", "use", "alg", "generation", "created_at", "sign_from", "until", "retired_at", "signing", "verifying", "published"}
	for _, k := range body.Keys {
		for name := range k {
			if !slices.Contains(allowed, name) {
				t.Errorf("a listed key has member %q: only public facts belong here", name)
			}
		}
	}
	for _, private := range []string{"sealed", "private", "secret", `"d"`, `"k"`} {
		if strings.Contains(strings.ToLower(r.Body), private) {
			t.Errorf("the listing holds %q: %s", private, r.Body)
		}
	}
	keys := a.adminKeys(t)
	uses := map[string]bool{}
	for _, k := range keys {
		uses[k.Use] = k.Published
		if !k.Signing || !k.Verifying || k.Generation != 1 || k.RetiredAt != "" {
			t.Errorf("key %+v, want a signing generation 1", k)
		}
	}
	if want := map[string]bool{"access": true, "id": true, "refresh": false}; !maps.Equal(uses, want) {
		t.Errorf("uses (published) = %v, want %v", uses, want)
	}
}

func TestRotatingKeysThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	current := signingKID(t, a.adminKeys(t), "access")
	r := a.admin(t, http.MethodPost, "/admin/keys/rotate", adminSecret, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/keys/rotate: %d %s", r.StatusCode, r.Body)
	}
	var body struct {
		Keys []listedKey `json:"keys"`
	}
	decodeInto(t, r.Body, &body)
	if len(body.Keys) != 3 {
		t.Fatalf("rotation reported %+v, want one successor per line", body.Keys)
	}
	var successor string
	for _, k := range body.Keys {
		if !k.Created || k.Signing || k.Generation != 2 || k.SignFrom == "" {
			t.Errorf("successor %+v, want created generation 2 that does not sign yet", k)
		}
		if k.Use == "access" {
			successor = k.KID
		}
	}
	if kids := a.jwksKIDs(t); !slices.Contains(kids, successor) || !slices.Contains(kids, current) {
		t.Errorf("JWKS kids = %v, want the successor published at once beside the current key", kids)
	}
	if got := signingKID(t, a.adminKeys(t), "access"); got != current {
		t.Errorf("access key %s signs right after the rotation, want %s until the successor's time", got, current)
	}

	again := a.admin(t, http.MethodPost, "/admin/keys/rotate", adminSecret, "")
	decodeInto(t, again.Body, &body)
	for _, k := range body.Keys {
		if k.Created {
			t.Errorf("second rotation created %+v, want every successor reported as waiting", k)
		}
	}
	if keys := a.adminKeys(t); len(keys) != 6 {
		t.Errorf("%d keys after two rotations, want 6", len(keys))
	}
}

func TestRetiringAKeyThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	kid := signingKID(t, a.adminKeys(t), "access")

	r := a.admin(t, http.MethodPost, "/admin/keys/"+kid+"/retire", adminSecret, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("retire: %d %s", r.StatusCode, r.Body)
	}
	var body struct {
		Retired     listedKey  `json:"retired"`
		Replacement *listedKey `json:"replacement"`
	}
	decodeInto(t, r.Body, &body)
	if body.Retired.KID != kid || body.Retired.RetiredAt == "" || body.Retired.Signing || body.Retired.Verifying {
		t.Errorf("retired = %+v, want %s retired", body.Retired, kid)
	}
	if body.Replacement == nil || !body.Replacement.Signing || body.Replacement.Use != "access" {
		t.Fatalf("replacement = %+v, want a signing access key", body.Replacement)
	}

	ui := a.send(t, http.MethodGet, "/userinfo", "", withBearer(alice.AccessToken))
	checkError(t, ui, http.StatusUnauthorized, bridge.ErrCodeInvalidToken)
	if kids := a.jwksKIDs(t); slices.Contains(kids, kid) || !slices.Contains(kids, body.Replacement.KID) {
		t.Errorf("JWKS kids = %v, want the replacement and not the retired %s", kids, kid)
	}
	bob := a.spaSignIn(t, "bob", "openid")
	if ui := a.send(t, http.MethodGet, "/userinfo", "", withBearer(bob.AccessToken)); ui.StatusCode != http.StatusOK {
		t.Errorf("userinfo with a token of the replacement: %d %s", ui.StatusCode, ui.Body)
	}
	if got := signingKID(t, a.adminKeys(t), "access"); got != body.Replacement.KID {
		t.Errorf("signing access key %s, want the replacement", got)
	}
}

func TestRetiringAnUnknownKeyIs404(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	for _, kid := range []string{"no-such-kid", "access-1"} {
		r := a.admin(t, http.MethodPost, "/admin/keys/"+kid+"/retire", adminSecret, "")
		checkError(t, r, http.StatusNotFound, bridge.ErrCodeKeyNotFound)
	}
	for _, k := range a.adminKeys(t) {
		if k.RetiredAt != "" {
			t.Errorf("key %s retired by a refused call", k.KID)
		}
	}
}
