package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// Audit event types of signing-key administration.
const (
	// AuditKeysRotated records one line's successor after RotateKeys:
	// made by the call, or already waiting (detail created).
	AuditKeysRotated = "keys_rotated"
	// AuditKeyRetired records a retired key and its replacement, if any.
	AuditKeyRetired = "key_retired"
)

// ErrCodeKeyNotFound: no signing key has this kid.
const ErrCodeKeyNotFound = "key_not_found"

// KeyInfo is a signing key as administrators see it: what it is and where
// it stands, never its private material.
type KeyInfo struct {
	KID        string    `json:"kid"`
	Use        string    `json:"use"`
	Algorithm  string    `json:"alg"`
	Generation int       `json:"generation"`
	CreatedAt  time.Time `json:"created_at"`
	// SignFrom is when it signs (or signed) from; it is published from
	// CreatedAt.
	SignFrom time.Time `json:"sign_from"`
	// Until is when it stops verifying and leaves the JWKS; absent while
	// that is not known yet (no successor has taken over).
	Until     time.Time `json:"until,omitzero"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// Signing: it signs new tokens now. Verifying: tokens it signed are
	// still accepted. Published: it is in the JWKS.
	Signing   bool `json:"signing"`
	Verifying bool `json:"verifying"`
	Published bool `json:"published"`
}

func keyInfo(k tokens.KeyInfo) KeyInfo {
	return KeyInfo{
		KID: k.KID, Use: k.Use, Algorithm: k.Algorithm, Generation: k.Generation, CreatedAt: k.CreatedAt,
		SignFrom: k.SignFrom, Until: k.Until, RetiredAt: k.RetiredAt,
		Signing: k.Signing, Verifying: k.Verifying, Published: k.Published,
	}
}

// SigningKeys lists the signing keys of every use, as this replica last
// loaded them: by line (access, each ID algorithm, refresh), then
// generation.
func (b *Bridge) SigningKeys() []KeyInfo {
	keys := b.o.Issuer.Keys().Keys()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = keyInfo(k)
	}
	return out
}

// KeyRotation is one line's successor after RotateKeys.
type KeyRotation struct {
	KeyInfo
	// Created reports whether this call made it; false means it was
	// already waiting to sign.
	Created bool `json:"created"`
}

// RotateKeys starts a key succession now on every line of keys (access,
// refresh, each ID algorithm) that has none under way: each successor is
// published at once and signs after tokens.key_publish_ahead, so that
// backends learn it first, as on schedule (tokens.Keyring.RotateNow).
// Replicas that rotate at once store one successor per line, and a second
// call while successors wait changes nothing. ip is the administrator's
// address, for the audit trail.
func (b *Bridge) RotateKeys(ctx context.Context, ip string) ([]KeyRotation, error) {
	return b.RotateKeysAs(ctx, Admin, ip)
}

// RotateKeysAs is RotateKeys with the actor of the audit trail (Admin,
// CLI).
func (b *Bridge) RotateKeysAs(ctx context.Context, actor, ip string) ([]KeyRotation, error) {
	rotations, err := b.o.Issuer.Keys().RotateNow(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}
	out := make([]KeyRotation, len(rotations))
	for i, r := range rotations {
		out[i] = KeyRotation{KeyInfo: keyInfo(r.Key), Created: r.Created}
		b.audit(ctx, store.AuditEvent{Type: AuditKeysRotated, Actor: actor, IP: ip, Detail: map[string]string{
			"kid": r.Key.KID, "use": r.Key.Use, "alg": r.Key.Algorithm, "generation": strconv.Itoa(r.Key.Generation),
			"sign_from": r.Key.SignFrom.UTC().Format(time.RFC3339), "created": strconv.FormatBool(r.Created),
		}})
		b.o.Logger.InfoContext(ctx, "signing key rotation", "kid", r.Key.KID, "use", r.Key.Use, "alg", r.Key.Algorithm,
			"sign_from", r.Key.SignFrom, "created", r.Created, "actor", actor)
	}
	return out, nil
}

// KeyRetirement is the outcome of RetireKey.
type KeyRetirement struct {
	// Retired is the retired key, as it is now.
	Retired KeyInfo `json:"retired"`
	// Replacement is the key made to sign at once in its place; nil when
	// the retired key did not sign and was not waiting to, or was
	// retired before.
	Replacement *KeyInfo `json:"replacement"`
}

// RetireKey retires the signing key with this kid at once: the emergency
// for a key that leaked (tokens.Keyring.Retire). It never signs again;
// every token it signed is refused here at once, on other replicas when
// they next reload their keys (within ten seconds, see
// tokens.Keyring.ReloadInterval), and by backends when they next fetch the
// JWKS, which no longer lists it. If it signed, or was
// waiting to, a new key of its line signs from now on. Retiring a refresh
// key ends every refresh token it signed: those people sign in again.
// Retiring a retired key changes nothing. ip is the administrator's
// address, for the audit trail.
func (b *Bridge) RetireKey(ctx context.Context, kid, ip string) (*KeyRetirement, error) {
	return b.RetireKeyAs(ctx, kid, Admin, ip)
}

// RetireKeyAs is RetireKey with the actor of the audit trail (Admin, CLI).
func (b *Bridge) RetireKeyAs(ctx context.Context, kid, actor, ip string) (*KeyRetirement, error) {
	if kid == "" || len(kid) > 128 {
		return nil, &OAuthError{Code: ErrCodeKeyNotFound, Description: "no signing key has this kid"}
	}
	r, err := b.o.Issuer.Keys().Retire(ctx, kid)
	if errors.Is(err, tokens.ErrUnknownKey) {
		return nil, &OAuthError{Code: ErrCodeKeyNotFound, Description: "no signing key has this kid"}
	}
	if err != nil {
		return nil, fmt.Errorf("retire signing key: %w", err)
	}
	out := &KeyRetirement{Retired: keyInfo(r.Key)}
	detail := map[string]string{
		"kid": r.Key.KID, "use": r.Key.Use, "alg": r.Key.Algorithm, "generation": strconv.Itoa(r.Key.Generation),
		"retired_at": r.Key.RetiredAt.UTC().Format(time.RFC3339Nano),
	}
	if r.Replacement != nil {
		rep := keyInfo(*r.Replacement)
		out.Replacement = &rep
		detail["replacement_kid"] = rep.KID
	}
	b.audit(ctx, store.AuditEvent{Type: AuditKeyRetired, Actor: actor, IP: ip, Detail: detail})
	b.o.Logger.WarnContext(ctx, "signing key retired", "kid", r.Key.KID, "use", r.Key.Use, "alg", r.Key.Algorithm,
		"replacement_kid", detail["replacement_kid"], "actor", actor)
	return out, nil
}
