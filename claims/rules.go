package claims

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Rules turns a sign-in into the claims of socialbridge's tokens: roles
// granted by conditions on the sign-in, and provider claims copied as they
// are. The configuration loader decodes them from the claims key of the
// YAML file; Validate checks them once at start-up and Apply runs at every
// sign-in. The zero Rules adds nothing: the token carries the profile and
// the roles stored on the user.
type Rules struct {
	// Roles grant roles to the sign-ins that match them.
	Roles []RoleRule `yaml:"roles"`
	// Copy copies claims of the provider's raw profile into our tokens.
	Copy []CopyRule `yaml:"copy"`
}

// RoleRule grants Roles to a sign-in that matches every condition it sets
// (provider, tenant, email domain). A rule that sets none must say
// Everyone: a YAML key left without a value decodes as empty, and that
// slip must not silently grant roles to everyone who can sign in with any
// provider.
type RoleRule struct {
	// Provider is a provider instance name; empty matches any provider.
	Provider string `yaml:"provider"`
	// Tenant is a Microsoft Entra tenant id (a GUID), compared with the
	// profile's Tenant without regard to case; empty matches any tenant,
	// and a set one never matches a sign-in without a tenant.
	Tenant string `yaml:"tenant"`
	// EmailDomain matches a verified email address whose domain is exactly
	// this one (sub-domains do not match), without regard to case. An
	// unverified address never matches: anyone can type one.
	EmailDomain string `yaml:"email_domain"`
	// Everyone says that a rule with no condition is meant to grant its
	// roles to every sign-in. It cannot be combined with a condition.
	Everyone bool `yaml:"everyone"`
	// Roles are the roles granted.
	Roles []string `yaml:"roles"`
}

// CopyRule copies one claim of a provider's raw profile (its id_token, or
// the profile its API returned) into our tokens when that provider signs
// the person in. Only JSON scalars and flat lists of them are copied, each
// within limits (see Apply); anything else is skipped.
type CopyRule struct {
	// Provider is the provider instance name (required): a claim name
	// means something only at the provider that issued it.
	Provider string `yaml:"provider"`
	// Claim is the top-level name in the provider's claims ("roles",
	// "groups", "department", "extn.costCenter"). It is a name, not a
	// path: dots are part of some providers' claim names.
	Claim string `yaml:"claim"`
	// As is our claim name; empty means Claim. "roles" merges the values
	// into our roles instead of replacing them. Protocol and normalized
	// claims can never be written.
	As string `yaml:"as"`
	// Tenant, when set, copies only from sign-ins of this tenant (a
	// Microsoft Entra tenant id): with a provider that admits any
	// tenant, every tenant's administrators decide their users' app
	// roles and groups, so copying them must name the tenant trusted to.
	Tenant string `yaml:"tenant"`
}

// Input is what Apply knows about one sign-in.
type Input struct {
	// Provider is the provider instance name the person signed in with.
	Provider string
	// Profile is the normalized profile of this sign-in. Its Tenant is
	// the one RoleRule.Tenant matches: the very value the token's tenant
	// claim carries, so a rule and the token can never disagree.
	Profile Profile
	// Raw are the provider's raw claims, JSON-shaped (what encoding/json
	// decodes into map[string]any; []string is accepted too). Nil when
	// they are not at hand, which skips every copy rule.
	Raw map[string]any
	// StoredRoles are the roles administrators stored on the user. They
	// are taken as they are.
	StoredRoles []string
}

// Limits on rules and on what they add to a token. A token is refused by
// every verifier beyond 8 KiB (tokens.MaxTokenBytes), and the protocol
// claims, the profile (a Facebook picture URL alone is ~250 bytes) and the
// stored roles need their share of it, so one provider must not be able to
// fill it.
const (
	// MaxRoleRules is the most role rules a configuration may hold.
	MaxRoleRules = 100
	// MaxCopyRules is the most copy rules a configuration may hold.
	MaxCopyRules = 50
	// MaxRolesPerRule is the most roles one role rule may grant.
	MaxRolesPerRule = 100
	// MaxRoleBytes is the longest role name.
	MaxRoleBytes = 64
	// MaxClaimNameBytes is the longest claim name, ours or a provider's.
	MaxClaimNameBytes = 128
	// MaxListItems is the longest list Apply copies; a longer one is
	// skipped whole (for roles too).
	MaxListItems = 100
	// MaxStringBytes is the longest string Apply copies, alone or in a
	// list; a longer one skips its whole claim.
	MaxStringBytes = 1024
	// MaxCopiedBytes bounds the JSON encoding of everything copy rules
	// add to one token (names and values, roles merged included). Rules
	// are applied in their configured order, and a claim that does not
	// fit in what is left is skipped.
	MaxCopiedBytes = 3072
)

// Apply returns the user claims of a token for this sign-in: ForToken of
// the profile, with roles = StoredRoles ∪ the roles of every matching
// RoleRule ∪ the values that copy rules merge into roles, deduplicated and
// sorted; plus the claims that copy rules for in.Provider find in in.Raw.
//
// A copied value is kept only when it is JSON-shaped and small: a string
// (valid UTF-8, at most MaxStringBytes), a bool, a finite number (always
// returned as float64, what a JSON round trip gives, so the session's
// claims snapshot equals the token; an integer literal beyond ±2^53, as a
// json.Number or a Go integer, is skipped rather than rounded), or a list of at most MaxListItems of those (a
// list of strings is returned as []string, any other as []any). Objects,
// nested lists and nulls are skipped: their size and shape are the
// provider's to choose, and the normalized profile already maps the
// useful ones (Facebook's picture). A list is copied whole or not at all.
// Merged into roles, each string that is a valid role name counts; other
// items are dropped one by one.
//
// Apply trusts nothing Validate should have refused: a rule with no
// condition and no Everyone grants nothing, and no copy rule ever writes a
// protocol or normalized claim or an invalid name. When two copy rules
// write the same claim, the first that finds a value wins. The result
// depends on the input only.
func (r Rules) Apply(in Input) map[string]any {
	roles := make([]string, 0, len(in.StoredRoles))
	for _, role := range in.StoredRoles {
		if role != "" {
			roles = append(roles, role)
		}
	}
	for _, rule := range r.Roles {
		if rule.matches(in) {
			for _, role := range rule.Roles {
				if roleProblem(role) == "" {
					roles = append(roles, role)
				}
			}
		}
	}

	copied := map[string]any{}
	budget := MaxCopiedBytes
	for _, rule := range r.Copy {
		if rule.Provider == "" || rule.Provider != in.Provider || rule.Claim == "" ||
			(rule.Tenant != "" && !strings.EqualFold(rule.Tenant, in.Profile.Tenant)) {
			continue
		}
		v, ok := in.Raw[rule.Claim]
		if !ok || v == nil {
			continue
		}
		as := rule.target()
		if as == "roles" {
			add := rolesFrom(v)
			if cost := encodedLen(add) + len(`"roles":,`); cost <= budget && len(add) > 0 {
				budget -= cost
				roles = append(roles, add...)
			}
			continue
		}
		if targetProblem(as) != "" {
			continue
		}
		if _, taken := copied[as]; taken {
			continue
		}
		val, ok := jsonValue(v)
		if !ok {
			continue
		}
		if cost := encodedLen(as) + encodedLen(val) + len(":,"); cost <= budget {
			budget -= cost
			copied[as] = val
		}
	}

	slices.Sort(roles)
	out := ForToken(in.Profile, slices.Compact(roles))
	for k, v := range copied {
		out[k] = v
	}
	return out
}

// matches reports whether the sign-in meets every condition of the rule.
func (rule RoleRule) matches(in Input) bool {
	if !rule.hasCondition() {
		return rule.Everyone
	}
	if rule.Everyone {
		return false // contradictory, refused by Validate: grant nothing
	}
	if rule.Provider != "" && rule.Provider != in.Provider {
		return false
	}
	if rule.Tenant != "" && !strings.EqualFold(rule.Tenant, in.Profile.Tenant) {
		return false
	}
	if rule.EmailDomain != "" {
		at := strings.LastIndexByte(in.Profile.Email, '@')
		if !in.Profile.EmailVerified || at <= 0 || !strings.EqualFold(in.Profile.Email[at+1:], rule.EmailDomain) {
			return false
		}
	}
	return true
}

// hasCondition reports whether the rule sets any condition.
func (rule RoleRule) hasCondition() bool {
	return rule.Provider != "" || rule.Tenant != "" || rule.EmailDomain != ""
}

// target is the name a copy rule writes.
func (rule CopyRule) target() string {
	if rule.As != "" {
		return rule.As
	}
	return rule.Claim
}

// rolesFrom returns the valid role names in a string or a list (of at
// most MaxListItems) of strings.
func rolesFrom(v any) []string {
	var items []any
	switch v := v.(type) {
	case string:
		items = []any{v}
	case []string:
		for _, s := range v {
			items = append(items, s)
		}
	case []any:
		items = v
	}
	if len(items) > MaxListItems {
		return nil
	}
	var roles []string
	for _, item := range items {
		if s, ok := item.(string); ok && roleProblem(s) == "" {
			roles = append(roles, s)
		}
	}
	return roles
}

// jsonValue returns v in the form Apply copies, or false when it is not
// copied (see Apply).
func jsonValue(v any) (any, bool) {
	switch v := v.(type) {
	case []string:
		if len(v) > MaxListItems {
			return nil, false
		}
		for _, s := range v {
			if !copyableString(s) {
				return nil, false
			}
		}
		return slices.Clone(v), true
	case []any:
		if len(v) > MaxListItems {
			return nil, false
		}
		out := make([]any, len(v))
		strs := make([]string, len(v))
		allStrings := true
		for i, item := range v {
			s, ok := scalar(item)
			if !ok {
				return nil, false
			}
			out[i] = s
			strs[i], ok = s.(string)
			allStrings = allStrings && ok
		}
		if allStrings {
			return strs, true
		}
		return out, true
	default:
		return scalar(v)
	}
}

// maxExactInt is 2^53: every integer of at most this magnitude has an
// exact float64.
const maxExactInt = 1 << 53

// scalar returns a copyable string, bool or number (as float64).
func scalar(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		return v, copyableString(v)
	case bool:
		return v, true
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case float32:
		return scalar(float64(v))
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return intValue(i)
		}
		f, err := v.Float64()
		if err != nil || !strings.ContainsAny(string(v), ".eE") {
			return nil, false // an integer literal too large for int64
		}
		return scalar(f)
	case int:
		return intValue(int64(v))
	case int32:
		return intValue(int64(v))
	case int64:
		return intValue(v)
	case uint32:
		return intValue(int64(v))
	default:
		return nil, false
	}
}

// intValue returns i as float64 when that represents it exactly.
func intValue(i int64) (any, bool) {
	if i > maxExactInt || i < -maxExactInt {
		return nil, false
	}
	return float64(i), true
}

// copyableString reports whether s is valid UTF-8 (JSON encoding would
// alter it otherwise) of at most MaxStringBytes.
func copyableString(s string) bool {
	return len(s) <= MaxStringBytes && utf8.ValidString(s)
}

// encodedLen is the length of v's JSON encoding, as the token carries it.
func encodedLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return math.MaxInt32 // never fits
	}
	return len(b)
}
