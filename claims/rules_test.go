package claims

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	corpTenant  = "11111111-2222-3333-4444-555555555555"
	otherTenant = "99999999-8888-7777-6666-555555555555"
)

// ann is a verified Entra sign-in of the corp tenant.
var ann = Profile{Email: "ann@example.com", EmailVerified: true, Name: "Ann", Tenant: corpTenant}

// tokenClaims is what Apply should return for profile p: ForToken with
// roles, plus extra.
func tokenClaims(p Profile, roles []string, extra map[string]any) map[string]any {
	out := ForToken(p, roles)
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func TestApplyRoleRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []RoleRule
		in    Input
		roles []string
	}{
		{
			name:  "without rules the stored roles are sorted, deduplicated and empty ones dropped",
			in:    Input{Provider: "corp", Profile: ann, StoredRoles: []string{"writer", "", "admin", "writer"}},
			roles: []string{"admin", "writer"},
		},
		{
			name:  "without rules or stored roles the roles claim is an empty list",
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{},
		},
		{
			name:  "stored roles are taken as they are, even ones a rule could not grant",
			in:    Input{Provider: "corp", Profile: ann, StoredRoles: []string{"has space"}},
			roles: []string{"has space"},
		},
		{
			name:  "a provider rule grants to sign-ins with that provider",
			rules: []RoleRule{{Provider: "corp", Roles: []string{"staff"}}},
			in:    Input{Provider: "corp", Profile: ann, StoredRoles: []string{"admin"}},
			roles: []string{"admin", "staff"},
		},
		{
			name:  "a provider rule does not grant to another provider",
			rules: []RoleRule{{Provider: "corp", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: ann},
			roles: []string{},
		},
		{
			name:  "a tenant rule matches the profile's tenant without regard to case",
			rules: []RoleRule{{Tenant: strings.ToUpper(corpTenant), Roles: []string{"staff"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{"staff"},
		},
		{
			name:  "a tenant rule does not match another tenant",
			rules: []RoleRule{{Tenant: otherTenant, Roles: []string{"staff"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{},
		},
		{
			name:  "a tenant rule does not match a sign-in without a tenant",
			rules: []RoleRule{{Tenant: corpTenant, Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{Email: "ann@example.com", EmailVerified: true}},
			roles: []string{},
		},
		{
			name:  "an email domain rule matches a verified address of that domain without regard to case",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{Email: "Ann@Example.COM", EmailVerified: true}},
			roles: []string{"staff"},
		},
		{
			name:  "an email domain rule never matches an unverified address",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "facebook", Profile: Profile{Email: "ann@example.com"}},
			roles: []string{},
		},
		{
			name:  "an email domain rule does not match a sub-domain",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{Email: "ann@mail.example.com", EmailVerified: true}},
			roles: []string{},
		},
		{
			name:  "an email domain rule does not match a look-alike domain",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{Email: "ann@evilexample.com", EmailVerified: true}},
			roles: []string{},
		},
		{
			name:  "an email domain rule takes the domain after the last @",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{Email: "\"a@evil.org\"@example.com", EmailVerified: true}},
			roles: []string{"staff"},
		},
		{
			name:  "an email domain rule does not match a profile without an email",
			rules: []RoleRule{{EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "google", Profile: Profile{EmailVerified: true}},
			roles: []string{},
		},
		{
			name:  "a rule grants only when every condition it sets matches",
			rules: []RoleRule{{Provider: "corp", Tenant: corpTenant, EmailDomain: "example.org", Roles: []string{"staff"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{},
		},
		{
			name:  "a rule whose three conditions match grants",
			rules: []RoleRule{{Provider: "corp", Tenant: corpTenant, EmailDomain: "example.com", Roles: []string{"staff"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{"staff"},
		},
		{
			name:  "an everyone rule grants to every sign-in",
			rules: []RoleRule{{Everyone: true, Roles: []string{"user"}}},
			in:    Input{Provider: "facebook", Profile: Profile{}},
			roles: []string{"user"},
		},
		{
			name:  "a rule without condition or everyone grants nothing, should Validate have been bypassed",
			rules: []RoleRule{{Roles: []string{"admin"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{},
		},
		{
			name:  "a rule with both everyone and a condition grants nothing, should Validate have been bypassed",
			rules: []RoleRule{{Everyone: true, Provider: "corp", Roles: []string{"admin"}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{},
		},
		{
			name:  "invalid role names of a rule are dropped, should Validate have been bypassed",
			rules: []RoleRule{{Provider: "corp", Roles: []string{"ok", "", "a b", "x\u200b", strings.Repeat("r", MaxRoleBytes+1)}}},
			in:    Input{Provider: "corp", Profile: ann},
			roles: []string{"ok"},
		},
		{
			name: "the roles of every matching rule are merged with the stored ones, deduplicated and sorted",
			rules: []RoleRule{
				{Provider: "corp", Roles: []string{"staff", "reader"}},
				{EmailDomain: "example.com", Roles: []string{"reader", "editor"}},
				{Provider: "google", Roles: []string{"never"}},
			},
			in:    Input{Provider: "corp", Profile: ann, StoredRoles: []string{"staff", "admin"}},
			roles: []string{"admin", "editor", "reader", "staff"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Rules{Roles: tt.rules}.Apply(tt.in)
			if want := tokenClaims(tt.in.Profile, tt.roles, nil); !reflect.DeepEqual(got, want) {
				t.Errorf("Apply() = %#v, want %#v", got, want)
			}
		})
	}
}

func TestApplyCopyRules(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxStringBytes)
	list := func(n int, item any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = item
		}
		return out
	}
	strs := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name  string
		rules []CopyRule
		raw   map[string]any
		roles []string // besides the stored "admin"
		extra map[string]any
	}{
		{
			name:  "a string claim is copied under its own name",
			rules: []CopyRule{{Provider: "corp", Claim: "department"}},
			raw:   map[string]any{"department": "Sales"},
			extra: map[string]any{"department": "Sales"},
		},
		{
			name:  "as renames the copied claim",
			rules: []CopyRule{{Provider: "corp", Claim: "extn.costCenter", As: "cost_center"}},
			raw:   map[string]any{"extn.costCenter": "42-A"},
			extra: map[string]any{"cost_center": "42-A"},
		},
		{
			name:  "a collision-resistant name is a valid target",
			rules: []CopyRule{{Provider: "corp", Claim: "department", As: "https://example.com/department"}},
			raw:   map[string]any{"department": "Sales"},
			extra: map[string]any{"https://example.com/department": "Sales"},
		},
		{
			name:  "a rule of another provider copies nothing",
			rules: []CopyRule{{Provider: "google", Claim: "department"}},
			raw:   map[string]any{"department": "Sales"},
		},
		{
			name:  "a rule without a provider copies nothing, should Validate have been bypassed",
			rules: []CopyRule{{Claim: "department"}},
			raw:   map[string]any{"department": "Sales"},
		},
		{
			name:  "a missing claim copies nothing",
			rules: []CopyRule{{Provider: "corp", Claim: "department"}},
			raw:   map[string]any{"title": "CEO"},
		},
		{
			name:  "a null claim copies nothing",
			rules: []CopyRule{{Provider: "corp", Claim: "department"}},
			raw:   map[string]any{"department": nil},
		},
		{
			name:  "an empty claim name copies nothing, should Validate have been bypassed",
			rules: []CopyRule{{Provider: "corp", As: "x"}},
			raw:   map[string]any{"": "v"},
		},
		{
			name: "a copy into a protocol claim is never made, whatever the letter case",
			rules: []CopyRule{
				{Provider: "corp", Claim: "oid", As: "sub"}, {Provider: "corp", Claim: "oid", As: "SUB"},
				{Provider: "corp", Claim: "aud"}, {Provider: "corp", Claim: "oid", As: "amr"}, {Provider: "corp", Claim: "oid", As: "scp"},
			},
			raw: map[string]any{"oid": "x", "aud": "y"},
		},
		{
			name: "a copy into a normalized claim is never made",
			rules: []CopyRule{
				{Provider: "corp", Claim: "preferred_username", As: "email"}, {Provider: "corp", Claim: "email"},
				{Provider: "corp", Claim: "x", As: "Email_Verified"}, {Provider: "corp", Claim: "tid", As: "tenant"},
				{Provider: "corp", Claim: "x", As: "hd"}, {Provider: "corp", Claim: "roles", As: "Roles"},
			},
			raw: map[string]any{"preferred_username": "evil@example.org", "email": "evil@example.org", "x": true, "tid": otherTenant, "roles": "admin2"},
		},
		{
			name:  "a copy under an invalid name is never made",
			rules: []CopyRule{{Provider: "corp", Claim: "a", As: "has space"}, {Provider: "corp", Claim: "_claim_names"}},
			raw:   map[string]any{"a": "v", "_claim_names": "w"},
		},
		{
			name:  "groups is copied as any other claim",
			rules: []CopyRule{{Provider: "corp", Claim: "groups"}},
			raw:   map[string]any{"groups": []any{"g1", "g2"}},
			extra: map[string]any{"groups": []string{"g1", "g2"}},
		},
		{
			name:  "a string merged into roles adds one role",
			rules: []CopyRule{{Provider: "corp", Claim: "jobRole", As: "roles"}},
			raw:   map[string]any{"jobRole": "auditor"},
			roles: []string{"auditor"},
		},
		{
			name:  "a list merged into roles adds its valid role names and drops other items one by one",
			rules: []CopyRule{{Provider: "corp", Claim: "roles"}},
			raw:   map[string]any{"roles": []any{"Task.Write", "admin", 3.0, true, nil, "a b", "", map[string]any{"x": "y"}, strings.Repeat("r", 65)}},
			roles: []string{"Task.Write"},
		},
		{
			name:  "a []string merged into roles counts too",
			rules: []CopyRule{{Provider: "corp", Claim: "roles"}},
			raw:   map[string]any{"roles": []string{"b", "a"}},
			roles: []string{"a", "b"},
		},
		{
			name:  "a list of MaxListItems is merged into roles",
			rules: []CopyRule{{Provider: "corp", Claim: "roles"}},
			raw:   map[string]any{"roles": list(MaxListItems, "r")},
			roles: []string{"r"},
		},
		{
			name:  "a longer list is not merged into roles at all",
			rules: []CopyRule{{Provider: "corp", Claim: "roles"}},
			raw:   map[string]any{"roles": list(MaxListItems+1, "r")},
		},
		{
			name:  "a value that is neither a string nor a list adds no role",
			rules: []CopyRule{{Provider: "corp", Claim: "roles"}, {Provider: "corp", Claim: "level", As: "roles"}},
			raw:   map[string]any{"roles": map[string]any{"a": "b"}, "level": 3.0},
		},
		{
			name: "two rules merging into roles both count",
			rules: []CopyRule{
				{Provider: "corp", Claim: "roles"}, {Provider: "corp", Claim: "wids", As: "roles"},
			},
			raw:   map[string]any{"roles": []any{"x"}, "wids": []any{"y", "admin"}},
			roles: []string{"x", "y"},
		},
		{
			name: "booleans and numbers are copied, numbers as float64",
			rules: []CopyRule{
				{Provider: "corp", Claim: "b"}, {Provider: "corp", Claim: "f"}, {Provider: "corp", Claim: "n"},
				{Provider: "corp", Claim: "nf"}, {Provider: "corp", Claim: "ne"}, {Provider: "corp", Claim: "i"},
				{Provider: "corp", Claim: "i32"}, {Provider: "corp", Claim: "i64"}, {Provider: "corp", Claim: "u32"},
				{Provider: "corp", Claim: "f32"}, {Provider: "corp", Claim: "max"},
			},
			raw: map[string]any{
				"b": false, "f": 1.5, "n": json.Number("42"), "nf": json.Number("-0.25"), "ne": json.Number("1e3"),
				"i": 7, "i32": int32(-8), "i64": int64(9), "u32": uint32(10), "f32": float32(0.5), "max": int64(1 << 53),
			},
			extra: map[string]any{
				"b": false, "f": 1.5, "n": 42.0, "nf": -0.25, "ne": 1000.0, "i": 7.0, "i32": -8.0, "i64": 9.0,
				"u32": 10.0, "f32": 0.5, "max": float64(1 << 53),
			},
		},
		{
			name: "numbers that JSON cannot carry or float64 would round are skipped",
			rules: []CopyRule{
				{Provider: "corp", Claim: "nan"}, {Provider: "corp", Claim: "inf"}, {Provider: "corp", Claim: "big"},
				{Provider: "corp", Claim: "bignum"}, {Provider: "corp", Claim: "hugenum"}, {Provider: "corp", Claim: "bad"},
				{Provider: "corp", Claim: "u64"},
			},
			raw: map[string]any{
				"nan": math.NaN(), "inf": math.Inf(-1), "big": int64(1<<53 + 1), "bignum": json.Number("9007199254740993"),
				"hugenum": json.Number("123456789012345678901234567890"), "bad": json.Number("12abc"), "u64": uint64(1),
			},
		},
		{
			name:  "a string of MaxStringBytes is copied",
			rules: []CopyRule{{Provider: "corp", Claim: "s"}},
			raw:   map[string]any{"s": long},
			extra: map[string]any{"s": long},
		},
		{
			name:  "a longer string is skipped",
			rules: []CopyRule{{Provider: "corp", Claim: "s"}},
			raw:   map[string]any{"s": long + "x"},
		},
		{
			name:  "a string that is not UTF-8 is skipped, as JSON would alter it",
			rules: []CopyRule{{Provider: "corp", Claim: "s"}},
			raw:   map[string]any{"s": "caf\xe9"},
		},
		{
			name:  "objects are skipped",
			rules: []CopyRule{{Provider: "corp", Claim: "o"}},
			raw:   map[string]any{"o": map[string]any{"a": "b"}},
		},
		{
			name:  "a list of MaxListItems strings is copied as []string",
			rules: []CopyRule{{Provider: "corp", Claim: "l"}},
			raw:   map[string]any{"l": list(MaxListItems, "g")},
			extra: map[string]any{"l": strs(MaxListItems, "g")},
		},
		{
			name:  "a longer list is skipped whole",
			rules: []CopyRule{{Provider: "corp", Claim: "l"}, {Provider: "corp", Claim: "s"}},
			raw:   map[string]any{"l": list(MaxListItems+1, "g"), "s": strs(MaxListItems+1, "g")},
		},
		{
			name:  "a list of mixed scalars is copied as []any",
			rules: []CopyRule{{Provider: "corp", Claim: "l"}},
			raw:   map[string]any{"l": []any{"a", true, json.Number("2")}},
			extra: map[string]any{"l": []any{"a", true, 2.0}},
		},
		{
			name:  "an empty list is copied as an empty list",
			rules: []CopyRule{{Provider: "corp", Claim: "l"}},
			raw:   map[string]any{"l": []any{}},
			extra: map[string]any{"l": []string{}},
		},
		{
			name: "a list holding an object, a list, a null or a too long string is skipped whole",
			rules: []CopyRule{
				{Provider: "corp", Claim: "o"}, {Provider: "corp", Claim: "l"}, {Provider: "corp", Claim: "n"},
				{Provider: "corp", Claim: "s"}, {Provider: "corp", Claim: "ss"},
			},
			raw: map[string]any{
				"o": []any{"a", map[string]any{}}, "l": []any{"a", []any{"b"}}, "n": []any{"a", nil},
				"s": []any{"a", long + "x"}, "ss": []string{"a", long + "x"},
			},
		},
		{
			name:  "when two rules write one claim the first that finds a value wins",
			rules: []CopyRule{{Provider: "corp", Claim: "missing", As: "dept"}, {Provider: "corp", Claim: "a", As: "dept"}, {Provider: "corp", Claim: "b", As: "dept"}},
			raw:   map[string]any{"a": "first", "b": "second"},
			extra: map[string]any{"dept": "first"},
		},
		{
			name: "copies stop at MaxCopiedBytes, in rule order, and a later claim that fits is still copied",
			rules: []CopyRule{
				{Provider: "corp", Claim: "a"}, {Provider: "corp", Claim: "b"}, {Provider: "corp", Claim: "c"},
				{Provider: "corp", Claim: "d"}, {Provider: "corp", Claim: "e"},
			},
			// Each of a, b, c costs 1024+2 (quotes) + 3 ("a") + 2 (:,) = 1031 bytes.
			raw:   map[string]any{"a": long, "b": long, "c": long, "d": strings.Repeat("d", 3072-2*1031-8), "e": "late"},
			extra: map[string]any{"a": long, "b": long, "d": strings.Repeat("d", 3072-2*1031-8)},
		},
		{
			name:  "roles merged from copies count towards MaxCopiedBytes",
			rules: []CopyRule{{Provider: "corp", Claim: "a"}, {Provider: "corp", Claim: "b"}, {Provider: "corp", Claim: "c"}, {Provider: "corp", Claim: "roles"}},
			raw:   map[string]any{"a": long, "b": long, "c": strings.Repeat("c", 1000), "roles": []any{"auditor", "x"}},
			extra: map[string]any{"a": long, "b": long, "c": strings.Repeat("c", 1000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := Input{Provider: "corp", Profile: ann, Raw: tt.raw, StoredRoles: []string{"admin"}}
			got := Rules{Copy: tt.rules}.Apply(in)
			want := tokenClaims(ann, sortedSet(append([]string{"admin"}, tt.roles...)), tt.extra)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Apply() =\n%#v\nwant\n%#v", got, want)
			}
		})
	}
}

// sortedSet sorts and deduplicates roles.
func sortedSet(roles []string) []string {
	roles = slices.Clone(roles)
	slices.Sort(roles)
	return slices.Compact(roles)
}

func TestApplyKeepsTheProfileAndStaysWithinATokensSize(t *testing.T) {
	t.Parallel()
	rules := Rules{
		Roles: []RoleRule{{Everyone: true, Roles: []string{"user"}}},
		Copy:  make([]CopyRule, 0, MaxCopyRules),
	}
	raw := map[string]any{}
	for i := range MaxCopyRules {
		name := "c" + strings.Repeat("x", i)
		rules.Copy = append(rules.Copy, CopyRule{Provider: "corp", Claim: name})
		raw[name] = []any{strings.Repeat("v", MaxStringBytes)}
	}
	raw["roles"] = make([]any, MaxListItems)
	for i := range MaxListItems {
		raw["roles"].([]any)[i] = strings.Repeat(string(rune('a'+i%26)), MaxRoleBytes-i%7)
	}
	rules.Copy = append([]CopyRule{{Provider: "corp", Claim: "roles"}}, rules.Copy...)
	in := Input{Provider: "corp", Profile: ann, Raw: raw}
	got := rules.Apply(in)
	for k, v := range ForToken(ann, nil) {
		if k != "roles" && !reflect.DeepEqual(got[k], v) {
			t.Errorf("claim %s = %#v, want the profile's %#v", k, got[k], v)
		}
	}
	base, _ := json.Marshal(ForToken(ann, []string{"user"}))
	all, _ := json.Marshal(got)
	if extra := len(all) - len(base); extra > MaxCopiedBytes {
		t.Errorf("copy rules added %d bytes to the token, more than MaxCopiedBytes (%d)", extra, MaxCopiedBytes)
	}
	if again := rules.Apply(in); !reflect.DeepEqual(got, again) {
		t.Errorf("Apply() is not deterministic:\n%#v\n%#v", got, again)
	}
}

func TestApplyWithoutRawClaimsAppliesRoleRulesOnly(t *testing.T) {
	t.Parallel()
	rules := Rules{
		Roles: []RoleRule{{Provider: "corp", Roles: []string{"staff"}}},
		Copy:  []CopyRule{{Provider: "corp", Claim: "roles"}, {Provider: "corp", Claim: "department"}},
	}
	got := rules.Apply(Input{Provider: "corp", Profile: ann})
	if want := tokenClaims(ann, []string{"staff"}, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("Apply() = %#v, want %#v", got, want)
	}
}

func TestApplyDoesNotShareTheCallersSlices(t *testing.T) {
	t.Parallel()
	stored := []string{"b", "a"}
	groups := []string{"g1"}
	got := Rules{Copy: []CopyRule{{Provider: "corp", Claim: "groups"}}}.Apply(
		Input{Provider: "corp", Profile: ann, StoredRoles: stored, Raw: map[string]any{"groups": groups}})
	got["roles"].([]string)[0] = "changed"
	got["groups"].([]string)[0] = "changed"
	if stored[0] != "b" || stored[1] != "a" || groups[0] != "g1" {
		t.Errorf("Apply changed or shares its input: stored roles %v, groups %v", stored, groups)
	}
}

func TestCopyRulesWithATenantCopyOnlyFromIt(t *testing.T) {
	t.Parallel()
	const contoso, fabrikam = "5f2b7c1e-3a4d-4e8f-9b60-7c1d2e3f4a5b", "c0ffee00-1b2c-4d3e-8f4a-5b6c7d8e9f01"
	r := Rules{Copy: []CopyRule{{Provider: "entra", Claim: "roles", As: "roles", Tenant: contoso}}}
	for _, tt := range []struct {
		tenant string
		want   []string
	}{
		{contoso, []string{"admin"}},
		{strings.ToUpper(contoso), []string{"admin"}},
		{fabrikam, []string{}},
		{"", []string{}},
	} {
		got := r.Apply(Input{Provider: "entra", Profile: Profile{Tenant: tt.tenant}, Raw: map[string]any{"roles": []any{"admin"}}})
		if !reflect.DeepEqual(got["roles"], tt.want) {
			t.Errorf("tenant %q: roles = %#v, want %#v", tt.tenant, got["roles"], tt.want)
		}
	}
}

func TestCheckSourcesRequiresATenantForProvidersOpenToAnyTenant(t *testing.T) {
	t.Parallel()
	r := Rules{Copy: []CopyRule{
		{Provider: "entra", Claim: "roles", As: "roles"},
		{Provider: "entra", Claim: "groups", Tenant: "5f2b7c1e-3a4d-4e8f-9b60-7c1d2e3f4a5b"},
		{Provider: "corp", Claim: "department"},
	}}
	var got []string
	r.CheckSources([]string{"entra"}, func(key, msg string) { got = append(got, key+": "+msg) })
	if len(got) != 1 || !strings.HasPrefix(got[0], `copy[0].tenant: required: provider "entra" admits accounts of any tenant`) {
		t.Errorf("CheckSources reported %q, want only copy[0].tenant", got)
	}
	var bad []string
	Rules{Copy: []CopyRule{{Provider: "entra", Claim: "roles", Tenant: "organizations"}}}.Validate([]string{"entra"}, func(key, msg string) { bad = append(bad, key) })
	if len(bad) != 1 || bad[0] != "copy[0].tenant" {
		t.Errorf("Validate of a copy rule with tenant organizations reported %q, want copy[0].tenant", bad)
	}
}
