package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// This file splits and decodes a compact JWS (RFC 7515 §7.1) and reads the
// header and claims that matter. golang-jwt verifies the signatures; the
// decoding is done here because encoding/json matches object keys without
// regard to case ("SID" would fill sid when sid is absent) and decoding
// into a map costs more than the rest of Verify besides the signature.
// Member names are matched exactly, a repeated protocol member makes the
// token Malformed (RFC 7515 §4: reject or take the last; rejecting is
// safer), and the whole segment must be valid JSON first.

// methods are the signature algorithms a verifier may allow; HS* and none
// are absent on purpose.
var methods = map[string]jwt.SigningMethod{
	"ES256": jwt.SigningMethodES256,
	"RS256": jwt.SigningMethodRS256,
	"PS256": jwt.SigningMethodPS256,
	"EdDSA": jwt.SigningMethodEdDSA,
}

var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header of a token.
type header struct {
	alg, typ, kid string
	// refused names a parameter that is present and never accepted.
	refused string
}

// splitToken decodes the three segments of a compact JWS.
func splitToken(token string) (h header, payload []byte, signingInput string, sig []byte, err error) {
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	if i < 0 || i == j || strings.IndexByte(token[i+1:j], '.') >= 0 {
		return h, nil, "", nil, errors.New("not three dot-separated segments")
	}
	rawHeader, err := b64.DecodeString(token[:i])
	if err != nil {
		return h, nil, "", nil, fmt.Errorf("header: %w", err)
	}
	if h, err = parseHeader(rawHeader); err != nil {
		return h, nil, "", nil, fmt.Errorf("header: %w", err)
	}
	if payload, err = b64.DecodeString(token[i+1 : j]); err != nil {
		return h, nil, "", nil, fmt.Errorf("claims: %w", err)
	}
	if sig, err = b64.DecodeString(token[j+1:]); err != nil {
		return h, nil, "", nil, fmt.Errorf("signature: %w", err)
	}
	return h, payload, token[:j], sig, nil
}

func parseHeader(b []byte) (header, error) {
	var h header
	var seen uint8
	err := eachMember(b, func(name, raw []byte) error {
		var bit uint8
		var dst *string
		switch string(name) {
		case "alg":
			bit, dst = 1, &h.alg
		case "typ":
			bit, dst = 2, &h.typ
		case "kid":
			bit, dst = 4, &h.kid
		case "jwk", "jku", "x5u", "x5c", "crit":
			// Keys come from the issuer's JWKS only (RFC 8725 §3.10);
			// socialbridge never sets these, and crit names extensions
			// this package does not implement (RFC 7515 §4.1.11).
			if h.refused == "" {
				h.refused = string(name)
			}
			return nil
		default:
			return nil
		}
		if seen&bit != 0 {
			return fmt.Errorf("%q is repeated", name)
		}
		seen |= bit
		s, ok := stringValue(raw)
		if !ok {
			return fmt.Errorf("%q is not a string", name)
		}
		*dst = s
		return nil
	})
	return h, err
}

// accessClaims are the claims of an access token (RFC 9068 §2.2 and
// socialbridge's user claims) that have a field in Claims.
type accessClaims struct {
	iss, sub, jti, clientID, sid, scope, idp string
	aud                                      []string
	exp, nbf, iat, authTime                  time.Time // zero when absent

	email, name, picture string
	emailVerified        bool
	roles                []string
}

// Bits of the protocol members, to refuse repeats.
const (
	cIss = 1 << iota
	cSub
	cAud
	cExp
	cNbf
	cIat
	cAuthTime
	cJTI
	cClientID
	cSid
	cScope
	cIDP
)

// parseClaims reads the claims. A protocol claim of the wrong JSON type or
// repeated makes the token Malformed; a user claim of an unexpected type
// is ignored (its field stays empty; Raw still has it).
func parseClaims(b []byte) (accessClaims, error) {
	var c accessClaims
	var seen uint16
	err := eachMember(b, func(name, raw []byte) error {
		var bit uint16
		var str *string
		var tm *time.Time
		switch string(name) {
		case "iss":
			bit, str = cIss, &c.iss
		case "sub":
			bit, str = cSub, &c.sub
		case "jti":
			bit, str = cJTI, &c.jti
		case "client_id":
			bit, str = cClientID, &c.clientID
		case "sid":
			bit, str = cSid, &c.sid
		case "scope":
			bit, str = cScope, &c.scope
		case "idp":
			bit, str = cIDP, &c.idp
		case "exp":
			bit, tm = cExp, &c.exp
		case "nbf":
			bit, tm = cNbf, &c.nbf
		case "iat":
			bit, tm = cIat, &c.iat
		case "auth_time":
			bit, tm = cAuthTime, &c.authTime
		case "aud":
			bit = cAud
		case "email":
			c.email, _ = stringValue(raw)
			return nil
		case "name":
			c.name, _ = stringValue(raw)
			return nil
		case "picture":
			c.picture, _ = stringValue(raw)
			return nil
		case "email_verified":
			c.emailVerified = string(raw) == "true"
			return nil
		case "roles":
			c.roles = stringList(raw)
			return nil
		default:
			return nil
		}
		if seen&bit != 0 {
			return fmt.Errorf("claim %q is repeated", name)
		}
		seen |= bit
		switch {
		case str != nil:
			s, ok := stringValue(raw)
			if !ok {
				return fmt.Errorf("claim %q is not a string", name)
			}
			*str = s
		case tm != nil:
			t, ok := numericDate(raw)
			if !ok {
				return fmt.Errorf("claim %q is not a NumericDate", name)
			}
			*tm = t
		default: // aud: a string or an array of strings (RFC 7519 §4.1.3)
			if s, ok := stringValue(raw); ok {
				c.aud = []string{s}
				return nil
			}
			list, all := stringArray(raw)
			if !all {
				return errors.New(`claim "aud" is neither a string nor an array of strings`)
			}
			c.aud = list
		}
		return nil
	})
	return c, err
}

// eachMember calls f with the name and raw value of each member of the
// JSON object b, in order. b must be valid JSON; it is checked first, so
// that the scanning below can rely on it.
func eachMember(b []byte, f func(name, raw []byte) error) error {
	if !json.Valid(b) {
		return errors.New("not valid JSON")
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(b, i+1)
	for b[i] != '}' {
		end := endOfValue(b, i) // the name, a string
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			_ = json.Unmarshal(b[i:end], &s) // valid, as checked
			name = []byte(s)
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		end = endOfValue(b, i)
		if err := f(name, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfValue returns the index just past the valid JSON value at b[i].
func endOfValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = endOfString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // a number, true, false or null
		for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
			i++
		}
		return i
	}
}

// endOfString returns the index just past the string that opens at b[i].
func endOfString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// stringValue decodes a JSON string, as encoding/json does (invalid UTF-8
// becomes U+FFFD).
func stringValue(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// numericDate decodes a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional.
func numericDate(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// stringList decodes an array keeping its strings, or a lone string; any
// other value gives nil.
func stringList(raw []byte) []string {
	if s, ok := stringValue(raw); ok {
		return []string{s}
	}
	list, _ := stringArray(raw)
	return list
}

// stringArray decodes the strings of a JSON array, and reports whether it
// was an array of strings only.
func stringArray(raw []byte) ([]string, bool) {
	if raw[0] != '[' {
		return nil, false
	}
	n := 0
	eachElement(raw, func([]byte) { n++ })
	list := make([]string, 0, n)
	all := true
	eachElement(raw, func(v []byte) {
		if s, ok := stringValue(v); ok {
			list = append(list, s)
		} else {
			all = false
		}
	})
	return list, all
}

// eachElement calls f with each element of the valid JSON array b.
func eachElement(b []byte, f func(raw []byte)) {
	i := skipSpace(b, 1)
	for i < len(b) && b[i] != ']' {
		end := endOfValue(b, i)
		f(b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}
