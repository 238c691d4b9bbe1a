package bridge_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// tokenKID is the kid in a JWT's header.
func tokenKID(t testing.TB, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.KID == "" {
		t.Fatalf("token header %s has no kid (%v)", raw, err)
	}
	return h.KID
}

// jwksKIDs lists the kids the bridge's JWKS publishes.
func (e *env) jwksKIDs(t testing.TB) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(e.issuer.Keys().JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

// signingKey is the listed key of use that signs now.
func (e *env) signingKey(t testing.TB, use string) bridge.KeyInfo {
	t.Helper()
	for _, k := range e.b.SigningKeys() {
		if k.Use == use && k.Signing {
			return k
		}
	}
	t.Fatalf("no %s key signs: %+v", use, e.b.SigningKeys())
	return bridge.KeyInfo{}
}

// keyEvents returns the audit events of type typ, oldest first.
func (e *env) keyEvents(t testing.TB, typ string) []store.AuditEvent {
	t.Helper()
	list, err := e.store.ListAudit(bg, store.AuditQuery{Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

func TestSigningKeysListsOneSigningKeyPerLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := e.b.SigningKeys()
	if len(keys) != 3 {
		t.Fatalf("SigningKeys() = %+v, want access, ID and refresh keys", keys)
	}
	for _, k := range keys {
		if !k.Signing || !k.Verifying || k.Generation != 1 || k.KID == "" || !k.Until.IsZero() || !k.RetiredAt.IsZero() ||
			k.Published != (k.Use != tokens.UseRefresh) {
			t.Errorf("key %+v, want a signing generation 1, published unless a refresh key", k)
		}
	}
	out, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, private := range []string{"sealed", "private", `"d"`, "secret"} {
		if strings.Contains(strings.ToLower(string(out)), private) {
			t.Errorf("the listing's JSON holds %q: %s", private, out)
		}
	}
}

func TestRotateKeysPublishesSuccessorsAtOnceThatSignAfterThePublishAheadPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // publish ahead 1h
	before := e.signingKey(t, tokens.UseAccess)
	rotatedAt := e.clock.Now()

	rotations, err := e.b.RotateKeys(bg, adminIP)
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	if len(rotations) != 3 {
		t.Fatalf("RotateKeys() = %+v, want one successor per line", rotations)
	}
	var access bridge.KeyRotation
	for _, r := range rotations {
		if !r.Created || r.Generation != 2 || r.Signing || !r.SignFrom.Equal(rotatedAt.Add(time.Hour)) {
			t.Errorf("rotation %+v, want a created generation 2 that signs an hour from now", r)
		}
		if r.Use == tokens.UseAccess {
			access = r
		}
	}
	if kids := e.jwksKIDs(t); !slices.Contains(kids, access.KID) || !slices.Contains(kids, before.KID) {
		t.Errorf("JWKS kids = %v, want the successor %s published at once beside %s", kids, access.KID, before.KID)
	}
	ts, _ := e.signIn(t)
	if kid := tokenKID(t, ts.AccessToken); kid != before.KID {
		t.Errorf("right after the rotation an access token is signed by %s, want %s until the successor signs", kid, before.KID)
	}
	events := e.keyEvents(t, bridge.AuditKeysRotated)
	if len(events) != 3 {
		t.Fatalf("audit has %d keys_rotated events, want one per line", len(events))
	}
	for _, ev := range events {
		if ev.Actor != bridge.Admin || ev.IP != adminIP || ev.Detail["created"] != "true" || ev.Detail["kid"] == "" || ev.Detail["use"] == "" || ev.Detail["alg"] == "" {
			t.Errorf("audit event %+v, want actor admin, the IP, and the key's kid, use and alg", ev)
		}
	}

	t.Run("rotating again while the successors wait changes nothing", func(t *testing.T) {
		again, err := e.b.RotateKeys(bg, adminIP)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range again {
			if r.Created || r.KID != rotations[i].KID {
				t.Errorf("second rotation %+v, want %s reported as waiting", r, rotations[i].KID)
			}
		}
		if keys := e.b.SigningKeys(); len(keys) != 6 {
			t.Errorf("after a second rotation %d keys, want 6", len(keys))
		}
	})

	t.Run("after the publish-ahead period the successor signs and older tokens still verify", func(t *testing.T) {
		e.clock.Add(time.Hour + time.Second)
		if err := e.issuer.Keys().Load(bg); err != nil {
			t.Fatal(err)
		}
		next, _ := e.signIn(t)
		if kid := tokenKID(t, next.AccessToken); kid != access.KID {
			t.Errorf("access token signed by %s, want the successor %s", kid, access.KID)
		}
		if _, err := e.b.UserInfo(bg, next.AccessToken); err != nil {
			t.Errorf("UserInfo with the successor's token: %v", err)
		}
		// (The session itself has idled out by now: the signature is
		// what is checked.)
		if _, err := e.issuer.ParseRefresh(ts.RefreshToken); err != nil {
			t.Errorf("a refresh token signed before the rotation no longer verifies: %v", err)
		}
	})
}

func TestRetiringTheSigningAccessKeyRefusesItsTokensAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	old := e.signingKey(t, tokens.UseAccess)
	if kid := tokenKID(t, ts.AccessToken); kid != old.KID {
		t.Fatalf("token kid %s, want %s", kid, old.KID)
	}

	r, err := e.b.RetireKey(bg, old.KID, adminIP)
	if err != nil {
		t.Fatalf("RetireKey: %v", err)
	}
	if r.Retired.KID != old.KID || r.Retired.RetiredAt.IsZero() || r.Retired.Signing || r.Retired.Verifying || r.Retired.Published {
		t.Errorf("retired = %+v, want the key, retired, neither signing nor verifying nor published", r.Retired)
	}
	if r.Replacement == nil || !r.Replacement.Signing || r.Replacement.Use != tokens.UseAccess || r.Replacement.Generation != 2 {
		t.Fatalf("replacement = %+v, want generation 2 of the access line, signing", r.Replacement)
	}

	if _, err := e.issuer.ParseAccess(ts.AccessToken); err == nil {
		t.Error("ParseAccess accepts a token of the retired key")
	}
	if _, err := e.b.UserInfo(bg, ts.AccessToken); oauthCode(err) != bridge.ErrCodeInvalidToken {
		t.Errorf("UserInfo with a token of the retired key: %v, want invalid_token", err)
	}
	next, _ := e.signIn(t)
	if kid := tokenKID(t, next.AccessToken); kid != r.Replacement.KID {
		t.Errorf("a new access token is signed by %s, want the replacement %s at once", kid, r.Replacement.KID)
	}
	if _, err := e.b.UserInfo(bg, next.AccessToken); err != nil {
		t.Errorf("UserInfo with the replacement's token: %v", err)
	}
	if kids := e.jwksKIDs(t); slices.Contains(kids, old.KID) || !slices.Contains(kids, r.Replacement.KID) {
		t.Errorf("JWKS kids = %v, want the replacement and not the retired %s", kids, old.KID)
	}
	// The refresh key is another line: the session refreshes, with tokens
	// of the replacement.
	refreshed, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
	if err != nil {
		t.Fatalf("Refresh after the access key's retirement: %v", err)
	}
	if kid := tokenKID(t, refreshed.AccessToken); kid != r.Replacement.KID {
		t.Errorf("refreshed access token signed by %s, want the replacement", kid)
	}
	events := e.keyEvents(t, bridge.AuditKeyRetired)
	if len(events) != 1 || events[0].Actor != bridge.Admin || events[0].IP != adminIP || events[0].Detail["kid"] != old.KID ||
		events[0].Detail["use"] != tokens.UseAccess || events[0].Detail["alg"] != "ES256" || events[0].Detail["replacement_kid"] != r.Replacement.KID {
		t.Errorf("key_retired events = %+v, want one by admin naming the key and its replacement", events)
	}

	t.Run("retiring it again changes nothing", func(t *testing.T) {
		again, err := e.b.RetireKey(bg, old.KID, adminIP)
		if err != nil {
			t.Fatal(err)
		}
		if again.Replacement != nil || !again.Retired.RetiredAt.Equal(r.Retired.RetiredAt) {
			t.Errorf("second retirement = %+v, want the first retirement time and no replacement", again)
		}
		if keys := e.b.SigningKeys(); len(keys) != 4 {
			t.Errorf("after a second retirement %d keys, want 4", len(keys))
		}
	})
}

func TestRetiringTheSigningRefreshKeyEndsItsRefreshTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	old := e.signingKey(t, tokens.UseRefresh)
	r, err := e.b.RetireKey(bg, old.KID, adminIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement == nil || r.Replacement.Use != tokens.UseRefresh || r.Replacement.Published {
		t.Fatalf("replacement = %+v, want an unpublished refresh key", r.Replacement)
	}
	_, err = e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
	if oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Fatalf("Refresh with a token of the retired refresh key: %v, want invalid_grant (sign in again)", err)
	}
	// The access token still works (another line), and signing in again
	// gets a refresh token of the replacement that refreshes.
	if _, err := e.b.UserInfo(bg, ts.AccessToken); err != nil {
		t.Errorf("UserInfo after the refresh key's retirement: %v", err)
	}
	next, _ := e.signIn(t)
	if kid := tokenKID(t, next.RefreshToken); kid != r.Replacement.KID {
		t.Errorf("new refresh token signed by %s, want the replacement", kid)
	}
	if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: next.RefreshToken}); err != nil {
		t.Errorf("Refresh with the replacement's token: %v", err)
	}
}

func TestRetiringASucceededKeyNeedsNoReplacement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	old := e.signingKey(t, tokens.UseAccess)
	if _, err := e.b.RotateKeys(bg, adminIP); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour + time.Second)
	if err := e.issuer.Keys().Load(bg); err != nil {
		t.Fatal(err)
	}
	current := e.signingKey(t, tokens.UseAccess)
	if current.KID == old.KID {
		t.Fatal("the successor does not sign after the publish-ahead period")
	}

	r, err := e.b.RetireKey(bg, old.KID, adminIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement != nil {
		t.Errorf("replacement = %+v, want none: the successor signs already", r.Replacement)
	}
	if _, err := e.issuer.ParseAccess(ts.AccessToken); err == nil {
		t.Error("a token of the retired key still verifies")
	}
	if got := e.signingKey(t, tokens.UseAccess); got.KID != current.KID {
		t.Errorf("signing key %s after retiring an old one, want %s still", got.KID, current.KID)
	}
	if kids := e.jwksKIDs(t); slices.Contains(kids, old.KID) {
		t.Errorf("JWKS still lists the retired kid: %v", kids)
	}
	if events := e.keyEvents(t, bridge.AuditKeyRetired); len(events) != 1 || events[0].Detail["replacement_kid"] != "" {
		t.Errorf("key_retired events = %+v, want one without a replacement", events)
	}
}

func TestRetiringAnUnknownKeyIsKeyNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, kid := range []string{"", "no-such-kid", "access-1", strings.Repeat("k", 200)} {
		if _, err := e.b.RetireKey(bg, kid, adminIP); oauthCode(err) != bridge.ErrCodeKeyNotFound {
			t.Errorf("RetireKey(%q) = %v, want key_not_found", kid, err)
		}
	}
	if events := e.keyEvents(t, bridge.AuditKeyRetired); len(events) != 0 {
		t.Errorf("refused retirements were audited: %+v", events)
	}
	for _, k := range e.b.SigningKeys() {
		if !k.RetiredAt.IsZero() {
			t.Errorf("key %s retired by a refused call", k.KID)
		}
	}
}
