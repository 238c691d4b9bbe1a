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
	// RetiredAt is when an administrator retired the key (Retire); zero
	// when it was not. A retired key never signs, and stops verifying (and
	// leaves the JWKS) at RetiredAt, whatever its successor.
	RetiredAt time.Time
}

// ErrKeyExists is what KeyStorage.InsertKey wraps when a key with the same
// ID is already stored: another replica rotated first.
var ErrKeyExists = errors.New("signing key already exists")

// ErrUnknownKey means no stored signing key has the kid (Retire) or the
// storage id (KeyStorage.RetireKey) asked for.
var ErrUnknownKey = errors.New("unknown signing key")

// KeyStorage persists signing keys. InsertKey must fail with an error
// wrapping ErrKeyExists when the ID exists. RetireKey sets the key's
// RetiredAt to at unless it is set already (the first retirement stays),
// and fails with an error wrapping ErrUnknownKey when no key has the ID.
type KeyStorage interface {
	ListKeys(ctx context.Context) ([]StoredKey, error)
	InsertKey(ctx context.Context, k StoredKey) error
	RetireKey(ctx context.Context, id string, at time.Time) error
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

	// loadMu makes reloads take turns (see reload).
	loadMu sync.Mutex
	mu     sync.RWMutex
	keys   []*key // sorted by line, then generation
	jwks   []byte
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
	// while no later key has taken over and it is not retired (see
	// reload).
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
	for _, l := range k.lines() {
		res, err := k.ensure(ctx, l.use, l.alg, false)
		if err != nil {
			return err
		}
		changed = changed || res != unchanged
	}
	if changed {
		return k.reload(ctx)
	}
	return nil
}

// Run reloads and rotates keys every interval until ctx ends, so that
// replicas pick up each other's keys. Errors are logged and retried.
// ReloadInterval is the interval to use.
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

// ReloadInterval is how often Run should reload keys from storage: a
// quarter of PublishAhead, so that every replica learns a key another
// replica made well before that key signs (tokens it signs must verify
// everywhere from then on); at least a second, to spare storage; and at
// most ten seconds, so that a retirement (Retire) and its replacement,
// which signs at once, reach every replica within ten seconds. (A reload
// is one small indexed read of a few rows.)
func (k *Keyring) ReloadInterval() time.Duration {
	return min(10*time.Second, max(time.Second, k.opts.PublishAhead/4))
}

// lineSpec is a succession line this keyring signs with: the use of its
// keys and the algorithm of its next key.
type lineSpec struct{ use, alg string }

// lines lists the lines in use: access, refresh, and one line for each ID
// algorithm.
func (k *Keyring) lines() []lineSpec {
	ls := []lineSpec{{UseAccess, k.opts.Algorithm}, {UseRefresh, refreshAlg}}
	for _, alg := range k.opts.IDAlgorithms {
		ls = append(ls, lineSpec{UseID, alg})
	}
	return ls
}

// inUse reports whether line is one this keyring signs with.
func (k *Keyring) inUse(line string) bool {
	return slices.ContainsFunc(k.lines(), func(l lineSpec) bool { return lineOf(l.use, l.alg) == line })
}

// ensured is what ensure (or insert) did.
type ensured int

const (
	unchanged ensured = iota // no key was due
	created                  // this keyring stored a new key
	raced                    // another replica stored that generation first
)

// ensure creates the next key of use and algorithm alg when its line has
// none that may sign, or when the newest is due for succession; with
// force, whenever the line has no successor waiting (RotateNow).
func (k *Keyring) ensure(ctx context.Context, use, alg string, force bool) (ensured, error) {
	now := k.opts.Now()
	line := lineOf(use, alg)
	k.mu.RLock()
	last, newest := k.newest(line)
	signer := k.signer(line, now)
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
	case last == nil:
		// The first key of a line signs at once. For access and refresh
		// keys nobody can have cached a JWKS yet. For the first ID key of
		// an algorithm (a new deployment, one that predates ID keys, or a
		// client newly asking for this algorithm) there is no key of that
		// algorithm to sign meanwhile, and relying parties fetch the JWKS
		// again when they meet an unknown kid (OpenID Connect Core
		// §10.1.1); resource servers, which may cache the JWKS without
		// that, never verify ID tokens.
	case signer == nil:
		// The line has keys but none may sign: they were retired without
		// a replacement (Retire stores one before it retires a key that
		// signs, so storage was changed by other means). Nothing signs
		// meanwhile, so the next key signs at once, as a first key does.
	case newest.SignFrom.After(now):
		return unchanged, nil // a successor is already waiting
	case newest.Algorithm != alg:
		// The configured algorithm changed: succeed now, still published
		// ahead so that verifiers learn the new key before they meet it.
		signFrom = now.Add(k.opts.PublishAhead)
	case !force && now.Before(newest.SignFrom.Add(k.opts.Rotation-k.opts.PublishAhead)):
		return unchanged, nil
	default:
		signFrom = now.Add(k.opts.PublishAhead)
	}
	res, _, err := k.insert(ctx, use, alg, last, now, signFrom)
	return res, err
}

// insert makes and stores the generation after last (nil: the first) of
// use and alg, signing from signFrom. raced means another replica stored
// that generation first; the caller reloads to see it.
func (k *Keyring) insert(ctx context.Context, use, alg string, last *key, now, signFrom time.Time) (ensured, StoredKey, error) {
	gen := 1
	if last != nil {
		gen = last.Generation + 1
	}
	sk, err := k.generate(use, alg, gen, now, signFrom)
	if err != nil {
		return unchanged, StoredKey{}, err
	}
	if err := k.storage.InsertKey(ctx, sk); err != nil {
		if errors.Is(err, ErrKeyExists) {
			return raced, StoredKey{}, nil
		}
		return unchanged, StoredKey{}, fmt.Errorf("store %s key: %w", use, err)
	}
	k.opts.Logger.Info("created signing key", "use", use, "kid", sk.KID, "alg", alg, "signs_from", signFrom)
	return created, sk, nil
}

// newest returns the newest key of line (last) and the newest that is not
// retired; nil when there is none. Callers hold k.mu.
func (k *Keyring) newest(line string) (last, newest *key) {
	for _, kk := range k.keys { // sorted by line, then generation
		if kk.line == line {
			last = kk
			if kk.RetiredAt.IsZero() {
				newest = kk
			}
		}
	}
	return last, newest
}

// signer returns the key of line that signs at now: the newest that is
// not retired, has reached its SignFrom and still verifies; nil when none
// may. Callers hold k.mu.
func (k *Keyring) signer(line string, now time.Time) *key {
	for i := len(k.keys) - 1; i >= 0; i-- {
		kk := k.keys[i]
		if kk.line == line && kk.RetiredAt.IsZero() && !kk.SignFrom.After(now) && kk.verifiesAt(now) {
			return kk
		}
	}
	return nil
}

// verifiesAt reports whether the key is valid for verification at now.
func (kk *key) verifiesAt(now time.Time) bool {
	return kk.until.IsZero() || now.Before(kk.until)
}

// neverSigned reports whether the key was retired before it could sign.
func (kk *key) neverSigned() bool {
	return !kk.RetiredAt.IsZero() && !kk.RetiredAt.After(kk.SignFrom)
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
// has not parsed before. Reloads take turns (loadMu), so that one that
// read storage earlier never replaces what a later one read: once a
// retirement is stored, the next reload to start makes it hold here.
func (k *Keyring) reload(ctx context.Context) error {
	k.loadMu.Lock()
	defer k.loadMu.Unlock()
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
		if kk, ok := known[sk.ID]; ok && kk.KID == sk.KID && kk.PrivateSealed == sk.PrivateSealed {
			cp := *kk
			cp.StoredKey = sk // the same key; RetiredAt may have changed
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
	// A key is valid for verification (and published) until a later key
	// of its line has signed for as long as the longest token lifetime,
	// plus the verification leeway, which accepts tokens that long after
	// their expiry. The later key that takes over is the first to sign:
	// usually the next generation, but a replacement that Retire made
	// signs before a successor that was waiting, and a key retired before
	// its SignFrom never signs at all. A retired key stops verifying at
	// RetiredAt, whichever is sooner.
	for i, kk := range keys {
		kk.until = time.Time{}
		life := k.opts.AccessLifetime
		if kk.Use == UseRefresh {
			life = k.opts.RefreshLifetime
		}
		var takeover time.Time
		for _, next := range keys[i+1:] {
			if next.line != kk.line {
				break
			}
			if !next.neverSigned() && (takeover.IsZero() || next.SignFrom.Before(takeover)) {
				takeover = next.SignFrom
			}
		}
		switch {
		case !takeover.IsZero():
			kk.until = takeover.Add(life + leeway)
		case kk.Use == UseID && !slices.Contains(k.opts.IDAlgorithms, kk.Algorithm):
			// The newest key of an ID algorithm no client asks for any
			// more: this replica no longer signs with it or rotates it, and
			// retires it as if a successor had taken over on schedule. A
			// replica still configured for it keeps rotating it, and then
			// the rule above applies.
			kk.until = kk.SignFrom.Add(k.opts.Rotation + life + leeway)
		}
		if r := kk.RetiredAt; !r.IsZero() && (kk.until.IsZero() || r.Before(kk.until)) {
			kk.until = r
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

// signing returns the key of use that signs now (see signer). alg matters
// for ID keys only: one of the ID algorithms, "" for the default one.
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
	if kk := k.signer(lineOf(use, alg), now); kk != nil {
		return kk, nil
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
		if kk.Use == use && kk.KID == kid && kk.verifiesAt(now) {
			return kk, true
		}
	}
	return nil, false
}

// KeyInfo describes a signing key for administrators: what it is and
// where it stands in its line, never its private material.
type KeyInfo struct {
	KID        string
	Use        string
	Algorithm  string
	Generation int
	CreatedAt  time.Time
	// SignFrom is when it signs (or signed) from; it is published from
	// CreatedAt.
	SignFrom time.Time
	// Until is when it stops verifying, and leaves the JWKS: a later key's
	// SignFrom plus the longest token lifetime and the leeway, or
	// RetiredAt if sooner. Zero while neither is known.
	Until time.Time
	// RetiredAt is when it was retired (Retire); zero if it was not.
	RetiredAt time.Time
	// Signing reports whether it signs new tokens now.
	Signing bool
	// Verifying reports whether tokens it signed still verify.
	Verifying bool
	// Published reports whether it is in the JWKS: an access or ID key
	// that still verifies (refresh keys are never published).
	Published bool
}

// Keys lists every stored key, by line (access, the ID algorithms,
// refresh) and then generation, as this keyring last loaded them.
func (k *Keyring) Keys() []KeyInfo {
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KeyInfo, 0, len(k.keys))
	for _, kk := range k.keys {
		out = append(out, k.info(kk, now))
	}
	return out
}

// info describes kk at now. Callers hold k.mu.
func (k *Keyring) info(kk *key, now time.Time) KeyInfo {
	verifying := kk.verifiesAt(now)
	return KeyInfo{
		KID: kk.KID, Use: kk.Use, Algorithm: kk.Algorithm, Generation: kk.Generation,
		CreatedAt: kk.CreatedAt, SignFrom: kk.SignFrom, Until: kk.until, RetiredAt: kk.RetiredAt,
		Signing:   k.inUse(kk.line) && k.signer(kk.line, now) == kk,
		Verifying: verifying, Published: verifying && kk.Use != UseRefresh,
	}
}

// Rotation is what RotateNow did on one line of keys.
type Rotation struct {
	// Key is the line's successor: published now, signing from its
	// SignFrom.
	Key KeyInfo
	// Created reports whether this call made it. False means it was
	// already waiting: made on schedule, by an earlier RotateNow, or by
	// another replica at the same moment.
	Created bool
}

// RotateNow starts a succession on every line in use (access, refresh,
// each ID algorithm) that has no successor waiting, whatever the keys'
// age: the next generation is published now and signs from now plus
// PublishAhead, so that verifiers learn it before they meet a token it
// signed, as on schedule. A line whose successor is already waiting is
// left as it is. It is idempotent across replicas: two that rotate at
// once store one key per line (see StoredKey.ID). It reports each line's
// successor.
func (k *Keyring) RotateNow(ctx context.Context) ([]Rotation, error) {
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	lines := k.lines()
	made := make([]bool, len(lines))
	for i, l := range lines {
		res, err := k.ensure(ctx, l.use, l.alg, true)
		if err != nil {
			return nil, err
		}
		made[i] = res == created
	}
	if err := k.reload(ctx); err != nil {
		return nil, err
	}
	now := k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Rotation, 0, len(lines))
	for i, l := range lines {
		if _, newest := k.newest(lineOf(l.use, l.alg)); newest != nil {
			out = append(out, Rotation{Key: k.info(newest, now), Created: made[i]})
		}
	}
	return out, nil
}

// Retirement is what Retire did.
type Retirement struct {
	// Key is the retired key, as it is now.
	Key KeyInfo
	// Replacement is the key that took over signing at once for this
	// retirement: stored by this call, or by another replica retiring
	// the same key at the same moment. It is nil when the retired key
	// neither signed nor was waiting to (a later key signs already: a
	// successor on schedule, or the replacement of an earlier attempt
	// that failed half-way), or was retired before; Keyring.Keys tells
	// which key signs.
	Replacement *KeyInfo
}

// retireAttempts bounds Retire's tries to store a replacement while other
// replicas store keys of the same line.
const retireAttempts = 3

// Retire retires the key with this kid at once: the emergency for a key
// that leaked. It never signs again, and every token it signed stops
// verifying here at once (ParseAccess, ParseRefresh, ParseIDHint) and
// leaves the JWKS, so that backends refuse those tokens when they next
// fetch it. Other replicas learn it when they next reload
// (ReloadInterval).
//
// If the key signs now for its line, or is a successor waiting to, Retire
// first stores a new generation of that line that signs at once (there is
// no time to publish it ahead: verifiers that cached the JWKS fetch it
// again for the unknown kid), then retires the key, so that a failure in
// between leaves a line that signs and a call that can be repeated.
// Retiring a refresh key ends every refresh token it signed: their people
// sign in again. Retiring a key that is already retired changes nothing.
func (k *Keyring) Retire(ctx context.Context, kid string) (Retirement, error) {
	var (
		target  *key
		replace bool // the key signed or was waiting to: a replacement signs now
		now     time.Time
	)
	for attempt := 1; ; attempt++ {
		if err := k.reload(ctx); err != nil {
			return Retirement{}, err
		}
		now = k.opts.Now()
		k.mu.RLock()
		target = k.byKID(kid)
		var last *key
		needs := false
		signFrom := now
		if target != nil {
			last, _ = k.newest(target.line)
			needs = target.RetiredAt.IsZero() && k.inUse(target.line) && !k.succeeded(target, now)
			if s := k.signer(target.line, now); target.SignFrom.After(now) && s != nil && s != target {
				// A successor that was only waiting: the key signing now is
				// fine, so the replacement is published ahead like any
				// successor, and verifiers learn it before they meet it.
				signFrom = now.Add(k.opts.PublishAhead)
			}
		}
		k.mu.RUnlock()
		if target == nil {
			return Retirement{}, fmt.Errorf("retire signing key %q: %w", kid, ErrUnknownKey)
		}
		if attempt == 1 {
			replace = needs
		}
		if !needs {
			break
		}
		if attempt > retireAttempts {
			return Retirement{}, fmt.Errorf("retire signing key %q: other replicas kept storing keys of its line; try again", kid)
		}
		alg := target.Algorithm
		if target.Use == UseAccess {
			alg = k.opts.Algorithm
		}
		res, sk, err := k.insert(ctx, target.Use, alg, last, now, signFrom)
		if err != nil {
			return Retirement{}, fmt.Errorf("retire signing key %q: replacement: %w", kid, err)
		}
		if res == created {
			k.opts.Logger.Warn("replacement signing key stored", "use", sk.Use, "kid", sk.KID, "replaces", kid, "signs_from", sk.SignFrom)
			break
		}
		// Another replica stored that generation first: a successor on
		// schedule, or the same retirement. Look again.
	}
	if target.RetiredAt.IsZero() {
		if err := k.storage.RetireKey(ctx, target.ID, now); err != nil {
			return Retirement{}, fmt.Errorf("retire signing key %q: %w", kid, err)
		}
		k.opts.Logger.Warn("retired signing key", "use", target.Use, "kid", kid, "alg", target.Algorithm)
	}
	if err := k.reload(ctx); err != nil {
		return Retirement{}, err
	}
	now = k.opts.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var r Retirement
	if kk := k.byKID(kid); kk != nil {
		r.Key = k.info(kk, now)
	}
	if replace {
		// The newest live key of the line: signing now, or published and
		// waiting (the replacement of a waiting successor).
		if _, s := k.newest(target.line); s != nil && s.KID != kid {
			info := k.info(s, now)
			r.Replacement = &info
		}
	}
	return r, nil
}

// byKID returns the key with this kid, or nil. Callers hold k.mu.
func (k *Keyring) byKID(kid string) *key {
	for _, kk := range k.keys {
		if kk.KID == kid {
			return kk
		}
	}
	return nil
}

// succeeded reports whether a later key of kk's line signs at now, so that
// kk neither signs nor will. Callers hold k.mu.
func (k *Keyring) succeeded(kk *key, now time.Time) bool {
	for _, other := range k.keys {
		if other.line == kk.line && other.Generation > kk.Generation && other.RetiredAt.IsZero() && !other.SignFrom.After(now) {
			return true
		}
	}
	return false
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
		if kk.Use == UseAccess && kk.verifiesAt(now) && !slices.Contains(algs, kk.Algorithm) {
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
		if (kk.Use != UseAccess && kk.Use != UseID) || !kk.verifiesAt(now) {
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
