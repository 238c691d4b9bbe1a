package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Response size limits: socialbridge's documents are far smaller.
const (
	maxDocumentBytes = 1 << 20  // discovery, JWKS, introspection
	maxFeedBytes     = 16 << 20 // one feed page (1,000 entries is ~150 KB)
)

// discovery holds the members of the issuer's discovery document used here.
type discovery struct {
	Issuer                 string `json:"issuer"`
	JWKSURI                string `json:"jwks_uri"`
	IntrospectionEndpoint  string `json:"introspection_endpoint"`
	RevocationFeedEndpoint string `json:"revocation_feed_endpoint"`
}

// getJSON GETs url and decodes its JSON body into v.
func getJSON(client *http.Client) func(ctx context.Context, url string, v any) error {
	return func(ctx context.Context, url string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer drainClose(resp)
		if resp.StatusCode != http.StatusOK {
			return statusError(resp)
		}
		return decodeJSON(resp, maxDocumentBytes, v)
	}
}

// setClientAuth sets HTTP Basic client credentials, each form-encoded
// first as RFC 6749 §2.3.1 requires (socialbridge decodes them).
func setClientAuth(req *http.Request, id, secret string) {
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
}

// decodeJSON decodes a JSON response body of at most limit bytes.
func decodeJSON(resp *http.Response, limit int64, v any) error {
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("%s answered %q, not JSON", resp.Request.URL.Redacted(), resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", resp.Request.URL.Redacted(), err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%s answered more than %d bytes", resp.Request.URL.Redacted(), limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", resp.Request.URL.Redacted(), err)
	}
	return nil
}

// statusError describes an unexpected response, with the OAuth error code
// and description socialbridge sends (invalid_client, ...), if any.
func statusError(resp *http.Response) error {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	msg := fmt.Sprintf("%s answered %s", resp.Request.URL.Redacted(), resp.Status)
	if decodeJSON(resp, 4<<10, &body) == nil && body.Error != "" {
		msg += ": " + body.Error
		if body.Description != "" {
			msg += " (" + body.Description + ")"
		}
	}
	return errors.New(msg)
}

// drainClose reads a little of what is left so that the connection can be
// reused, and closes the body.
func drainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
