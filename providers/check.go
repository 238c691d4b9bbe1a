package providers

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// CheckURL describes what makes raw unusable as a provider endpoint, or
// returns "": it must be an absolute https URL without credentials; plain
// http is allowed for loopback hosts (local fakes) and, in dev mode, for
// any host.
func CheckURL(raw string, dev bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Sprintf("must be an absolute https URL, got %q", redactURL(raw))
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Scheme == "http" && !dev && !IsLoopback(u.Hostname()):
		return fmt.Sprintf("must use https outside dev mode (http only for localhost, 127.0.0.1 or ::1), got %q", raw)
	}
	return ""
}

// Endpoint is a configured URL and the key it is set by.
type Endpoint struct{ Key, URL string }

// CheckEndpoints reports, with report, each set endpoint that CheckURL
// refuses; unset ones (empty URL) are skipped.
func CheckEndpoints(dev bool, report func(key, message string), endpoints ...Endpoint) {
	for _, e := range endpoints {
		if e.URL == "" {
			continue
		}
		if problem := CheckURL(e.URL, dev); problem != "" {
			report(e.Key, problem)
		}
	}
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OnLoopback reports whether every non-empty URL in urls points at this
// machine: a local fake provider rather than a real one.
func OnLoopback(urls ...string) bool {
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || !IsLoopback(u.Hostname()) {
			return false
		}
	}
	return true
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// domainName is a lower-case DNS name.
var domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidDomain reports whether d is a lower-case domain name like
// example.com.
func ValidDomain(d string) bool { return len(d) <= 253 && domainName.MatchString(d) }

// CheckClient reports the usual problems of an OAuth client
// registration: a missing client_id or client_secret, saying where the
// operator finds them.
func CheckClient(clientID, clientSecret, where string, report func(key, message string)) {
	if clientID == "" {
		report("client_id", "required: the client (application) id from "+where)
	}
	if clientSecret == "" {
		report("client_secret", "required: the client secret from "+where+" (or client_secret_file, or the _CLIENT_SECRET variable)")
	}
}
