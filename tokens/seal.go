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
// with AES-256-GCM. A sealed value names the key that sealed it, so that
// values sealed with an older key still open after the key changes.
type Sealer struct {
	keyID string
	aead  cipher.AEAD
	// open holds every key a value may have been sealed with, by key id:
	// the sealing key and the older ones.
	open map[string]cipher.AEAD
}

// sealPrefix versions the sealed format.
const sealPrefix = "v1."

// ErrUnseal means a sealed value could not be opened: wrong key, wrong
// context or tampered bytes.
var ErrUnseal = errors.New("cannot open sealed value")

// NewSealer returns a Sealer that seals with key and opens values sealed
// with key or with any of older (all 32 bytes). Older keys let data sealed
// before a key change stay readable; it is sealed with key when next
// written.
func NewSealer(key []byte, older ...[]byte) (*Sealer, error) {
	s := &Sealer{open: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{key}, older...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("encryption key must be 32 bytes, got %d", len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("create cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("create GCM: %w", err)
		}
		sum := sha256.Sum256(append([]byte("socialbridge key id\x00"), k...))
		id := hex.EncodeToString(sum[:4])
		if i == 0 {
			s.keyID, s.aead = id, aead
		}
		if _, dup := s.open[id]; !dup {
			s.open[id] = aead
		}
	}
	return s, nil
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
	aead, known := s.open[keyID]
	if !ok || !known {
		return nil, fmt.Errorf("%w: sealed with another key (%q)", ErrUnseal, keyID)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed", ErrUnseal)
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, raw[:n], raw[n:], []byte(context))
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
