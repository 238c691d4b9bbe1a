package claims

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate reports every problem of the rules, in order, with report:
// key is the path below claims ("roles[0].email_domain", "copy[2].as"),
// message says what is wrong and, where it helps, what would be right.
// providerNames are the configured provider instance names. Messages
// quote configured values, which are never secret.
func (r Rules) Validate(providerNames []string, report func(key, message string)) {
	known := slices.Sorted(slices.Values(providerNames))
	provider := func(key, name string) {
		if name != "" && !slices.Contains(known, name) {
			if len(known) == 0 {
				report(key, fmt.Sprintf("unknown provider %q: no providers are configured", name))
			} else {
				report(key, fmt.Sprintf("unknown provider %q (configured: %s)", name, strings.Join(known, ", ")))
			}
		}
	}

	if len(r.Roles) > MaxRoleRules {
		report("roles", fmt.Sprintf("at most %d rules, got %d", MaxRoleRules, len(r.Roles)))
	}
	for i, rule := range r.Roles {
		key := fmt.Sprintf("roles[%d]", i)
		switch {
		case !rule.hasCondition() && !rule.Everyone:
			report(key, "has no condition (provider, tenant or email_domain), so it would grant its roles to every sign-in: "+
				"set a condition, or everyone: true if that is meant")
		case rule.hasCondition() && rule.Everyone:
			report(key+".everyone", "true grants to every sign-in, but the rule also sets a condition (provider, tenant or "+
				"email_domain): remove one or the other")
		}
		provider(key+".provider", rule.Provider)
		if rule.Tenant != "" {
			if msg := tenantProblem(rule.Tenant); msg != "" {
				report(key+".tenant", msg)
			}
		}
		if rule.EmailDomain != "" {
			if msg := domainProblem(rule.EmailDomain); msg != "" {
				report(key+".email_domain", msg)
			}
		}
		switch {
		case len(rule.Roles) == 0:
			report(key+".roles", "must list at least one role to grant")
		case len(rule.Roles) > MaxRolesPerRule:
			report(key+".roles", fmt.Sprintf("at most %d roles, got %d", MaxRolesPerRule, len(rule.Roles)))
		}
		for j, role := range rule.Roles {
			if msg := roleProblem(role); msg != "" {
				report(fmt.Sprintf("%s.roles[%d]", key, j), msg)
			}
		}
	}

	if len(r.Copy) > MaxCopyRules {
		report("copy", fmt.Sprintf("at most %d rules, got %d", MaxCopyRules, len(r.Copy)))
	}
	writers := map[string]int{} // provider and claim written -> first rule
	for i, rule := range r.Copy {
		key := fmt.Sprintf("copy[%d]", i)
		if rule.Provider == "" {
			msg := "required: the provider instance whose claim this is, as a claim name means something only at its issuer"
			if len(known) > 0 {
				msg += fmt.Sprintf(" (configured: %s)", strings.Join(known, ", "))
			}
			report(key+".provider", msg)
		}
		provider(key+".provider", rule.Provider)
		if rule.Tenant != "" {
			if msg := tenantProblem(rule.Tenant); msg != "" {
				report(key+".tenant", msg)
			}
		}
		claimOK := false
		if msg := claimNameProblem(rule.Claim); msg != "" {
			report(key+".claim", msg)
		} else {
			claimOK = true
		}
		targetKey := key + ".as"
		if rule.As == "" {
			if !claimOK {
				continue // nothing more to say about a name already refused
			}
			targetKey = key + ".claim"
		}
		as := rule.target()
		if msg := targetProblem(as); msg != "" {
			if rule.As == "" {
				msg += "; set as: to copy it under another name"
			}
			report(targetKey, msg)
			continue
		}
		if as == "roles" || rule.Provider == "" {
			continue
		}
		w := rule.Provider + "\x00" + as
		if first, dup := writers[w]; dup {
			report(targetKey, fmt.Sprintf("copy[%d] already writes %s for provider %q: a claim has one source", first, as, rule.Provider))
			continue
		}
		writers[w] = i
	}
}

// protocolClaims decide how, when, by whom and for whom a token is
// accepted: RFC 7519's registered claims, RFC 9068's and OpenID Connect
// Core's token claims, RFC 8693 (act, may_act), RFC 7800 (cnf), RFC 9396
// (authorization_details), RFC 8417's security event claims, OpenID
// Connect's aggregated-claims machinery, the scp that Entra and Okta
// middleware read as the scope, and socialbridge's own (idp, gen).
var protocolClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "sid", "scope", "scp", "auth_time", "idp",
	"azp", "nonce", "at_hash", "c_hash", "s_hash", "cnf", "act", "may_act", "typ", "gen", "amr", "acr",
	"sub_jwk", "events", "toe", "txn", "authorization_details", "_claim_names", "_claim_sources",
}

// normalizedClaims are the claims ForToken derives from the verified
// profile (hd is reserved for it too): a copied claim under one of these
// names would let one provider's raw value pass for what socialbridge
// vouches for. roles is written by merging only.
var normalizedClaims = []string{
	"email", "email_verified", "name", "given_name", "family_name", "picture", "locale", "tenant", "hd", "roles",
}

// IsProtocolClaim reports whether name is, in any letter case, a protocol
// claim (see protocolClaims): one that neither rules nor user claims may
// ever set. tokens keeps its own list of the claims it sets itself; this
// one is a superset of it.
func IsProtocolClaim(name string) bool {
	return slices.Contains(protocolClaims, strings.ToLower(name))
}

// claimName is the syntax of our claim names: a letter, then letters,
// digits and _ . : / - (so that RFC 7519 §4.2's collision-resistant
// names such as https://example.com/department fit).
var claimName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:/-]*$`)

// targetProblem says what is wrong with our claim name as as a copy
// rule's target, or "".
func targetProblem(as string) string {
	lower := strings.ToLower(as)
	switch {
	case len(as) > MaxClaimNameBytes:
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxClaimNameBytes, len(as))
	case !claimName.MatchString(as):
		return fmt.Sprintf("must be a claim name: a letter, then letters, digits, _ . : / or -, got %q", as)
	case as == "roles":
		return ""
	case IsProtocolClaim(as):
		return fmt.Sprintf("%q is the protocol claim %s: protocol claims can never be overwritten", as, lower)
	case lower == "roles":
		return fmt.Sprintf("%q is roles in other letter case: write roles to merge the values into roles", as)
	case slices.Contains(normalizedClaims, lower):
		return fmt.Sprintf("%q is the normalized claim %s, which only the provider's verified profile sets: choose another name", as, lower)
	}
	return ""
}

// claimNameProblem says what is wrong with a provider's claim name, or "".
// Providers choose their names, so any printable name without spaces is
// accepted.
func claimNameProblem(name string) string {
	switch {
	case name == "":
		return "required: the name of the provider's claim to copy"
	case len(name) > MaxClaimNameBytes:
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxClaimNameBytes, len(name))
	case !utf8.ValidString(name) || strings.IndexFunc(name, unprintable) >= 0:
		return fmt.Sprintf("must be a claim name without spaces, control or invisible characters, got %q", name)
	}
	return ""
}

// roleProblem says what is wrong with a role name, or "".
func roleProblem(role string) string {
	switch {
	case role == "":
		return "must not be empty"
	case len(role) > MaxRoleBytes:
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxRoleBytes, len(role))
	case !utf8.ValidString(role) || strings.IndexFunc(role, unprintable) >= 0:
		// Invisible characters would make "admin\u200b" look like admin.
		return fmt.Sprintf("must be a role name without spaces, control or invisible characters, got %q", role)
	}
	return ""
}

// unprintable reports whether r is a space, a control character or an
// invisible format character.
func unprintable(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// domainLabel is one label of a lower-case domain name.
var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// domainProblem says what is wrong with an email domain, or "".
func domainProblem(d string) string {
	if strings.Contains(d, "@") {
		return fmt.Sprintf("must be a domain such as example.com, not an address: %q", d)
	}
	if lower := strings.ToLower(d); lower != d && domainProblem(lower) == "" {
		return fmt.Sprintf("must be lower case: %s", lower)
	}
	labels := strings.Split(d, ".")
	ok := len(d) <= 253 && len(labels) >= 2 && strings.Trim(labels[len(labels)-1], "0123456789") != ""
	for _, l := range labels {
		ok = ok && domainLabel.MatchString(l)
	}
	if !ok {
		return fmt.Sprintf("must be a lower-case domain name such as example.com (internationalized ones in their xn-- form), got %q", d)
	}
	return ""
}

// tenantID is the form of an Entra tenant id.
var tenantID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tenantProblem says what is wrong with a tenant id, or "".
func tenantProblem(t string) string {
	switch {
	case tenantID.MatchString(t):
		return ""
	case slices.Contains([]string{"common", "organizations", "consumers"}, strings.ToLower(t)):
		return fmt.Sprintf("must be a tenant id (a GUID), not %q, which names a set of tenants and is never the tenant of a sign-in", t)
	}
	return fmt.Sprintf("must be a tenant id, a GUID such as 11111111-2222-3333-4444-555555555555, got %q", t)
}

// CheckSources reports copy rules that would let third parties decide our
// claims: openTenancy names the provider instances that admit accounts of
// any tenant (a multi-tenant Microsoft Entra app without allowed_tenants),
// where every tenant's administrators assign their users' app roles and
// groups. A copy rule from such a provider must name its tenant.
func (r Rules) CheckSources(openTenancy []string, report func(key, message string)) {
	for i, rule := range r.Copy {
		if rule.Tenant == "" && slices.Contains(openTenancy, rule.Provider) {
			report(fmt.Sprintf("copy[%d].tenant", i), fmt.Sprintf("required: provider %q admits accounts of any tenant, whose administrators "+
				"can give their users any app role or group, so name the tenant whose %s to copy (or restrict the provider with allowed_tenants)",
				rule.Provider, rule.Claim))
		}
	}
}

// ValidRole reports whether role can be granted: the rules' roles and the
// roles administrators store on users follow the same limits.
func ValidRole(role string) error {
	if msg := roleProblem(role); msg != "" {
		return fmt.Errorf("role %q: %s", role, msg)
	}
	return nil
}
