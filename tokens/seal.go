// Package tokens holds socialbridge's own token machinery: signing keys
// (generated, sealed, stored, shared by replicas, rotated with a
// publish-ahead period and retired after their last token expires), the
// JWKS, minting and parsing of access (RFC 9068), ID and refresh tokens, and
// the Sealer that encrypts secrets at rest. It does no I/O of its own: keys
// are persisted through the KeyStorage interface.
package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts secrets at rest (provider tokens, private signing keys)
// with AES-256-GCM. A sealed value names the key that sealed it, so that a
// future key rotation can still open old values.
type Sealer struct {
	keyID string
	aead  cipher.AEAD
}

// sealPrefix versions the sealed format.
const sealPrefix = "v1."

// ErrUnseal means a sealed value could not be opened: wrong key, wrong
// context or tampered bytes.
var ErrUnseal = errors.New("cannot open sealed value")

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create GCM: %w", err)
	}
	sum := sha256.Sum256(append([]byte("socialbridge key id\x00"), key...))
	return &Sealer{keyID: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// Seal encrypts plaintext. context binds the ciphertext to where it is
// stored (for example "user:123:google:refresh_token"), so that a value
// copied to another field or record does not open.
func (s *Sealer) Seal(plaintext []byte, context string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("read nonce: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, plaintext, []byte(context))
	return sealPrefix + s.keyID + "." + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal with the same context.
func (s *Sealer) Open(sealed, context string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: unknown format", ErrUnseal)
	}
	keyID, body, ok := strings.Cut(rest, ".")
	if !ok || keyID != s.keyID {
		return nil, fmt.Errorf("%w: sealed with another key (%q)", ErrUnseal, keyID)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed", ErrUnseal)
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrUnseal)
	}
	return pt, nil
}

// SealString is Seal for strings; the empty string stays empty.
func (s *Sealer) SealString(plaintext, context string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	return s.Seal([]byte(plaintext), context)
}
