package main

// End-to-end tests of package verify against real socialbridge processes:
// the binary built once for this package's tests and run as child
// processes, with a backend API (httptest) that trusts them through
// verify's middleware. They check what a unit test with verifytest cannot:
// that the revocation feed, introspection and the JWKS that socialbridge
// actually serves make a logout, a disabled user, a key rotation across
// replicas and a retired key reach a backend in the time the packages
// promise.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify"
)

// The backend API of these tests, as registered in the config file.
const (
	apiClientID     = "orders-api"
	apiClientSecret = "orders-api-secret-0123456789abcdefghij"
	apiAudience     = "https://orders.example.test"
	e2eAdminToken   = "e2e-admin-token-0123456789abcdefghijklmn"
)

func TestMain(m *testing.M) {
	code := m.Run()
	builtBinary.remove()
	os.Exit(code)
}

// binaryBuild is the socialbridge binary, built once for the package's
// tests (TestMain removes it).
type binaryBuild struct {
	once sync.Once
	dir  string
	path string
	race bool
	err  error
}

var builtBinary binaryBuild

func (b *binaryBuild) remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// socialbridgeBinary builds ./cmd/socialbridge once, with the race
// detector when this test binary has it: the build then reuses the
// packages go test just compiled, and a data race in the server fails the
// test that ran it (see startChild).
func socialbridgeBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinary
	b.once.Do(func() {
		began := time.Now()
		b.race = raceEnabled()
		if b.dir, b.err = os.MkdirTemp("", "socialbridge-e2e-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "socialbridge")
		args := []string{"build", "-o", b.path}
		if b.race {
			args = append(args, "-race")
		}
		args = append(args, ".") // the package directory is the working directory
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("built the socialbridge binary for the package's tests in %s (race detector: %v)", time.Since(began).Round(time.Millisecond), b.race)
	})
	if b.err != nil {
		t.Fatalf("build socialbridge: %v", b.err)
	}
	return b.path
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// child is socialbridge running as a child process.
type child struct {
	name   string
	url    string        // where it listens: http://127.0.0.1:<port>
	output *lockedBuffer // stdout and stderr (the log)
	exited chan struct{} // closed once it has exited; err is set then
	err    error         // nil when it exited with status 0
	proc   *os.Process   // for the tests that signal it
}

// logs returns the end of the process's output but the lines of
// successful requests, which the tests make by the hundred.
func (c *child) logs() string {
	return tail("socialbridge "+c.name+" ("+c.url+")", c.output.String(), func(line string) bool {
		return strings.Contains(line, "msg=request ") && (strings.Contains(line, " status=2") || strings.Contains(line, " status=3"))
	})
}

// tail returns the last 60 lines of log but those skip matches, framed
// with its name.
func tail(name, log string, skip func(string) bool) string {
	var lines []string
	skipped := 0
	for line := range strings.Lines(log) {
		if skip(line) {
			skipped++
			continue
		}
		lines = append(lines, strings.TrimRight(line, "\n"))
	}
	const keep = 60
	if len(lines) > keep {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-keep)}, lines[len(lines)-keep:]...)
	}
	return fmt.Sprintf("--- %s log (%d routine lines left out) ---\n%s\n--- end of %s log ---", name, skipped, strings.Join(lines, "\n"), name)
}

// startChild runs the socialbridge binary with -config configPath on a free
// loopback port, waits until /readyz answers, and stops it (SIGINT, then
// SIGKILL after 15s) at the end of the test, dumping its log if the test
// failed. publicURL is its server.public_url; "" means its own URL. The
// environment is this process's without SOCIALBRIDGE_* and MONGODB_URI, so
// that the config file decides and the store is SQLite whatever CI sets.
func startChild(t *testing.T, name, configPath, publicURL string) *child {
	t.Helper()
	bin := socialbridgeBinary(t)
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		c, err := launchChild(t, bin, name, configPath, addr, publicURL)
		if err == nil {
			return c
		}
		// The free port may have been taken between freeAddr and the
		// child's listen: try another.
		if attempt < 3 && strings.Contains(c.output.String(), "address already in use") {
			t.Logf("socialbridge %s: %s was taken, trying another port", name, addr)
			continue
		}
		t.Fatalf("socialbridge %s did not become ready: %v", name, err)
	}
}

func launchChild(t *testing.T, bin, name, configPath, addr, publicURL string) (*child, error) {
	t.Helper()
	c := &child{name: name, url: "http://" + addr, output: &lockedBuffer{}, exited: make(chan struct{})}
	if publicURL == "" {
		publicURL = c.url
	}
	env := []string{"SOCIALBRIDGE_SERVER_ADDR=" + addr, "SOCIALBRIDGE_SERVER_PUBLIC_URL=" + publicURL}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOCIALBRIDGE_") && !strings.HasPrefix(kv, "MONGODB_URI=") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "-config", configPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = c.output, c.output
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // a graceful shutdown
	dieWithParent(cmd)
	cmd.WaitDelay = 15 * time.Second // then SIGKILL
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start socialbridge %s: %v", name, err)
	}
	c.proc = cmd.Process
	go func() {
		// After Cancel, Wait reports the context's error even when the
		// process shut down cleanly: its exit status is what counts.
		if err := cmd.Wait(); cmd.ProcessState == nil || !cmd.ProcessState.Success() {
			c.err = err
		}
		close(c.exited)
	}()
	// Cleanups run last-registered first: stop, then report.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.logs())
		}
	})
	t.Cleanup(func() {
		cancel()
		<-c.exited
		if _, race, found := strings.Cut(c.output.String(), "WARNING: DATA RACE"); found {
			t.Errorf("socialbridge %s had a data race:\nWARNING: DATA RACE%s", name, race)
		} else if c.err != nil && !strings.Contains(c.output.String(), "address already in use") {
			t.Errorf("socialbridge %s exited with %v", name, c.err)
		}
	})
	return c, c.waitReady(60 * time.Second)
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("exited: %v", c.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", limit, err)
		}
	}
}

// writeVerifyConfig writes a dev-mode config file with the backend API's
// client (introspection: true, so that it may read the revocation feed),
// its audience for every access token, the admin API on and no per-IP
// rate limit (the tests call socialbridge in tight loops from one IP).
// tokens are more lines under tokens: ("key_rotation: 10m").
func writeVerifyConfig(t *testing.T, dataDir string, tokens ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "mode: dev\ndata_dir: %q\nserver:\n  rate_limit: -1\n", dataDir)
	fmt.Fprintf(&b, "tokens:\n  audience: [%q]\n", apiAudience)
	for _, line := range tokens {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "admin:\n  token: %q\n", e2eAdminToken)
	fmt.Fprintf(&b, "clients:\n  - id: %s\n    secret: %q\n    introspection: true\n", apiClientID, apiClientSecret)
	path := filepath.Join(t.TempDir(), "socialbridge.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// As a deployment's would be (socialbridge warns otherwise).
	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestVerifier starts a verify.Verifier for the socialbridge at issuer,
// as the API's client, with cfg's other settings; its log goes to the
// test log if the test fails.
func newTestVerifier(t *testing.T, issuer string, cfg verify.Config) *verify.Verifier {
	t.Helper()
	logs := &lockedBuffer{}
	cfg.Issuer, cfg.Audience = issuer, []string{apiAudience}
	cfg.ClientID, cfg.ClientSecret = apiClientID, apiClientSecret
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := verify.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("verify.New: %v", err)
	}
	t.Cleanup(func() {
		v.Close()
		if t.Failed() {
			// Refusals are in the test's own messages.
			t.Log(tail("verifier", logs.String(), func(line string) bool { return strings.Contains(line, `msg="bearer token refused"`) }))
		}
	})
	return v
}

// newAPI serves a backend whose GET /me is behind v's middleware and
// answers the token's subject.
func newAPI(t *testing.T, v *verify.Verifier, opts ...verify.Option) *httptest.Server {
	t.Helper()
	api := httptest.NewServer(v.MiddlewareWith(opts...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		fmt.Fprint(w, c.Subject)
	})))
	t.Cleanup(api.Close)
	return api
}

// callAPI calls the backend with token and returns the status and, for a
// refusal, its error_description (else the body).
func callAPI(t *testing.T, api, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("call the API: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, string(body)
	}
	var e struct {
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Description == "" {
		return resp.StatusCode, string(body)
	}
	return resp.StatusCode, e.Description
}

// waitFor calls the API with token every 10ms until it answers want (200
// or 401), and returns how long after since that was and the answer (for
// 401, its error_description). It fails the test on an answer but 200 and
// 401, or if the answer is still the other one limit after since.
func waitFor(t *testing.T, want int, api, token string, since time.Time, limit time.Duration) (time.Duration, string) {
	t.Helper()
	for {
		status, desc := callAPI(t, api, token)
		switch status {
		case want:
			return time.Since(since), desc
		case http.StatusOK, http.StatusUnauthorized:
		default:
			t.Fatalf("the API answered %d %q, want 200 or 401", status, desc)
		}
		if time.Since(since) > limit {
			t.Fatalf("the API still answers %d %q %s later, want %d", status, desc, limit, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// callSocialbridge makes a request with a bearer token to socialbridge
// and returns the status and body.
func callSocialbridge(t *testing.T, p *child, method, path, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s at %s: %v", method, path, p.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// kidOf returns the kid in a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil || h.Kid == "" {
		t.Fatalf("no kid in the JWT header %q", raw)
	}
	return h.Kid
}

func TestAVerifyBackendRefusesALoggedOutTokenWithinOnePollInterval(t *testing.T) {
	t.Parallel()
	p := startChild(t, "main", writeVerifyConfig(t, t.TempDir()), "")
	const feedInterval = 200 * time.Millisecond
	// A refusal must reach the API within two reads of the feed (the
	// revocation may commit just after a read), plus the time of a read
	// and of the polling on a busy machine.
	const bound = 2*feedInterval + time.Second
	api := newAPI(t, newTestVerifier(t, p.url, verify.Config{FeedInterval: feedInterval}))

	t.Run("after a logout", func(t *testing.T) {
		alice := devSignIn(t, p.url, "alice")
		other := devSignIn(t, p.url, "alice") // a second session of hers, on another device
		if status, got := callAPI(t, api.URL, alice.AccessToken); status != http.StatusOK || got != sub(t, alice.AccessToken) {
			t.Fatalf("a fresh token: %d %q, want 200 and the subject", status, got)
		}
		if status, body := callSocialbridge(t, p, http.MethodPost, "/logout", alice.AccessToken); status != http.StatusOK {
			t.Fatalf("POST /logout: %d %s", status, body)
		}
		took, desc := waitFor(t, http.StatusUnauthorized, api.URL, alice.AccessToken, time.Now(), 10*time.Second)
		t.Logf("the API refused the logged-out token %s after the logout (feed read every %s)", took.Round(time.Millisecond), feedInterval)
		if took > bound {
			t.Errorf("the API refused the logged-out token after %s, want at most %s", took, bound)
		}
		if !strings.Contains(desc, "revoked") {
			t.Errorf("error_description = %q, want it to say the token was revoked", desc)
		}
		// Logging out ends that session only.
		if status, desc := callAPI(t, api.URL, other.AccessToken); status != http.StatusOK {
			t.Errorf("her other session's token: %d %q, want 200", status, desc)
		}
	})

	t.Run("after an administrator disables the user", func(t *testing.T) {
		bob := devSignIn(t, p.url, "bob")
		if status, desc := callAPI(t, api.URL, bob.AccessToken); status != http.StatusOK {
			t.Fatalf("a fresh token: %d %q, want 200", status, desc)
		}
		if status, body := callSocialbridge(t, p, http.MethodPost, "/admin/users/"+url.PathEscape(sub(t, bob.AccessToken))+"/disable", e2eAdminToken); status != http.StatusOK {
			t.Fatalf("POST /admin/users/{sub}/disable: %d %s", status, body)
		}
		took, desc := waitFor(t, http.StatusUnauthorized, api.URL, bob.AccessToken, time.Now(), 10*time.Second)
		t.Logf("the API refused the disabled user's token %s after the admin call", took.Round(time.Millisecond))
		if took > bound {
			t.Errorf("the API refused the disabled user's token after %s, want at most %s", took, bound)
		}
		if !strings.Contains(desc, "revoked") {
			t.Errorf("error_description = %q, want it to say the token was revoked", desc)
		}
	})

	t.Run("at once on a route that introspects", func(t *testing.T) {
		// A verifier that reads the feed only at start: what refuses the
		// token can only be introspection.
		v := newTestVerifier(t, p.url, verify.Config{FeedInterval: time.Hour, FeedMaxStale: time.Hour})
		plain, introspecting := newAPI(t, v), newAPI(t, v, verify.WithIntrospection())
		carol := devSignIn(t, p.url, "carol")
		if status, desc := callAPI(t, introspecting.URL, carol.AccessToken); status != http.StatusOK {
			t.Fatalf("a fresh token: %d %q, want 200", status, desc)
		}
		if status, body := callSocialbridge(t, p, http.MethodPost, "/logout", carol.AccessToken); status != http.StatusOK {
			t.Fatalf("POST /logout: %d %s", status, body)
		}
		status, desc := callAPI(t, introspecting.URL, carol.AccessToken)
		if status != http.StatusUnauthorized || !strings.Contains(desc, "revoked") {
			t.Errorf("the introspecting route right after logout: %d %q, want 401 saying the token was revoked", status, desc)
		}
		// The same verifier without introspection has not heard of the
		// logout yet: the price of not asking on every request.
		if status, desc := callAPI(t, plain.URL, carol.AccessToken); status != http.StatusOK {
			t.Errorf("the route without introspection: %d %q, want 200 until the next feed read", status, desc)
		}
	})
}

// minted is one access token of the rotation test and what the API said.
type minted struct {
	by     string        // the process that signed it
	kid    string        // its key
	at     time.Duration // when it was minted, from the start of the loop
	status int           // the API's answer
	desc   string
}

func TestVerifyKeepsAcceptingTokensAcrossAKeyRotationWithTwoProcesses(t *testing.T) {
	t.Parallel()
	// A short publish-ahead makes the keyring reload every
	// publishAhead/4 (750ms); a long rotation keeps the schedule from
	// rotating by itself during the test.
	const publishAhead = 3 * time.Second
	conf := writeVerifyConfig(t, t.TempDir(), "key_publish_ahead: "+publishAhead.String(), "key_rotation: 10m")
	// Two replicas on one SQLite file, with one issuer: A's URL.
	a := startChild(t, "A", conf, "")
	b := startChild(t, "B", conf, a.url)

	// The verifier reads the keys from A only. It fetches them every
	// second, less than publishAhead, as verify's default (5m) is less
	// than socialbridge's; and never because of an unknown kid, so that a
	// new key must be published before it signs, not found after.
	v := newTestVerifier(t, a.url, verify.Config{JWKSRefreshInterval: time.Second, JWKSRefetchInterval: time.Hour})
	api := newAPI(t, v)

	// One session refreshed at each process (both signed in at A, the
	// public URL, where the demo client's redirect URI is).
	type session struct {
		p       *child
		refresh string
	}
	sessions := []*session{{a, devSignIn(t, a.url, "alice").RefreshToken}, {b, devSignIn(t, a.url, "bob").RefreshToken}}

	var tokens []minted
	mint := func(s *session, began time.Time) {
		status, ts := postToken(t, s.p.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}, "client_id": {"demo"}})
		if status != http.StatusOK || ts.AccessToken == "" {
			t.Fatalf("refresh at %s: %d %s", s.p.name, status, ts.Error)
		}
		s.refresh = ts.RefreshToken
		m := minted{by: s.p.name, kid: kidOf(t, ts.AccessToken), at: time.Since(began)}
		m.status, m.desc = callAPI(t, api.URL, ts.AccessToken)
		tokens = append(tokens, m)
	}

	const (
		rotateAfter = 2 * time.Second
		loopFor     = 10 * time.Second
		// Both processes must sign with the new key this long after the
		// rotation: publishAhead, one reload, and slack for a busy machine.
		switchWithin = publishAhead + 10*time.Second
	)
	began := time.Now()
	var rotatedAt time.Duration // when the rotate request began
	rotated := false
	switchedAt := map[string]time.Duration{} // by process
	oldKid, newKid := "", ""
	for i := 0; ; i++ {
		mint(sessions[i%2], began)
		last := tokens[len(tokens)-1]
		if oldKid == "" {
			oldKid = last.kid
		}
		if rotated && last.kid != oldKid {
			if _, ok := switchedAt[last.by]; !ok {
				switchedAt[last.by] = last.at
			}
		}
		elapsed := time.Since(began)
		if !rotated && elapsed >= rotateAfter {
			rotatedAt = elapsed
			var successors struct {
				Keys []adminKey `json:"keys"`
			}
			callAdmin(t, b, http.MethodPost, "/admin/keys/rotate", &successors)
			rotated = true
			next := keyOfUse(t, successors.Keys, "access")
			if !next.Created || next.KID == oldKid {
				t.Fatalf("POST /admin/keys/rotate made no new access key: %+v", next)
			}
			newKid = next.KID
			t.Logf("rotated at B %s into the loop: access key %s signs from %s, in %s",
				rotatedAt.Round(time.Millisecond), newKid, next.SignFrom.Format(time.RFC3339Nano), (next.SignFrom.Sub(began) - rotatedAt).Round(time.Millisecond))
		}
		if len(switchedAt) == 2 && elapsed >= loopFor {
			break
		}
		if rotated && elapsed > rotatedAt+switchWithin {
			t.Errorf("%s after the rotation, only %d of A and B sign with the new key", switchWithin, len(switchedAt))
			break
		}
		time.Sleep(20 * time.Millisecond) // continuous, but leaving the CPU to the rest
	}
	loop := time.Since(began)

	var failures []string
	kids := map[string][]string{} // by process, in order, without repeats
	for i, m := range tokens {
		if m.status != http.StatusOK {
			failures = append(failures, fmt.Sprintf("token %d, of %s (kid %s, minted %s into the loop): %d %q", i, m.by, m.kid, m.at.Round(time.Millisecond), m.status, m.desc))
		}
		if ks := kids[m.by]; len(ks) == 0 || ks[len(ks)-1] != m.kid {
			kids[m.by] = append(ks, m.kid)
		}
	}
	switched := func(name string) string {
		if at, ok := switchedAt[name]; ok {
			return (at - rotatedAt).Round(time.Millisecond).String() + " after the rotate request"
		}
		return "never"
	}
	t.Logf("%d tokens in %s; A signed with %v, B with %v; B switched %s, A %s",
		len(tokens), loop.Round(time.Millisecond), kids["A"], kids["B"], switched("B"), switched("A"))
	if len(failures) > 0 {
		if len(failures) > 5 {
			failures = append(failures[:5], fmt.Sprintf("and %d more", len(failures)-5))
		}
		t.Errorf("the API refused %d tokens across the rotation, want none:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	// Each process signs with the old key, then the new one, and never
	// goes back; and says so.
	for _, p := range []*child{a, b} {
		if ks := kids[p.name]; !slices.Equal(ks, []string{oldKid, newKid}) {
			t.Errorf("%s signed with kids %v, want %s then %s", p.name, ks, oldKid, newKid)
		}
		var list struct {
			Keys []adminKey `json:"keys"`
		}
		callAdmin(t, p, http.MethodGet, "/admin/keys", &list)
		for _, k := range list.Keys {
			if k.Use == "access" && k.Signing != (k.KID == newKid) {
				t.Errorf("GET /admin/keys at %s: access key %s has signing %v, want only %s signing", p.name, k.KID, k.Signing, newKid)
			}
		}
	}
	// The new key signs only once it has been published for
	// publishAhead, so that verifiers that cache the JWKS know it first.
	for name, at := range switchedAt {
		if at < rotatedAt+publishAhead {
			t.Errorf("%s signed with the new key %s after the rotate request, before it was published for %s",
				name, (at - rotatedAt).Round(time.Millisecond), publishAhead)
		}
	}
}

// adminKey is a signing key as the admin API shows it.
type adminKey struct {
	KID       string    `json:"kid"`
	Use       string    `json:"use"`
	SignFrom  time.Time `json:"sign_from"`
	RetiredAt time.Time `json:"retired_at"`
	Signing   bool      `json:"signing"`
	Verifying bool      `json:"verifying"`
	Published bool      `json:"published"`
	Created   bool      `json:"created"` // POST /admin/keys/rotate: made by this call
}

// callAdmin calls the admin API, which must answer 200, and decodes the
// answer into out.
func callAdmin(t *testing.T, p *child, method, path string, out any) {
	t.Helper()
	status, body := callSocialbridge(t, p, method, path, e2eAdminToken)
	if status != http.StatusOK {
		t.Fatalf("%s %s at %s: %d %s", method, path, p.name, status, body)
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("%s %s at %s: %v in %s", method, path, p.name, err, body)
	}
}

// keyOfUse returns the one key of use in keys.
func keyOfUse(t *testing.T, keys []adminKey, use string) adminKey {
	t.Helper()
	var found []adminKey
	for _, k := range keys {
		if k.Use == use {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s keys in %+v, want one", len(found), use, keys)
	}
	return found[0]
}

// jwksKids returns the kids socialbridge publishes.
func jwksKids(t *testing.T, p *child) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(get(t, p.url+"/.well-known/jwks.json")), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestRetiringAKeyStopsItsTokensAtVerifyBackends(t *testing.T) {
	t.Parallel()
	p := startChild(t, "main", writeVerifyConfig(t, t.TempDir()), "")
	const jwksRefresh = time.Second
	// The verifier learns of a retirement at its next JWKS fetch; and as
	// every periodic fetch counts against JWKSRefetchInterval (30s), an
	// unknown kid does not bring the next one forward.
	const bound = jwksRefresh + time.Second
	api := newAPI(t, newTestVerifier(t, p.url, verify.Config{JWKSRefreshInterval: jwksRefresh}))

	alice := devSignIn(t, p.url, "alice")
	old := alice.AccessToken
	oldKid := kidOf(t, old)
	if status, desc := callAPI(t, api.URL, old); status != http.StatusOK {
		t.Fatalf("a fresh token: %d %q, want 200", status, desc)
	}
	var r struct {
		Retired     adminKey  `json:"retired"`
		Replacement *adminKey `json:"replacement"`
	}
	callAdmin(t, p, http.MethodPost, "/admin/keys/"+url.PathEscape(oldKid)+"/retire", &r)
	retired := time.Now()
	if r.Retired.KID != oldKid || r.Retired.Signing || r.Retired.Verifying || r.Retired.Published || r.Replacement == nil {
		t.Fatalf("POST /admin/keys/{kid}/retire: retired %+v, replacement %+v; want the key neither signing, verifying nor published, and a replacement", r.Retired, r.Replacement)
	}
	t.Logf("retired access key %s; %s replaces it", oldKid, r.Replacement.KID)

	// socialbridge itself stops accepting and publishing the key at once.
	if status, body := callSocialbridge(t, p, http.MethodGet, "/userinfo", old); status != http.StatusUnauthorized {
		t.Errorf("/userinfo with a token of the retired key: %d %s, want 401", status, body)
	}
	if kids := jwksKids(t, p); slices.Contains(kids, oldKid) {
		t.Errorf("the JWKS still publishes the retired key %s: %v", oldKid, kids)
	}
	// A new token is signed by another key, which is published and works.
	status, next := postToken(t, p.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.RefreshToken}, "client_id": {"demo"}})
	if status != http.StatusOK {
		t.Fatalf("refresh after the retirement: %d %s", status, next.Error)
	}
	if newKid := kidOf(t, next.AccessToken); newKid != r.Replacement.KID {
		t.Fatalf("a token issued after the retirement is signed by %s, want the replacement %s (the retired key is %s)", newKid, r.Replacement.KID, oldKid)
	}
	newKid := r.Replacement.KID
	if kids := jwksKids(t, p); !slices.Contains(kids, newKid) {
		t.Errorf("the JWKS does not publish the new key %s: %v", newKid, kids)
	}
	if status, body := callSocialbridge(t, p, http.MethodGet, "/userinfo", next.AccessToken); status != http.StatusOK {
		t.Errorf("/userinfo with a token of the new key: %d %s, want 200", status, body)
	}

	// The backend follows within one JWKS refresh: it refuses the old
	// token and accepts the new one.
	took, desc := waitFor(t, http.StatusUnauthorized, api.URL, old, retired, 10*time.Second)
	t.Logf("the API refused the retired key's token %s after the retirement (JWKS fetched every %s)", took.Round(time.Millisecond), jwksRefresh)
	if took > bound {
		t.Errorf("the API refused the retired key's token after %s, want at most %s", took, bound)
	}
	if !strings.Contains(desc, "unknown key") {
		t.Errorf("error_description = %q, want it to say the key is unknown", desc)
	}
	took, _ = waitFor(t, http.StatusOK, api.URL, next.AccessToken, retired, 10*time.Second)
	t.Logf("the API accepted the new key's token %s after the retirement", took.Round(time.Millisecond))
	if took > bound {
		t.Errorf("the API accepted the new key's token after %s, want at most %s", took, bound)
	}
}
