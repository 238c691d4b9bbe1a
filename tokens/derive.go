package tokens

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Purposes of the keys derived from the master encryption key. Each use
// gets its own key (NIST SP 800-108 / RFC 5869: one key, one purpose), so
// that a value made for one can never be taken for another. Changing a
// label makes every value made with the old key unreadable.
const (
	// PurposeSealing encrypts secrets at rest (the Sealer).
	PurposeSealing = "socialbridge sealing v1"
	// PurposeLoginFlow authenticates login states and derives each flow's
	// provider nonce and PKCE verifier.
	PurposeLoginFlow = "socialbridge login flow v1"
)

// DeriveKey derives the 32-byte key for purpose from the master key with
// HKDF-SHA256.
func DeriveKey(master []byte, purpose string) ([]byte, error) {
	if len(master) < 32 {
		return nil, fmt.Errorf("derive %s key: master key must be at least 32 bytes, got %d", purpose, len(master))
	}
	k, err := hkdf.Key(sha256.New, master, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", purpose, err)
	}
	return k, nil
}
