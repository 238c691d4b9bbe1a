package tokens_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/tokens"
)

// testIssuer is the issuer (iss) every fixture signs as.
const testIssuer = "https://auth.example.test"

// t0 is the fixtures' starting time; whole seconds, because JWT times are.
var t0 = time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(at time.Time) *testClock { return &testClock{now: at} }

// Now is the clock function handed to the code under test.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to at.
func (c *testClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}

// memStorage is an in-memory tokens.KeyStorage.
type memStorage struct {
	mu         sync.Mutex
	keys       map[string]tokens.StoredKey
	inserts    int // successful inserts
	duplicates int // inserts refused as duplicates
	listErr    error
	insertErr  error
	retireErr  error
}

func newMemStorage() *memStorage {
	return &memStorage{keys: map[string]tokens.StoredKey{}}
}

func (s *memStorage) ListKeys(ctx context.Context) ([]tokens.StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	out := slices.Collect(maps.Values(s.keys))
	// Storage gives no order guarantee; hand keys back shuffled-ish (by
	// KID, which is random) so that the keyring must sort them itself.
	slices.SortFunc(out, func(a, b tokens.StoredKey) int { return strings.Compare(a.KID, b.KID) })
	return out, nil
}

func (s *memStorage) InsertKey(ctx context.Context, k tokens.StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.insertErr != nil {
		return s.insertErr
	}
	if _, ok := s.keys[k.ID]; ok {
		s.duplicates++
		return fmt.Errorf("insert %s: %w", k.ID, tokens.ErrKeyExists)
	}
	s.keys[k.ID] = k
	s.inserts++
	return nil
}

func (s *memStorage) RetireKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retireErr != nil {
		return s.retireErr
	}
	k, ok := s.keys[id]
	if !ok {
		return fmt.Errorf("retire %s: %w", id, tokens.ErrUnknownKey)
	}
	if k.RetiredAt.IsZero() {
		k.RetiredAt = at
		s.keys[id] = k
	}
	return nil
}

// get returns the stored key with this ID.
func (s *memStorage) get(t *testing.T, id string) tokens.StoredKey {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		t.Fatalf("storage has no key %q (has %v)", id, slices.Sorted(maps.Keys(s.keys)))
	}
	return k
}

// ids returns the stored IDs, sorted.
func (s *memStorage) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.keys))
}

// put stores k as is, bypassing InsertKey.
func (s *memStorage) put(k tokens.StoredKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
}

// remove deletes the stored key with this ID.
func (s *memStorage) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, id)
}

func (s *memStorage) counts() (inserts, duplicates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inserts, s.duplicates
}

// fixture is one keyring and issuer over in-memory storage.
type fixture struct {
	storage *memStorage
	sealKey []byte
	sealer  *tokens.Sealer
	clock   *testClock
	opts    tokens.KeyringOptions
	keys    *tokens.Keyring
	issuer  *tokens.Issuer
}

// defaultKeyringOptions are the options of the rotation scenario.
func defaultKeyringOptions(alg string, clock *testClock) tokens.KeyringOptions {
	return tokens.KeyringOptions{
		Algorithm:       alg,
		Rotation:        24 * time.Hour,
		PublishAhead:    time.Hour,
		AccessLifetime:  15 * time.Minute,
		RefreshLifetime: 30 * 24 * time.Hour,
		Now:             clock.Now,
	}
}

// newFixture returns a loaded keyring with algorithm alg at t0.
func newFixture(t *testing.T, alg string) *fixture {
	t.Helper()
	clock := newTestClock(t0)
	f := &fixture{
		storage: newMemStorage(),
		sealKey: randomBytes(t, 32),
		clock:   clock,
		opts:    defaultKeyringOptions(alg, clock),
	}
	f.sealer = newSealer(t, f.sealKey)
	f.keys, f.issuer = f.replica(t)
	if err := f.keys.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

// replica returns another keyring and issuer over the fixture's storage, as
// a second server process would build them (its own Sealer from the same
// key). It is not loaded.
func (f *fixture) replica(t *testing.T) (*tokens.Keyring, *tokens.Issuer) {
	t.Helper()
	return f.replicaOver(t, f.storage)
}

func (f *fixture) replicaOver(t *testing.T, storage tokens.KeyStorage) (*tokens.Keyring, *tokens.Issuer) {
	t.Helper()
	kr, err := tokens.NewKeyring(storage, newSealer(t, f.sealKey), f.opts)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return kr, tokens.NewIssuer(kr, testIssuer, f.clock.Now)
}

// load calls Load on kr and fails the test on error.
func load(t *testing.T, kr *tokens.Keyring) {
	t.Helper()
	if err := kr.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// privateKey opens the private key stored under id, the way an insider
// with storage and the encryption key could. The sealing context
// "signing-key:<id>" is part of the storage format: changing it would
// orphan every stored key.
func (f *fixture) privateKey(t *testing.T, id string) (crypto.Signer, string) {
	t.Helper()
	sk := f.storage.get(t, id)
	der, err := f.sealer.Open(sk.PrivateSealed, "signing-key:"+id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatalf("parse %s: %v", id, err)
	}
	return priv.(crypto.Signer), sk.KID
}

// refreshSecret opens the HMAC secret of the refresh key stored under id.
func (f *fixture) refreshSecret(t *testing.T, id string) ([]byte, string) {
	t.Helper()
	sk := f.storage.get(t, id)
	secret, err := f.sealer.Open(sk.PrivateSealed, "signing-key:"+id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	return secret, sk.KID
}

// sampleAccess is an Access that mints a valid token.
func sampleAccess() tokens.Access {
	return tokens.Access{
		Subject:   "user-42",
		Audience:  []string{"https://api.example.test"},
		ClientID:  "spa",
		SessionID: "sess-1",
		Scope:     "openid profile",
		AuthTime:  t0.Add(-time.Minute),
		IDP:       "google",
		TTL:       15 * time.Minute,
		Claims:    map[string]any{"email": "ada@example.test", "roles": []string{"admin"}},
	}
}

// mintAccess mints sampleAccess with ttl and fails the test on error.
func mintAccess(t *testing.T, is *tokens.Issuer, ttl time.Duration) string {
	t.Helper()
	a := sampleAccess()
	a.TTL = ttl
	tok, _, err := is.MintAccess(a)
	if err != nil {
		t.Fatalf("MintAccess: %v", err)
	}
	return tok
}

// sampleRefresh is a Refresh that mints a valid token at now.
func sampleRefresh(now time.Time) tokens.Refresh {
	return tokens.Refresh{
		Subject:    "user-42",
		ClientID:   "spa",
		SessionID:  "sess-1",
		Generation: 3,
		IssuedAt:   now,
		Expiry:     now.Add(14 * 24 * time.Hour),
	}
}

// mustParseAccess parses tok and fails the test on error.
func mustParseAccess(t *testing.T, is *tokens.Issuer, tok string) tokens.AccessClaims {
	t.Helper()
	c, err := is.ParseAccess(tok)
	if err != nil {
		t.Fatalf("ParseAccess: %v", err)
	}
	return c
}

// wantInvalid fails the test unless err wraps tokens.ErrInvalidToken.
func wantInvalid(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, tokens.ErrInvalidToken) {
		t.Fatalf("got error %v, want one wrapping ErrInvalidToken", err)
	}
}

// segment decodes part i (0 header, 1 payload) of a compact JWT as JSON.
func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode segment %d: %v", i, err)
	}
	m := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("unmarshal segment %d: %v", i, err)
	}
	return m
}

// headerKID returns the kid in tok's header.
func headerKID(t *testing.T, tok string) string {
	t.Helper()
	kid, _ := segment(t, tok, 0)["kid"].(string)
	if kid == "" {
		t.Fatal("token has no kid")
	}
	return kid
}

// number returns the JSON number claim name of claims as an int64.
func number(t *testing.T, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want a number", name, claims[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %s, want an integer", name, n)
	}
	return v
}

// signToken signs claims with method and key, after setting header
// members (a nil value deletes one).
func signToken(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return s
}

// jwksKIDs checks jwks as jwksKeys does and returns the kids of its keys of
// algorithm alg, in order.
func jwksKIDs(t *testing.T, jwks []byte, alg string) []string {
	t.Helper()
	kids := []string{}
	for _, k := range jwksKeys(t, jwks) {
		if k.alg == alg {
			kids = append(kids, k.kid)
		}
	}
	return kids
}

// jwksAlgs checks jwks as jwksKeys does and maps each kid to its algorithm.
func jwksAlgs(t *testing.T, jwks []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, k := range jwksKeys(t, jwks) {
		if _, dup := m[k.kid]; dup {
			t.Errorf("JWKS has kid %s twice", k.kid)
		}
		m[k.kid] = k.alg
	}
	return m
}

// publishedKey is a key of a JWKS.
type publishedKey struct{ kid, alg string }

// jwksKeys checks that jwks is a JSON Web Key Set of public signing keys,
// each of the type its algorithm needs, in raw JSON so that nothing is
// hidden by a library's decoding, and returns their kids and algorithms in
// order.
func jwksKeys(t *testing.T, jwks []byte) []publishedKey {
	t.Helper()
	var set map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, jwks)
	}
	if _, ok := set["keys"]; !ok || len(set) != 1 {
		t.Fatalf("JWKS members = %v, want exactly \"keys\"", slices.Sorted(maps.Keys(set)))
	}
	keys := []publishedKey{}
	for i, k := range set["keys"] {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %d has private member %q", i, private)
			}
		}
		str := func(name string) string {
			t.Helper()
			var s string
			if err := json.Unmarshal(k[name], &s); err != nil || s == "" {
				t.Errorf("JWKS key %d: %s = %s, want a non-empty string", i, name, k[name])
			}
			return s
		}
		alg := str("alg")
		wantKty, ok := map[string]string{"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP"}[alg]
		if !ok {
			t.Errorf("JWKS key %d: alg = %q, want ES256, RS256, PS256 or EdDSA", i, alg)
		}
		if got := str("kty"); got != wantKty {
			t.Errorf("JWKS key %d: kty = %q, want %q for %s", i, got, wantKty, alg)
		}
		if got := str("use"); got != "sig" {
			t.Errorf("JWKS key %d: use = %q, want sig", i, got)
		}
		keys = append(keys, publishedKey{kid: str("kid"), alg: alg})
	}
	return keys
}

// verifyWithJWKS verifies tok the way an unrelated backend would: with
// go-jose, knowing only the published JWKS and the issuer.
func verifyWithJWKS(jwks []byte, tok string, now time.Time) (map[string]any, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("JWKS has %d keys with kid %q", len(keys), h.KeyID)
	}
	k := keys[0]
	if !k.IsPublic() || !k.Valid() {
		return nil, fmt.Errorf("JWKS key %q is not a valid public key", h.KeyID)
	}
	if k.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("token alg %s, JWKS key alg %s", h.Algorithm, k.Algorithm)
	}
	var std josejwt.Claims
	all := map[string]any{}
	if err := parsed.Claims(k.Key, &std, &all); err != nil {
		return nil, fmt.Errorf("verify signature: %w", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, Time: now}, 0); err != nil {
		return nil, fmt.Errorf("validate claims: %w", err)
	}
	return all, nil
}

// randomBytes returns n random bytes.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand: %v", err)
	}
	return b
}

// newSealer returns a Sealer for key and fails the test on error.
func newSealer(t testing.TB, key []byte) *tokens.Sealer {
	t.Helper()
	s, err := tokens.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}
