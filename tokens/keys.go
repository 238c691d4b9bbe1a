package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Key uses. Access keys sign access tokens and ID keys sign OpenID Connect
// ID tokens; both are published in the JWKS. They are separate so that each
// can have the algorithm its verifiers need (resource servers: ES256 by
// default; relying parties: RS256, which OpenID Connect Discovery requires)
// and so that a key of one use never verifies a token of the other. Refresh
// keys are HMAC secrets (HS256) for refresh tokens, which only socialbridge
// reads: symmetric keys are never published and make the refresh grant's
// signature check and signing nearly free.
const (
	UseAccess  = "access"
	UseRefresh = "refresh"
	UseID      = "id"
)

// defaultIDAlg signs ID tokens unless configured otherwise: OpenID Connect
// Discovery 1.0 §3 requires every provider to support RS256 for ID tokens,
// and some relying parties accept nothing else.
const defaultIDAlg = "RS256"

// refreshAlg signs refresh tokens.
const refreshAlg = "HS256"

// signingMethod returns the method of a supported algorithm: ES256, RS256,
// PS256 or EdDSA for access and ID keys, HS256 for refresh keys.
func signingMethod(alg string) (jwt.SigningMethod, bool) {
	switch alg {
	case "ES256":
		return jwt.SigningMethodES256, true
	case "RS256":
		return jwt.SigningMethodRS256, true
	case "PS256":
		return jwt.SigningMethodPS256, true
	case "EdDSA":
		return jwt.SigningMethodEdDSA, true
	case refreshAlg:
		return jwt.SigningMethodHS256, true
	}
	return nil, false
}

// publicKeyAlg reports whether alg is an asymmetric algorithm that access
// and ID keys may use.
func publicKeyAlg(alg string) bool {
	_, ok := signingMethod(alg)
	return ok && alg != refreshAlg
}

// lineOf names the succession line of a key: the keys that succeed one
// another. Access and refresh keys have one line per use (an access
// algorithm change is a succession within it); ID keys have one line per
// algorithm, since several are current at once, one for each algorithm
// some client asks for.
func lineOf(use, alg string) string {
	if use == UseID {
		return use + "-" + alg
	}
	return use
}

// StoredKey is a signing key as persisted. The private key is sealed.
type StoredKey struct {
	// ID is the storage id: line and generation ("access-3", "refresh-3",
	// "id-RS256-3"; see lineOf). Two replicas that rotate at once compute
	// the same ID, and storage uniqueness lets only one of them win.
	ID string
	// KID is the JWT kid: random, so that a reset key store never reuses one.
	KID       string
	Use       string
	Algorithm string
	// Generation counts keys of one line, from 1.
	Generation int
	// PrivateSealed is the PKCS#8 private key, sealed with the Sealer.
	PrivateSealed string
	CreatedAt     time.Time
	// SignFrom is when the key starts signing; it is published from
	// CreatedAt, so verifiers learn it before they meet a token it signed.
	SignFrom time.Time
}

// ErrKeyExists is what KeyStorage.InsertKey wraps when a key with the same
// ID is already stored: another replica rotated first.
var ErrKeyExists = errors.New("signing key already exists")

// KeyStorage persists signing keys. InsertKey must fail with an error
// wrapping ErrKeyExists when the ID exists.
type KeyStorage interface {
	ListKeys(ctx context.Context) ([]StoredKey, error)
	InsertKey(ctx context.Context, k StoredKey) error
}

// KeyringOptions configures a Keyring.
type KeyringOptions struct {
	// Algorithm signs access tokens (ES256, RS256, PS256, EdDSA).
	Algorithm string
	// IDAlgorithms are the algorithms ID tokens are signed with: the
	// default first, then every other one a client asks for. There is one
	// current key for each. Empty means RS256 only.
	IDAlgorithms []string
	// Rotation is the age at which a key is succeeded.
	Rotation time.Duration
	// PublishAhead is how long a new key is published before it signs.
	PublishAhead time.Duration
	// AccessLifetime and RefreshLifetime are the longest lifetimes of
	// tokens of each use: a succeeded key stays usable for verification
	// this long after its successor took over. AccessLifetime bounds ID
	// tokens too, which live as long as the client's access tokens.
	AccessLifetime  time.Duration
	RefreshLifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives rotation events.
	Logger *slog.Logger
}

// Keyring holds the signing keys of every use, keeps them in step with
// storage (several replicas share them) and rotates them on schedule.
type Keyring struct {
	storage KeyStorage
	sealer  *Sealer
	opts    KeyringOptions

	mu   sync.RWMutex
	keys []*key // sorted by line, then generation
	jwks []byte
}

// key is a parsed StoredKey.
type key struct {
	StoredKey
	line   string // see lineOf
	method jwt.SigningMethod
	// signKey signs (a crypto.Signer, or the HMAC secret); verifyKey
	// checks (the public key, or the same secret).
	signKey   any
	verifyKey any
	public    crypto.PublicKey // nil for HMAC keys
	// until is when the key stops being valid for verification; zero
	// while it has no successor.
	until time.Time
}

// NewKeyring returns a Keyring; call Load before use.
func NewKeyring(storage KeyStorage, sealer *Sealer, opts KeyringOptions) (*Keyring, error) {
	if !publicKeyAlg(opts.Algorithm) {
		return nil, fmt.Errorf("unsupported signing algorithm %q", opts.Algorithm)
	}
	var idAlgs []string
	for _, alg := range opts.IDAlgorithms {
		if !publicKeyAlg(alg) {
			return nil, fmt.Errorf("unsupported ID token signing algorithm %q", alg)
		}
		if !slices.Contains(idAlgs, alg) {
			idAlgs = append(idAlgs, alg)
		}
	}
	if len(idAlgs) == 0 {
		idAlgs = []string{defaultIDAlg}
	}
	opts.IDAlgorithms = idAlgs
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Keyring{storage: storage, sealer: sealer, opts: opts}, nil
}

// Load reads the keys from storage and creates or rotates keys as needed,
// so that after it returns there is a signing key of every use, and an ID
// key of every ID algorithm. A deployment whose storage predates ID keys
// gets them here, signing at once (see ensure).
func (k *Keyring) Load(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	changed := false
	lines := [][2]string{{UseAccess, k.opts.Algorithm}, {UseRefresh, refreshAlg}}
	for _, alg := range k.opts.IDAlgorithms {
		lines = append(lines, [2]string{UseID, alg})
	}
	for _, l := range lines {
		made, err := k.ensure(ctx, l[0], l[1])
		if err != nil {
			return err
		}
		changed = changed || made
	}
	if changed {
		return k.reload(ctx)
	}
	return nil
}

// Run reloads and rotates keys every interval until ctx ends, so that
// replicas pick up each other's keys. Errors are logged and retried.
func (k *Keyring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Load(ctx); err != nil && ctx.Err() == nil {
				k.opts.Logger.Error("refresh signing keys", "err", err)
			}
		}
	}
}

// ensure creates the next key of use and algorithm alg when its line has
// none, or when the newest is due for succession. It reports whether it
// wrote a key.
func (k *Keyring) ensure(ctx context.Context, use, alg string) (bool, error) {
	now := k.opts.Now()
	line := lineOf(use, alg)
	k.mu.RLock()
	var newest *key
	for _, kk := range k.keys {
		if kk.line == line {
			newest = kk
		}
	}
	k.mu.RUnlock()

	life := k.opts.AccessLifetime // of access and ID tokens
	signFrom := now
	switch {
	case use == UseID && newest != nil && !now.Before(newest.SignFrom.Add(k.opts.Rotation+life+leeway)):
		// The newest ID key of this algorithm is older than any replica
		// that kept the line going would let it get: no client asked for
		// the algorithm (or the service was down) long enough for it to
		// retire (see reload). A key that left the JWKS does not come back
		// to sign; the line starts afresh, as below.
		fallthrough
	case newest == nil:
		// The first key of a line signs at once. For access and refresh
		// keys nobody can have cached a JWKS yet. For the first ID key of
		// an algorithm (a new deployment, one that predates ID keys, or a
		// client newly asking for this algorithm) there is no key of that
		// algorithm to sign meanwhile, and relying parties fetch the JWKS
		// again when they meet an unknown kid (OpenID Connect Core
		// §10.1.1); resource servers, which may cache the JWKS without
		// that, never verify ID tokens.
	case newest.SignFrom.After(now):
		return false, nil // a successor is already waiting
	case newest.Algorithm != alg:
		// The configured algorithm changed: succeed now, still published
		// ahead so that verifiers learn the new key before they meet it.
		signFrom = now.Add(k.opts.PublishAhead)
	case now.Before(newest.SignFrom.Add(k.opts.Rotation - k.opts.PublishAhead)):
		return false, nil
	default:
		signFrom = now.Add(k.opts.PublishAhead)
	}
	gen := 1
	if newest != nil {
		gen = newest.Generation + 1
	}
	sk, err := k.generate(use, alg, gen, now, signFrom)
	if err != nil {
		return false, err
	}
	if err := k.storage.InsertKey(ctx, sk); err != nil {
		if errors.Is(err, ErrKeyExists) {
			return true, nil // another replica made this generation
		}
		return false, fmt.Errorf("store %s key: %w", use, err)
	}
	k.opts.Logger.Info("created signing key", "use", use, "kid", sk.KID, "alg", alg, "signs_from", signFrom)
	return true, nil
}

// generate makes a new key pair and seals its private part.
func (k *Keyring) generate(use, alg string, gen int, now, signFrom time.Time) (StoredKey, error) {
	var priv crypto.Signer
	var err error
	var der []byte
	switch alg {
	case refreshAlg:
		der = make([]byte, 32)
		_, err = rand.Read(der)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return StoredKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	if priv != nil {
		if der, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
			return StoredKey{}, fmt.Errorf("marshal %s key: %w", alg, err)
		}
	}
	id := lineOf(use, alg) + "-" + strconv.Itoa(gen)
	sealed, err := k.sealer.Seal(der, "signing-key:"+id)
	if err != nil {
		return StoredKey{}, fmt.Errorf("seal %s key: %w", alg, err)
	}
	return StoredKey{
		ID: id, KID: randomID(12), Use: use, Algorithm: alg, Generation: gen,
		PrivateSealed: sealed, CreatedAt: now, SignFrom: signFrom,
	}, nil
}

// reload replaces the in-memory keys with storage's, parsing only keys it
// has not parsed before.
func (k *Keyring) reload(ctx context.Context) error {
	stored, err := k.storage.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	k.mu.RLock()
	known := make(map[string]*key, len(k.keys))
	for _, kk := range k.keys {
		known[kk.ID] = kk
	}
	k.mu.RUnlock()

	keys := make([]*key, 0, len(stored))
	for _, sk := range stored {
		if kk, ok := known[sk.ID]; ok && kk.KID == sk.KID {
			cp := *kk
			keys = append(keys, &cp)
			continue
		}
		kk, err := k.parse(sk)
		if err != nil {
			return err
		}
		keys = append(keys, kk)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].line != keys[j].line {
			return keys[i].line < keys[j].line
		}
		return keys[i].Generation < keys[j].Generation
	})
	// A key is valid for verification (and published) until its successor
	// has signed for as long as the longest token lifetime, plus the
	// verification leeway, which accepts tokens that long after their
	// expiry.
	for i, kk := range keys {
		kk.until = time.Time{}
		life := k.opts.AccessLifetime
		if kk.Use == UseRefresh {
			life = k.opts.RefreshLifetime
		}
		switch {
		case i+1 < len(keys) && keys[i+1].line == kk.line:
			kk.until = keys[i+1].SignFrom.Add(life + leeway)
		case kk.Use == UseID && !slices.Contains(k.opts.IDAlgorithms, kk.Algorithm):
			// The newest key of an ID algorithm no client asks for any
			// more: this replica no longer signs with it or rotates it, and
			// retires it as if a successor had taken over on schedule. A
			// replica still configured for it keeps rotating it, and then
			// the rule above applies.
			kk.until = kk.SignFrom.Add(k.opts.Rotation + life + leeway)
		}
	}
	jwks, err := buildJWKS(keys, k.opts.Now())
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.jwks = keys, jwks
	k.mu.Unlock()
	return nil
}

// parse opens and parses a stored key.
func (k *Keyring) parse(sk StoredKey) (*key, error) {
	method, ok := signingMethod(sk.Algorithm)
	if !ok {
		return nil, fmt.Errorf("signing key %s: unsupported algorithm %q", sk.ID, sk.Algorithm)
	}
	der, err := k.sealer.Open(sk.PrivateSealed, "signing-key:"+sk.ID)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w (is crypto.encryption_key the one these keys were made with?)", sk.ID, err)
	}
	line := lineOf(sk.Use, sk.Algorithm)
	if sk.Algorithm == refreshAlg {
		if sk.Use != UseRefresh || len(der) < 32 {
			return nil, fmt.Errorf("signing key %s: an HMAC key must be a refresh key of at least 32 bytes", sk.ID)
		}
		return &key{StoredKey: sk, line: line, method: method, signKey: der, verifyKey: der}, nil
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: parse: %w", sk.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing key %s: not a signer", sk.ID)
	}
	if err := checkKeyMatchesAlg(signer.Public(), sk.Algorithm); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", sk.ID, err)
	}
	return &key{StoredKey: sk, line: line, method: method, signKey: signer, verifyKey: signer.Public(), public: signer.Public()}, nil
}

// checkKeyMatchesAlg refuses a key whose type does not fit its algorithm.
func checkKeyMatchesAlg(pub crypto.PublicKey, alg string) error {
	ok := false
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		ok = alg == "ES256" && p.Curve == elliptic.P256()
	case *rsa.PublicKey:
		ok = alg == "RS256" || alg == "PS256"
	case ed25519.PublicKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		return fmt.Errorf("key type %T does not fit algorithm %s", pub, alg)
	}
	return nil
}

// ErrNoSigningKey means no key of a use can sign now.
var ErrNoSigningKey = errors.New("no signing key available")

// signing returns the key of use that signs now: the newest whose SignFrom
// has passed. alg matters for ID keys only: one of the ID algorithms, ""
// for the default one.
func (k *Keyring) signing(use, alg string) (*key, error) {
	if use == UseID {
		if alg == "" {
			alg = k.opts.IDAlgorithms[0]
		} else if !slices.Contains(k.opts.IDAlgorithms, alg) {
			return nil, fmt.Errorf("%w for ID tokens signed with %q: the keyring's ID algorithms are %v",
				ErrNoSigningKey, alg, k.opts.IDAlgorithms)
		}
	}
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		kk := k.keys[i]
		if kk.Use == use && (use != UseID || kk.Algorithm == alg) && !kk.SignFrom.After(now) {
			return kk, nil
		}
	}
	if use == UseID {
		return nil, fmt.Errorf("%w for ID tokens signed with %s", ErrNoSigningKey, alg)
	}
	return nil, fmt.Errorf("%w for %s tokens", ErrNoSigningKey, use)
}

// verifying returns the key of use with this kid, if it may still verify.
func (k *Keyring) verifying(use, kid string) (*key, bool) {
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, kk := range k.keys {
		if kk.Use == use && kk.KID == kid && (kk.until.IsZero() || now.Before(kk.until)) {
			return kk, true
		}
	}
	return nil, false
}

// JWKS returns the JSON Web Key Set of the access and ID keys (RFC 7517):
// public parts only.
func (k *Keyring) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// IDAlgorithms lists the algorithms ID tokens are signed with, for
// discovery's id_token_signing_alg_values_supported: RS256 first when
// configured (OpenID Connect Discovery 1.0 §3), then the others in
// configuration order.
func (k *Keyring) IDAlgorithms() []string {
	algs := make([]string, 0, len(k.opts.IDAlgorithms))
	if slices.Contains(k.opts.IDAlgorithms, "RS256") {
		algs = append(algs, "RS256")
	}
	for _, alg := range k.opts.IDAlgorithms {
		if alg != "RS256" {
			algs = append(algs, alg)
		}
	}
	return algs
}

// AccessAlgorithms lists the algorithms of the published access keys, for
// discovery: after an algorithm change both appear until the old key
// retires.
func (k *Keyring) AccessAlgorithms() []string {
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var algs []string
	for _, kk := range k.keys {
		if kk.Use == UseAccess && (kk.until.IsZero() || now.Before(kk.until)) && !slices.Contains(algs, kk.Algorithm) {
			algs = append(algs, kk.Algorithm)
		}
	}
	return algs
}

// jwk is one JSON Web Key; only public members exist in this type, so a
// private part cannot leak into the JWKS by mistake.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// buildJWKS publishes every access and ID key that is still valid,
// including keys that will only sign in the future.
func buildJWKS(keys []*key, now time.Time) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, kk := range keys {
		if (kk.Use != UseAccess && kk.Use != UseID) || (!kk.until.IsZero() && !now.Before(kk.until)) {
			continue
		}
		j := jwk{Use: "sig", Alg: kk.Algorithm, Kid: kk.KID}
		switch p := kk.public.(type) {
		case *ecdsa.PublicKey:
			ecdh, err := p.ECDH()
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", kk.ID, err)
			}
			raw := ecdh.Bytes() // 0x04 || X || Y, fixed width
			j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(p)
		}
		set.Keys = append(set.Keys, j)
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	return out, nil
}

// randomID returns n random bytes, base64url encoded.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never returns an error on supported platforms
	}
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}
