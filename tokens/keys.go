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

// Key uses. Access keys sign access and ID tokens and are published in the
// JWKS; refresh keys are HMAC secrets (HS256) for refresh tokens, which only
// socialbridge reads: symmetric keys are never published and make the
// refresh grant's signature check and signing nearly free.
const (
	UseAccess  = "access"
	UseRefresh = "refresh"
)

// refreshAlg signs refresh tokens.
const refreshAlg = "HS256"

// signingMethod returns the method of a supported algorithm: ES256, RS256,
// PS256 or EdDSA for access keys, HS256 for refresh keys.
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

// StoredKey is a signing key as persisted. The private key is sealed.
type StoredKey struct {
	// ID is the storage id: use and generation ("access-3"). Two replicas
	// that rotate at once compute the same ID, and storage uniqueness lets
	// only one of them win.
	ID string
	// KID is the JWT kid: random, so that a reset key store never reuses one.
	KID       string
	Use       string
	Algorithm string
	// Generation counts keys of one use, from 1.
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
	// Rotation is the age at which a key is succeeded.
	Rotation time.Duration
	// PublishAhead is how long a new key is published before it signs.
	PublishAhead time.Duration
	// AccessLifetime and RefreshLifetime are the longest lifetimes of
	// tokens of each use: a succeeded key stays usable for verification
	// this long after its successor took over.
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
	keys []*key // sorted by use, then SignFrom ascending
	jwks []byte
}

// key is a parsed StoredKey.
type key struct {
	StoredKey
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
	if _, ok := signingMethod(opts.Algorithm); !ok || opts.Algorithm == refreshAlg {
		return nil, fmt.Errorf("unsupported signing algorithm %q", opts.Algorithm)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Keyring{storage: storage, sealer: sealer, opts: opts}, nil
}

// Load reads the keys from storage and creates or rotates keys as needed,
// so that after it returns there is a signing key of every use.
func (k *Keyring) Load(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	changed := false
	for _, use := range []string{UseAccess, UseRefresh} {
		made, err := k.ensure(ctx, use)
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

// ensure creates the next key of use when there is none, or when the newest
// is due for succession. It reports whether it wrote a key.
func (k *Keyring) ensure(ctx context.Context, use string) (bool, error) {
	now := k.opts.Now()
	k.mu.RLock()
	var newest *key
	for _, kk := range k.keys {
		if kk.Use == use {
			newest = kk
		}
	}
	k.mu.RUnlock()

	alg := k.opts.Algorithm
	if use == UseRefresh {
		alg = refreshAlg
	}
	signFrom := now
	switch {
	case newest == nil:
		// The first key signs at once: nobody can have cached a JWKS yet.
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
	id := use + "-" + strconv.Itoa(gen)
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
		if keys[i].Use != keys[j].Use {
			return keys[i].Use < keys[j].Use
		}
		return keys[i].Generation < keys[j].Generation
	})
	// A key is valid for verification until its successor has signed for
	// as long as the longest token lifetime.
	for i, kk := range keys {
		kk.until = time.Time{}
		if i+1 < len(keys) && keys[i+1].Use == kk.Use {
			life := k.opts.AccessLifetime
			if kk.Use == UseRefresh {
				life = k.opts.RefreshLifetime
			}
			// Plus the verification leeway, which accepts tokens that
			// long after their expiry.
			kk.until = keys[i+1].SignFrom.Add(life + leeway)
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
	if sk.Algorithm == refreshAlg {
		if sk.Use != UseRefresh || len(der) < 32 {
			return nil, fmt.Errorf("signing key %s: an HMAC key must be a refresh key of at least 32 bytes", sk.ID)
		}
		return &key{StoredKey: sk, method: method, signKey: der, verifyKey: der}, nil
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
	return &key{StoredKey: sk, method: method, signKey: signer, verifyKey: signer.Public(), public: signer.Public()}, nil
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
// has passed.
func (k *Keyring) signing(use string) (*key, error) {
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		kk := k.keys[i]
		if kk.Use == use && !kk.SignFrom.After(now) {
			return kk, nil
		}
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

// JWKS returns the JSON Web Key Set of the access keys (RFC 7517): public
// parts only.
func (k *Keyring) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// SigningAlgorithms lists the algorithms of the published access keys, for
// discovery: after an algorithm change both appear until the old key
// retires.
func (k *Keyring) SigningAlgorithms() []string {
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

// buildJWKS publishes every access key that is still valid, including keys
// that will only sign in the future.
func buildJWKS(keys []*key, now time.Time) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, kk := range keys {
		if kk.Use != UseAccess || (!kk.until.IsZero() && !now.Before(kk.until)) {
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
