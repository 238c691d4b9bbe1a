package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var claimSeeds = []string{
	`{"iss":"https://a","sub":"u","aud":["x","y"],"exp":1700000000,"iat":1699999000,"jti":"j","client_id":"c","sid":"s","scope":"a b","roles":["r1",2,"r2"],"email":"e","email_verified":true,"name":"n","picture":"p","auth_time":1699990000.5}`,
	`{"aud":"x"}`,
	` { "sub" : "u" , "nested" : {"sub": "evil", "a": [1, {"sid": "x"}]}, "sid" : "s" } `,
	`{"SUB":"upper","Sid":"mixed","sub":"lower"}`,
	`{"SID":"only-upper"}`,
	`{"\u0073ub":"escaped name","name":"tab\tand \"quotes\" and \u00e9"}`,
	`{"sub":"a","sub":"b"}`,
	`{"\u0073ub":"a","sub":"b"}`,
	`{"exp":"tomorrow"}`,
	`{"exp":-1}`,
	`{"exp":1e300}`,
	`{"exp":1.7e9}`,
	`{"aud":[1,2]}`,
	`{"aud":{"x":1}}`,
	`{"sub":5}`,
	`{"roles":"admin"}`,
	`{"roles":{"admin":true}}`,
	`{"email_verified":"true"}`,
	`{"a":"]}\\","sub":"after a tricky string"}`,
	`{}`,
	`[]`,
	`"sub"`,
	`{"sub":"u"`,
	`{"sub":"u"}x`,
	``,
	"{\"sub\":\"\xe4\"}",
	`{"":1e700}`,
}

// FuzzParseClaims checks the claims scanner against encoding/json: on any
// input it accepts, every field is what a case-sensitive decode into a map
// (last member wins) gives; anything it refuses is invalid JSON, not an
// object, or has a protocol claim repeated or of the wrong type.
func FuzzParseClaims(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseClaims(b)
		m, refErr := decodeMap(b)
		if refErr != nil || m == nil {
			if err == nil && !(json.Valid(b) && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))) {
				t.Fatalf("parseClaims accepted %q, which encoding/json refuses: %v", b, refErr)
			}
			if err == nil && refErr != nil {
				t.Fatalf("parseClaims accepted %q, which encoding/json refuses: %v", b, refErr)
			}
			return
		}
		if err != nil {
			if !hasRepeatedMember(b) && !hasBadProtocolClaim(m) {
				t.Fatalf("parseClaims refused %q: %v; but nothing is repeated or mistyped", b, err)
			}
			return
		}
		str := func(name string) string { s, _ := m[name].(string); return s }
		for _, c := range []struct {
			name string
			got  string
		}{{"iss", got.iss}, {"sub", got.sub}, {"jti", got.jti}, {"client_id", got.clientID}, {"sid", got.sid},
			{"scope", got.scope}, {"idp", got.idp}, {"email", got.email}, {"name", got.name}, {"picture", got.picture}} {
			if c.got != str(c.name) {
				t.Fatalf("%q: %s = %q, encoding/json says %q", b, c.name, c.got, str(c.name))
			}
		}
		for _, c := range []struct {
			name string
			got  time.Time
		}{{"exp", got.exp}, {"nbf", got.nbf}, {"iat", got.iat}, {"auth_time", got.authTime}} {
			f, ok := number(m[c.name])
			if ok != !c.got.IsZero() {
				t.Fatalf("%q: %s = %v, encoding/json says %v", b, c.name, c.got, m[c.name])
			}
			if ok {
				sec, frac := math.Modf(f)
				if want := time.Unix(int64(sec), int64(frac*1e9)); !want.Equal(c.got) {
					t.Fatalf("%q: %s = %v, want %v", b, c.name, c.got, want)
				}
			}
		}
		if want := stringsOf(m["aud"]); !slices.Equal(got.aud, want) {
			t.Fatalf("%q: aud = %q, want %q", b, got.aud, want)
		}
		if want := stringsOf(m["roles"]); !slices.Equal(got.roles, want) {
			t.Fatalf("%q: roles = %q, want %q", b, got.roles, want)
		}
		if want, _ := m["email_verified"].(bool); got.emailVerified != want {
			t.Fatalf("%q: email_verified = %v, want %v", b, got.emailVerified, want)
		}
	})
}

// decodeMap is the reference: encoding/json into a map, numbers kept as
// json.Number so that a huge number in a claim nobody reads is no error.
func decodeMap(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// stringsOf is the strings of a decoded array, or a lone string.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := []string{}
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

var protocolClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "auth_time", "jti", "client_id", "sid", "scope", "idp"}

// hasRepeatedMember reports whether a top-level protocol claim appears
// twice, by name after unescaping.
func hasRepeatedMember(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := t.(string)
		if seen[name] && slices.Contains(protocolClaims, name) {
			return true
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

func hasBadProtocolClaim(m map[string]any) bool {
	for _, name := range protocolClaims {
		v, ok := m[name]
		if !ok {
			continue
		}
		switch name {
		case "exp", "nbf", "iat", "auth_time":
			if f, ok := number(v); !ok || f < 0 || f > 1e11 {
				return true
			}
		case "aud":
			if _, ok := v.(string); ok {
				continue
			}
			list, ok := v.([]any)
			if !ok {
				return true
			}
			for _, e := range list {
				if _, ok := e.(string); !ok {
					return true
				}
			}
		default:
			if _, ok := v.(string); !ok {
				return true
			}
		}
	}
	return false
}

func TestParseClaimsMatchesNamesExactly(t *testing.T) {
	c, err := parseClaims([]byte(`{"SUB":"upper","Sid":"mixed","sub":"lower","SCOPE":"admin"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.sub != "lower" || c.sid != "" || c.scope != "" {
		t.Fatalf("sub %q sid %q scope %q: a name in another case filled a claim", c.sub, c.sid, c.scope)
	}
	if _, err := parseClaims([]byte(`{"\u0073ub":"a","sub":"b"}`)); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("a repeated sub spelled with an escape: %v", err)
	}
	c, err = parseClaims([]byte(`{"n":{"sub":"nested"},"a":"}\"sub\":","sub":"top"}`))
	if err != nil || c.sub != "top" {
		t.Fatalf("nested and quoted lookalikes: sub %q, %v", c.sub, err)
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{`{"alg":"ES256","typ":"at+jwt","kid":"k"}`, "ES256 at+jwt k ", ""},
		{`{"alg":"ES256","kid":"k","jku":"https://evil"}`, "ES256  k jku", ""},
		{`{"alg":"ES256","alg":"none"}`, "", "repeated"},
		{`{"alg":"ES256","kid":7}`, "", "not a string"},
		{`{"alg":"ES256"`, "", "not valid JSON"},
		{`["alg"]`, "", "not a JSON object"},
	} {
		h, err := parseHeader([]byte(tc.in))
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("%s: err = %v, want %q", tc.in, err, tc.problem)
			}
			continue
		}
		if got := h.alg + " " + h.typ + " " + h.kid + " " + h.refused; err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
