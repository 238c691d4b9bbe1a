package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socialbridge/socialbridge/providers"
)

// Entra explains a refused token request in its JSON body: error_codes
// holds AADSTS numbers that tell a user's problem (an expired code) from an
// operator's (an expired client secret), and correlation_id finds the
// request in the tenant's sign-in logs. The relying party of package oidc
// keeps only the status and the error code, and on purpose none of the
// body (it may echo what was sent). So the adapter's HTTP client reads
// those few fields of a token endpoint's error answer, for the requests
// whose context asks for it, and the adapter then refines the error.

// diagnosis is what an Entra error answer said.
type diagnosis struct {
	mu            sync.Mutex
	seen          bool
	error         string
	codes         []int
	correlationID string
}

type diagnosisKey struct{}

// withDiagnosis returns a context whose token requests record Entra's
// error answer in the returned diagnosis.
func withDiagnosis(ctx context.Context) (context.Context, *diagnosis) {
	d := &diagnosis{}
	return context.WithValue(ctx, diagnosisKey{}, d), d
}

// read returns what was recorded.
func (d *diagnosis) read() (seen bool, errCode string, codes []int, correlationID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen, d.error, d.codes, d.correlationID
}

// diagnosingTransport records Entra's error answers for requests whose
// context carries a diagnosis, and passes everything on unchanged.
type diagnosingTransport struct{ base http.RoundTripper }

func (t *diagnosingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	d, _ := r.Context().Value(diagnosisKey{}).(*diagnosis)
	if err != nil || d == nil || resp.StatusCode < 400 {
		return resp, err
	}
	// The oauth2 package reads at most 1 MiB of a token response too.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the oauth2 package reports what it can read
	}
	var e struct {
		Error         string `json:"error"`
		ErrorCodes    []int  `json:"error_codes"`
		CorrelationID string `json:"correlation_id"`
	}
	if json.Unmarshal(body, &e) == nil {
		d.mu.Lock()
		d.seen, d.error, d.codes = true, e.Error, e.ErrorCodes
		if isGUID(e.CorrelationID) {
			d.correlationID = e.CorrelationID
		}
		d.mu.Unlock()
	}
	return resp, nil
}

// diagnosingClient returns a copy of c (default: a 10 s timeout) whose
// transport records Entra's error answers.
func diagnosingClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	cp := *c
	cp.Transport = &diagnosingTransport{base: c.Transport}
	return &cp
}

// operatorHints are the AADSTS errors of the token endpoint that only an
// operator can fix, and what to fix. The person signing in can only try
// again later: they are CodeUnavailable, never CodeInvalidGrant.
var operatorHints = map[int]string{
	7000215: "the client secret is wrong: client_secret must be a secret's Value (not its Secret ID) from " + portal + " → Certificates & secrets",
	7000222: "the client secret has expired: add a new one under " + portal + " → Certificates & secrets and update client_secret",
	7000218: "no client secret was sent: set client_secret",
	700016:  "no app with this client_id exists in the tenant: client_id must be the Application (client) ID from " + portal + " → Overview, and tenant must be where the app is registered or consented to",
	90002:   "the tenant does not exist in this cloud: check tenant, and authority_host for a national cloud",
	900023:  "tenant is neither a tenant id nor a verified domain: check tenant",
	50194:   `the app registration is single-tenant: set tenant to its Directory (tenant) ID, or change its Supported account types`,
	9002326: "the redirect URI is registered for a single-page application: register it under the Web platform in " + portal + " → Authentication",
	9002327: "the redirect URI is registered for a single-page application: register it under the Web platform in " + portal + " → Authentication",
	700054:  "the app registration does not allow this response type: check " + portal + " → Authentication",
}

// explain refines a failed token request's error with what Entra said:
// an operator's problem becomes CodeUnavailable with what to fix, and every
// other error keeps its code and gains the AADSTS numbers and correlation
// id that find it in the tenant's sign-in logs.
func (p *Provider) explain(err error, d *diagnosis) error {
	pe, ok := providers.AsError(err)
	seen, errCode, codes, corr := d.read()
	if !ok || !seen {
		return err
	}
	ref := aadsts(codes)
	if corr != "" {
		ref = strings.TrimPrefix(ref+", correlation id "+corr, ", ")
	}
	for _, c := range codes {
		if hint, ok := operatorHints[c]; ok {
			return &providers.Error{Provider: p.cfg.Name, Code: providers.CodeUnavailable, Message: fmt.Sprintf(
				"Microsoft refused socialbridge's configuration (%s): %s (providers.%s)", ref, hint, p.cfg.Name)}
		}
	}
	code := pe.Code
	if errCode == "temporarily_unavailable" {
		code = providers.CodeUnavailable
	}
	msg := pe.Message
	if ref != "" {
		msg += " (" + ref + ")"
	}
	return &providers.Error{Provider: pe.Provider, Code: code, Message: msg, Err: pe.Err}
}

// aadsts formats error codes as Entra names them: "AADSTS70008".
func aadsts(codes []int) string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		out = append(out, "AADSTS"+strconv.Itoa(c))
	}
	return strings.Join(out, ", ")
}
