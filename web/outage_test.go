package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// downStore is a store whose database a test takes down: while down is
// set, the calls of a sign-in, a refresh and the readiness probe fail
// with err, as the real stores fail during an outage.
type downStore struct {
	store.Store
	down atomic.Pointer[error]
}

func (d *downStore) fail(op string) error {
	if e := d.down.Load(); e != nil {
		return fmt.Errorf("%s: %w", op, *e)
	}
	return nil
}

func (d *downStore) CreateFlow(ctx context.Context, f *store.Session) error {
	if err := d.fail("create login flow"); err != nil {
		return err
	}
	return d.Store.CreateFlow(ctx, f)
}

func (d *downStore) GetSession(ctx context.Context, id string) (*store.Session, error) {
	if err := d.fail("get session"); err != nil {
		return nil, err
	}
	return d.Store.GetSession(ctx, id)
}

func (d *downStore) Rotate(ctx context.Context, id string, gen int64, now, idle time.Time) (*store.Session, error) {
	if err := d.fail("rotate session"); err != nil {
		return nil, err
	}
	return d.Store.Rotate(ctx, id, gen, now, idle)
}

func (d *downStore) Ping(ctx context.Context) error {
	if err := d.fail("ping"); err != nil {
		return err
	}
	return d.Store.Ping(ctx)
}

func TestADatabaseOutageAnswers503WithRetryAfterAndRecovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"the store reports the database unavailable", fmt.Errorf("%w: dial tcp: connection refused", store.ErrUnavailable)},
		{"a store call runs out of time", context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			ds := &downStore{Store: s.st}
			s.st = ds
			b, err := bridge.New(s.bridgeOptions([]providers.Provider{s.dev}, []bridge.Client{
				withTTLs(bridge.Client{ID: "spa", Name: "Example SPA", RedirectURIs: []string{spaRedirect}}),
			}))
			if err != nil {
				t.Fatal(err)
			}
			a := s.serve(t, s.webOptions(b))
			before := a.signIn(t)
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken}, "client_id": {"spa"}}

			ds.down.Store(&tc.err)
			resp, err := http.PostForm(a.url+"/token", refresh)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var oe struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &oe)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
				oe.Error != "temporarily_unavailable" || oe.Description == "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("refresh during the outage: %d, Retry-After %q, Cache-Control %q: %s",
					resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"), body)
			}
			if strings.Contains(string(body), "connection refused") {
				t.Errorf("the answer echoes the store's error: %s", body)
			}

			_, challenge := pkce()
			req, _ := http.NewRequest(http.MethodGet, a.authorizeURL(challenge, "dev"), nil)
			req.Header.Set("Accept", "text/html")
			resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
				!strings.Contains(string(page), "Temporarily unavailable") {
				t.Errorf("sign-in during the outage: %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
			}

			for path, want := range map[string]int{
				"/healthz": http.StatusOK, "/.well-known/openid-configuration": http.StatusOK, "/.well-known/jwks.json": http.StatusOK,
				"/readyz": http.StatusServiceUnavailable,
			} {
				resp, err := http.Get(a.url + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s during the outage: %d, want %d", path, resp.StatusCode, want)
				}
			}
			logs := a.logs.String()
			if !strings.Contains(logs, "level=WARN msg=\"database unavailable\"") || strings.Contains(logs, "request failed") {
				t.Errorf("the outage was not logged as a warning:\n%s", logs)
			}
			if !strings.Contains(logs, "request_id=") {
				t.Errorf("the warning has no request id:\n%s", logs)
			}

			ds.down.Store(nil)
			resp, next := a.post(t, "/token", refresh)
			if resp.StatusCode != http.StatusOK || next.RefreshToken == "" {
				t.Errorf("refresh with the same token after the outage: %d %+v", resp.StatusCode, next)
			}
			if resp, err := http.Get(a.url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("/readyz after the outage: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
		})
	}
}
