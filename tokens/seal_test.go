package tokens_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/tokens"
)

func TestNewSealerAcceptsOnly32ByteKeys(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if _, err := tokens.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer with a %d-byte key succeeded, want an error", n)
		}
	}
	if _, err := tokens.NewSealer(make([]byte, 32)); err != nil {
		t.Errorf("NewSealer with a 32-byte key: %v", err)
	}
}

func TestSealerRoundTrips(t *testing.T) {
	t.Parallel()
	key := randomBytes(t, 32)
	s := newSealer(t, key)
	tests := []struct {
		name      string
		plaintext []byte
		context   string
	}{
		{"a short secret opens again", []byte("ya29.provider-refresh-token"), "user:1:google:refresh_token"},
		{"an empty plaintext opens as empty", []byte{}, "ctx"},
		{"binary data opens unchanged", []byte{0, 1, 2, 0xff, 0xfe, 0}, "bin"},
		{"a large value opens unchanged", bytes.Repeat([]byte("x"), 64<<10), "big"},
		{"an empty context works too", []byte("secret"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := s.Seal(tt.plaintext, tt.context)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tt.plaintext) > 8 && strings.Contains(sealed, string(tt.plaintext)) {
				t.Fatal("sealed value contains the plaintext")
			}
			for name, opener := range map[string]*tokens.Sealer{"same sealer": s, "new sealer, same key": newSealer(t, key)} {
				got, err := opener.Open(sealed, tt.context)
				if err != nil {
					t.Fatalf("%s: Open: %v", name, err)
				}
				if !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("%s: Open = %q, want %q", name, got, tt.plaintext)
				}
			}
		})
	}
}

func TestSealingTheSameValueTwiceGivesDifferentCiphertexts(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomBytes(t, 32))
	a, err := s.Seal([]byte("same"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal([]byte("same"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
}

func TestSealerRefusesWhatItShouldNotOpen(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomBytes(t, 32))
	other := newSealer(t, randomBytes(t, 32))
	const ctx = "user:1:google:refresh_token"
	sealed, err := s.Seal([]byte("provider secret"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix, body, _ := cutBody(t, sealed)
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return prefix + base64.RawURLEncoding.EncodeToString(b)
	}
	otherSealed, err := other.Seal([]byte("provider secret"), ctx)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opener  *tokens.Sealer
		sealed  string
		context string
	}{
		{"a value under another context", s, sealed, "user:2:google:refresh_token"},
		{"a value under an empty context", s, sealed, ""},
		{"a value with a flipped nonce byte", s, flip(0), ctx},
		{"a value with a flipped ciphertext byte", s, flip(12), ctx},
		{"a value with a flipped tag byte", s, flip(len(raw) - 1), ctx},
		{"a value truncated by one byte", s, prefix + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), ctx},
		{"a value shorter than a nonce", s, prefix + base64.RawURLEncoding.EncodeToString(raw[:5]), ctx},
		{"a value sealed by a Sealer with another key", other, sealed, ctx},
		{"another key's value even with its key id rewritten", s, swapKeyID(t, otherSealed, sealed), ctx},
		{"a value without the version prefix", s, strings.TrimPrefix(sealed, "v1."), ctx},
		{"a value with an unknown version", s, "v2." + strings.TrimPrefix(sealed, "v1."), ctx},
		{"a value without a key id", s, "v1." + body, ctx},
		{"a body that is not base64url", s, prefix + "!!!not base64!!!", ctx},
		{"the empty string", s, "", ctx},
	}
	for _, tt := range tests {
		t.Run(tt.name+" does not open", func(t *testing.T) {
			t.Parallel()
			got, err := tt.opener.Open(tt.sealed, tt.context)
			if !errors.Is(err, tokens.ErrUnseal) {
				t.Fatalf("Open = %q, %v; want an error wrapping ErrUnseal", got, err)
			}
		})
	}
}

func TestSealStringKeepsTheEmptyStringEmpty(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomBytes(t, 32))
	got, err := s.SealString("", "ctx")
	if err != nil || got != "" {
		t.Fatalf(`SealString("") = %q, %v; want "", nil`, got, err)
	}
	sealed, err := s.SealString("refresh-token", "ctx")
	if err != nil || sealed == "" || sealed == "refresh-token" {
		t.Fatalf("SealString = %q, %v; want a sealed value", sealed, err)
	}
	pt, err := s.Open(sealed, "ctx")
	if err != nil || string(pt) != "refresh-token" {
		t.Fatalf("Open(SealString) = %q, %v", pt, err)
	}
}

// cutBody splits a sealed value into "v1.<keyid>." and its base64 body.
func cutBody(t *testing.T, sealed string) (prefix, body, keyID string) {
	t.Helper()
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		t.Fatalf("sealed value %q is not v1.<keyid>.<body>", sealed)
	}
	return parts[0] + "." + parts[1] + ".", parts[2], parts[1]
}

// swapKeyID returns from with the key id of like, so that only the
// authentication tag can tell that the key differs.
func swapKeyID(t *testing.T, from, like string) string {
	t.Helper()
	_, body, _ := cutBody(t, from)
	prefix, _, _ := cutBody(t, like)
	return prefix + body
}

func TestASealerOpensWhatOlderKeysSealedAndSealsWithTheNewOne(t *testing.T) {
	t.Parallel()
	oldKey, newKey := randomBytes(t, 32), randomBytes(t, 32)
	const ctx = "user:1:google:refresh_token"
	before, err := newSealer(t, oldKey).Seal([]byte("sealed before the key changed"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokens.NewSealer(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(before, ctx); err != nil || string(got) != "sealed before the key changed" {
		t.Fatalf("Open(value sealed with the older key) = %q, %v", got, err)
	}
	after, err := s.Seal([]byte("new"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSealer(t, newKey).Open(after, ctx); err != nil {
		t.Errorf("a new value is not sealed with the new key: %v", err)
	}
	if _, err := newSealer(t, oldKey).Open(after, ctx); !errors.Is(err, tokens.ErrUnseal) {
		t.Errorf("a new value opens with the older key: %v", err)
	}
	if _, err := tokens.NewSealer(newKey, make([]byte, 16)); err == nil {
		t.Error("NewSealer accepted a 16-byte older key")
	}
}
