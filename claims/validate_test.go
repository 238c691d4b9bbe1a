package claims

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// problems returns what Validate reports, as "key: message" lines.
func problems(r Rules, providers ...string) []string {
	var out []string
	r.Validate(providers, func(key, msg string) { out = append(out, key+": "+msg) })
	return out
}

func TestValidateAcceptsAWorkingConfiguration(t *testing.T) {
	t.Parallel()
	r := Rules{
		Roles: []RoleRule{
			{Provider: "corp", Tenant: corpTenant, Roles: []string{"staff"}},
			{Tenant: strings.ToUpper(otherTenant), Roles: []string{"partner"}},
			{EmailDomain: "example.com", Roles: []string{"staff", "Task.Read", "urn:example:role", "é"}},
			{EmailDomain: "xn--bcher-kva.example", Roles: []string{"reader"}},
			{Provider: "google", EmailDomain: "sub.example.co.uk", Roles: []string{strings.Repeat("r", MaxRoleBytes)}},
			{Everyone: true, Roles: []string{"user"}},
		},
		Copy: []CopyRule{
			{Provider: "corp", Claim: "roles"},
			{Provider: "corp", Claim: "wids", As: "roles"},
			{Provider: "corp", Claim: "groups"},
			{Provider: "corp", Claim: "extn.costCenter", As: "cost_center"},
			{Provider: "google", Claim: "department", As: "https://example.com/department"},
			{Provider: "facebook", Claim: "email", As: "facebook_email"},
			{Provider: "corp", Claim: "preferred_username", As: "upn"},
			{Provider: "google", Claim: "groups"}, // another provider may write the same claim
			{Provider: "corp", Claim: strings.Repeat("c", MaxClaimNameBytes), As: "c" + strings.Repeat("x", MaxClaimNameBytes-1)},
		},
	}
	if got := problems(r, "google", "corp", "facebook"); len(got) != 0 {
		t.Errorf("Validate() reported problems with a working configuration:\n%s", strings.Join(got, "\n"))
	}
	if got := problems(Rules{}); len(got) != 0 {
		t.Errorf("Validate() reported problems with no rules: %v", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tooLongRole := strings.Repeat("r", MaxRoleBytes+1)
	tooLongName := strings.Repeat("n", MaxClaimNameBytes+1)
	tests := []struct {
		name  string
		rules Rules
		want  []string
	}{
		{
			name:  "a role rule for an unknown provider names the configured ones",
			rules: Rules{Roles: []RoleRule{{Provider: "azure", Roles: []string{"r"}}}},
			want:  []string{`roles[0].provider: unknown provider "azure" (configured: corp, google)`},
		},
		{
			name:  "a rule without any condition must say everyone",
			rules: Rules{Roles: []RoleRule{{Roles: []string{"admin"}}}},
			want: []string{"roles[0]: has no condition (provider, tenant or email_domain), so it would grant its roles to every " +
				"sign-in: set a condition, or everyone: true if that is meant"},
		},
		{
			name:  "everyone with a condition is contradictory",
			rules: Rules{Roles: []RoleRule{{Everyone: true, EmailDomain: "example.com", Roles: []string{"r"}}}},
			want: []string{"roles[0].everyone: true grants to every sign-in, but the rule also sets a condition (provider, " +
				"tenant or email_domain): remove one or the other"},
		},
		{
			name:  "a tenant must be a GUID",
			rules: Rules{Roles: []RoleRule{{Tenant: "contoso.onmicrosoft.com", Roles: []string{"r"}}}},
			want:  []string{`roles[0].tenant: must be a tenant id, a GUID such as 11111111-2222-3333-4444-555555555555, got "contoso.onmicrosoft.com"`},
		},
		{
			name:  "common, organizations and consumers are not tenants of a sign-in",
			rules: Rules{Roles: []RoleRule{{Tenant: "Organizations", Roles: []string{"r"}}}},
			want:  []string{`roles[0].tenant: must be a tenant id (a GUID), not "Organizations", which names a set of tenants and is never the tenant of a sign-in`},
		},
		{
			name: "an email domain must be a lower-case domain name",
			rules: Rules{Roles: []RoleRule{
				{EmailDomain: "Example.COM", Roles: []string{"r"}},
				{EmailDomain: "@example.com", Roles: []string{"r"}},
				{EmailDomain: "localhost", Roles: []string{"r"}},
				{EmailDomain: "-bad.example", Roles: []string{"r"}},
				{EmailDomain: "example..com", Roles: []string{"r"}},
				{EmailDomain: "10.0.0.1", Roles: []string{"r"}},
				{EmailDomain: "bücher.example", Roles: []string{"r"}},
				{EmailDomain: "*.example.com", Roles: []string{"r"}},
				{EmailDomain: strings.Repeat("a", 64) + ".com", Roles: []string{"r"}},
				{EmailDomain: strings.Repeat(strings.Repeat("a", 60)+".", 5) + "com", Roles: []string{"r"}},
			}},
			want: []string{
				"roles[0].email_domain: must be lower case: example.com",
				`roles[1].email_domain: must be a domain such as example.com, not an address: "@example.com"`,
				`roles[2].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "localhost"`,
				`roles[3].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "-bad.example"`,
				`roles[4].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "example..com"`,
				`roles[5].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "10.0.0.1"`,
				`roles[6].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "bücher.example"`,
				`roles[7].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "*.example.com"`,
				`roles[8].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "` + strings.Repeat("a", 64) + `.com"`,
				`roles[9].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "` + strings.Repeat(strings.Repeat("a", 60)+".", 5) + `com"`,
			},
		},
		{
			name:  "a rule must grant at least one role",
			rules: Rules{Roles: []RoleRule{{Provider: "corp"}, {Provider: "corp", Roles: []string{}}}},
			want:  []string{"roles[0].roles: must list at least one role to grant", "roles[1].roles: must list at least one role to grant"},
		},
		{
			name: "every role must be a short name without spaces, control or invisible characters",
			rules: Rules{Roles: []RoleRule{{Provider: "corp", Roles: []string{
				"ok", "", "two words", "tab\t", "nl\n", "zero\u200bwidth", "bad\xff", tooLongRole,
			}}}},
			want: []string{
				"roles[0].roles[1]: must not be empty",
				`roles[0].roles[2]: must be a role name without spaces, control or invisible characters, got "two words"`,
				`roles[0].roles[3]: must be a role name without spaces, control or invisible characters, got "tab\t"`,
				`roles[0].roles[4]: must be a role name without spaces, control or invisible characters, got "nl\n"`,
				`roles[0].roles[5]: must be a role name without spaces, control or invisible characters, got "zero\u200bwidth"`,
				`roles[0].roles[6]: must be a role name without spaces, control or invisible characters, got "bad\xff"`,
				fmt.Sprintf("roles[0].roles[7]: must be at most %d bytes, got %d", MaxRoleBytes, MaxRoleBytes+1),
			},
		},
		{
			name:  "a rule grants at most MaxRolesPerRule roles",
			rules: Rules{Roles: []RoleRule{{Provider: "corp", Roles: make([]string, MaxRolesPerRule+1)}}},
			want: append([]string{fmt.Sprintf("roles[0].roles: at most %d roles, got %d", MaxRolesPerRule, MaxRolesPerRule+1)},
				func() []string {
					var out []string
					for i := range MaxRolesPerRule + 1 {
						out = append(out, fmt.Sprintf("roles[0].roles[%d]: must not be empty", i))
					}
					return out
				}()...),
		},
		{
			name: "at most MaxRoleRules role rules",
			rules: Rules{Roles: func() []RoleRule {
				r := make([]RoleRule, MaxRoleRules+1)
				for i := range r {
					r[i] = RoleRule{Provider: "corp", Roles: []string{"r"}}
				}
				return r
			}()},
			want: []string{fmt.Sprintf("roles: at most %d rules, got %d", MaxRoleRules, MaxRoleRules+1)},
		},
		{
			name: "a copy rule needs a known provider and a claim",
			rules: Rules{Copy: []CopyRule{
				{Claim: "department"},
				{Provider: "azure", Claim: "department"},
				{Provider: "corp"},
				{Provider: "corp", As: "dept"},
			}},
			want: []string{
				"copy[0].provider: required: the provider instance whose claim this is, as a claim name means something only at its issuer (configured: corp, google)",
				`copy[1].provider: unknown provider "azure" (configured: corp, google)`,
				"copy[2].claim: required: the name of the provider's claim to copy",
				"copy[3].claim: required: the name of the provider's claim to copy",
			},
		},
		{
			name: "a provider's claim name has no spaces or control characters and a bounded length",
			rules: Rules{Copy: []CopyRule{
				{Provider: "corp", Claim: "has space", As: "x"},
				{Provider: "corp", Claim: "ctl\x00"},
				{Provider: "corp", Claim: tooLongName, As: "y"},
			}},
			want: []string{
				`copy[0].claim: must be a claim name without spaces, control or invisible characters, got "has space"`,
				`copy[1].claim: must be a claim name without spaces, control or invisible characters, got "ctl\x00"`,
				fmt.Sprintf("copy[2].claim: must be at most %d bytes, got %d", MaxClaimNameBytes, MaxClaimNameBytes+1),
			},
		},
		{
			name: "our claim name must be a valid name",
			rules: Rules{Copy: []CopyRule{
				{Provider: "corp", Claim: "a", As: "has space"},
				{Provider: "corp", Claim: "a", As: "_private"},
				{Provider: "corp", Claim: "a", As: "9lives"},
				{Provider: "corp", Claim: "a", As: "dépt"},
				{Provider: "corp", Claim: "a", As: "n" + tooLongName},
				{Provider: "corp", Claim: "extn.costCenter"}, // valid as a provider's name and as ours
				{Provider: "corp", Claim: "custom:dept"},
				{Provider: "corp", Claim: "$weird"},
			}},
			want: []string{
				`copy[0].as: must be a claim name: a letter, then letters, digits, _ . : / or -, got "has space"`,
				`copy[1].as: must be a claim name: a letter, then letters, digits, _ . : / or -, got "_private"`,
				`copy[2].as: must be a claim name: a letter, then letters, digits, _ . : / or -, got "9lives"`,
				`copy[3].as: must be a claim name: a letter, then letters, digits, _ . : / or -, got "dépt"`,
				fmt.Sprintf("copy[4].as: must be at most %d bytes, got %d", MaxClaimNameBytes, MaxClaimNameBytes+2),
				`copy[7].claim: must be a claim name: a letter, then letters, digits, _ . : / or -, got "$weird"; set as: to copy it under another name`,
			},
		},
		{
			name: "protocol claims can never be overwritten",
			rules: Rules{Copy: func() []CopyRule {
				var r []CopyRule
				for _, c := range protocolClaims[:len(protocolClaims)-2] { // the last two start with _
					r = append(r, CopyRule{Provider: "corp", Claim: "x", As: c})
				}
				return append(r, CopyRule{Provider: "corp", Claim: "x", As: "Sub"}, CopyRule{Provider: "corp", Claim: "sid"})
			}()},
			want: func() []string {
				var out []string
				for i, c := range protocolClaims[:len(protocolClaims)-2] {
					out = append(out, fmt.Sprintf("copy[%d].as: %q is the protocol claim %s: protocol claims can never be overwritten", i, c, c))
				}
				n := len(protocolClaims) - 2
				return append(out,
					fmt.Sprintf(`copy[%d].as: "Sub" is the protocol claim sub: protocol claims can never be overwritten`, n),
					fmt.Sprintf(`copy[%d].claim: "sid" is the protocol claim sid: protocol claims can never be overwritten; set as: to copy it under another name`, n+1))
			}(),
		},
		{
			name: "normalized claims are the verified profile's only",
			rules: Rules{Copy: func() []CopyRule {
				var r []CopyRule
				for _, c := range normalizedClaims {
					if c != "roles" {
						r = append(r, CopyRule{Provider: "corp", Claim: "x", As: c})
					}
				}
				return append(r, CopyRule{Provider: "corp", Claim: "email"}, CopyRule{Provider: "corp", Claim: "x", As: "Roles"})
			}()},
			want: func() []string {
				var out []string
				for _, c := range normalizedClaims {
					if c != "roles" {
						out = append(out, fmt.Sprintf("copy[%d].as: %q is the normalized claim %s, which only the provider's verified profile sets: choose another name", len(out), c, c))
					}
				}
				n := len(out)
				return append(out,
					fmt.Sprintf(`copy[%d].claim: "email" is the normalized claim email, which only the provider's verified profile sets: choose another name; set as: to copy it under another name`, n),
					fmt.Sprintf(`copy[%d].as: "Roles" is roles in other letter case: write roles to merge the values into roles`, n+1))
			}(),
		},
		{
			name: "one provider's claim has one source, except roles which merge",
			rules: Rules{Copy: []CopyRule{
				{Provider: "corp", Claim: "department", As: "dept"},
				{Provider: "corp", Claim: "roles"},
				{Provider: "corp", Claim: "wids", As: "roles"},
				{Provider: "google", Claim: "department", As: "dept"},
				{Provider: "corp", Claim: "dept"},
				{Provider: "corp", Claim: "office", As: "dept"},
			}},
			want: []string{
				`copy[4].claim: copy[0] already writes dept for provider "corp": a claim has one source`,
				`copy[5].as: copy[0] already writes dept for provider "corp": a claim has one source`,
			},
		},
		{
			name: "at most MaxCopyRules copy rules",
			rules: Rules{Copy: func() []CopyRule {
				r := make([]CopyRule, MaxCopyRules+1)
				for i := range r {
					r[i] = CopyRule{Provider: "corp", Claim: "roles"}
				}
				return r
			}()},
			want: []string{fmt.Sprintf("copy: at most %d rules, got %d", MaxCopyRules, MaxCopyRules+1)},
		},
		{
			name: "every problem of every rule is reported, in order",
			rules: Rules{
				Roles: []RoleRule{{Provider: "nope", Tenant: "x", EmailDomain: "X", Roles: []string{" "}}},
				Copy:  []CopyRule{{Provider: "nope", Claim: "a b", As: "exp"}},
			},
			want: []string{
				`roles[0].provider: unknown provider "nope" (configured: corp, google)`,
				`roles[0].tenant: must be a tenant id, a GUID such as 11111111-2222-3333-4444-555555555555, got "x"`,
				`roles[0].email_domain: must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got "X"`,
				`roles[0].roles[0]: must be a role name without spaces, control or invisible characters, got " "`,
				`copy[0].provider: unknown provider "nope" (configured: corp, google)`,
				`copy[0].claim: must be a claim name without spaces, control or invisible characters, got "a b"`,
				`copy[0].as: "exp" is the protocol claim exp: protocol claims can never be overwritten`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := problems(tt.rules, "google", "corp"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidateWithoutProviders(t *testing.T) {
	t.Parallel()
	got := problems(Rules{
		Roles: []RoleRule{{Provider: "corp", Roles: []string{"r"}}},
		Copy:  []CopyRule{{Claim: "x"}},
	})
	want := []string{
		`roles[0].provider: unknown provider "corp": no providers are configured`,
		"copy[0].provider: required: the provider instance whose claim this is, as a claim name means something only at its issuer",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate() reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestIsProtocolClaim(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"iss": true, "SUB": true, "amr": true, "acr": true, "scp": true, "gen": true, "_claim_sources": true,
		"email": false, "roles": false, "groups": false, "department": false, "": false,
	} {
		if got := IsProtocolClaim(name); got != want {
			t.Errorf("IsProtocolClaim(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestValidateAndApplyAgreeOnTargets checks that Apply never writes a
// name Validate refuses, whatever rules it is given.
func TestValidateAndApplyAgreeOnTargets(t *testing.T) {
	t.Parallel()
	names := append(append([]string{"Sub", "EMAIL", "Roles", "has space", "_x", "ok_name", "groups"}, protocolClaims...), normalizedClaims...)
	raw := map[string]any{"v": "value"}
	for _, as := range names {
		r := Rules{Copy: []CopyRule{{Provider: "corp", Claim: "v", As: as}}}
		refused := len(problems(r, "corp")) > 0
		got := r.Apply(Input{Provider: "corp", Raw: raw})
		written := got[as] == "value"
		if as == "roles" {
			written = reflect.DeepEqual(got["roles"], []string{"value"})
		}
		if refused == written {
			t.Errorf("copy as %q: Validate refused it: %v, Apply wrote it: %v", as, refused, written)
		}
	}
}
