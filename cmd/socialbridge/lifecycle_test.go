package main

// Tests of socialbridge's life as a process: a graceful shutdown on SIGTERM
// that lets the requests in flight finish and closes the database cleanly,
// and a SIGKILL in the middle of a load that leaves a database the next
// start reads as if nothing happened. They run the binary as a child
// process (see startChild), so that the signals are real.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to check the file

	"github.com/socialbridge/socialbridge/configs"
)

// writeLifecycleConfig writes a dev-mode config file on the SQLite
// database in dataDir with server.shutdown_timeout and no per-IP rate
// limit (the load test signs in from one IP in tight loops).
func writeLifecycleConfig(t *testing.T, dataDir string, shutdownTimeout time.Duration) string {
	t.Helper()
	conf := fmt.Sprintf("mode: dev\ndata_dir: %q\nserver:\n  rate_limit: -1\n  shutdown_timeout: %s\n", dataDir, shutdownTimeout)
	path := filepath.Join(t.TempDir(), "socialbridge.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSQLite runs pragma (quick_check or integrity_check) on the SQLite
// file at path and fails the test unless it answers "ok".
func checkSQLite(t *testing.T, path, pragma string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA " + pragma)
	if err != nil {
		t.Fatalf("PRAGMA %s on %s: %v", pragma, path, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("PRAGMA %s on %s: %v", pragma, path, err)
	}
	if len(lines) != 1 || lines[0] != "ok" {
		t.Fatalf("PRAGMA %s on %s: %q, want ok", pragma, path, lines)
	}
}

// waitForLog waits until the child's log holds want.
func waitForLog(t *testing.T, c *child, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(c.output.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("socialbridge %s did not log %q within %s", c.name, want, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExit waits until the child has exited and returns how long that took
// from since.
func waitExit(t *testing.T, c *child, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case <-c.exited:
		return time.Since(since)
	case <-time.After(limit - time.Since(since)):
		t.Fatalf("socialbridge %s still runs %s after the signal", c.name, limit)
		return 0
	}
}

// exitedWith reports whether the child's exit (c.err) matches: a status
// (status >= 0) or death by signal sig. It clears c.err when it matches,
// so that startChild's cleanup does not take the test's own doing for a
// failure.
func exitedWith(t *testing.T, c *child, status int, sig syscall.Signal) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) {
		t.Fatalf("socialbridge %s exited with %v, want status %d or signal %v", c.name, c.err, status, sig)
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	if (status >= 0 && ee.ExitCode() != status) || (status < 0 && !(ws.Signaled() && ws.Signal() == sig)) {
		t.Fatalf("socialbridge %s exited with %v, want status %d or signal %v", c.name, c.err, status, sig)
	}
	c.err = nil
}

// slowRequest is a POST /token whose body the test sends in two parts, so
// that it is in flight as long as the test wishes.
type slowRequest struct {
	conn net.Conn
	rest string
}

// beginSlowRequest sends the headers and the first bytes of a POST /token
// with form as its body.
func beginSlowRequest(t *testing.T, c *child, form url.Values) *slowRequest {
	t.Helper()
	host := strings.TrimPrefix(c.url, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := form.Encode()
	_, err = fmt.Fprintf(conn, "POST /token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", host, len(body), body[:10])
	if err != nil {
		t.Fatal(err)
	}
	return &slowRequest{conn: conn, rest: body[10:]}
}

// finish sends the rest of the body and reads the answer.
func (r *slowRequest) finish(t *testing.T) (*http.Response, []byte, error) {
	t.Helper()
	_ = r.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(r.conn, r.rest); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// waitRefused dials addr until the connection is refused.
func waitRefused(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial %s during the shutdown: %v, want connection refused", addr, err)
			}
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %s into the shutdown", addr, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownLetsRequestsInFlightFinishThenClosesTheStore(t *testing.T) {
	t.Parallel()
	// A slow client is the request in flight: it sends the headers of a
	// refresh grant and half its body before the SIGTERM, and the rest
	// after. It goes through the real wiring, with no test handler and no
	// slowed store, and the server cannot answer before it has the whole
	// body.
	const timeout = 10 * time.Second
	dir := t.TempDir()
	c := startChild(t, "main", writeLifecycleConfig(t, dir, timeout), "")
	alice := devSignIn(t, c.url, "alice")
	req := beginSlowRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.RefreshToken}, "client_id": {"demo"}})
	time.Sleep(200 * time.Millisecond) // for the server to read the headers

	signalled := time.Now()
	if err := c.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, c, "shutting down: draining connections", 5*time.Second)
	waitRefused(t, strings.TrimPrefix(c.url, "http://"), 2*time.Second)
	select {
	case <-c.exited:
		t.Fatal("socialbridge exited with a request in flight")
	case <-time.After(300 * time.Millisecond): // it waits, and would for 10s
	}

	resp, body, err := req.finish(t)
	if err != nil {
		t.Fatalf("the request in flight at the shutdown: %v", err)
	}
	var ts tokenSet
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &ts) != nil || ts.AccessToken == "" {
		t.Fatalf("the request in flight at the shutdown: %d %s, want 200 and tokens", resp.StatusCode, body)
	}
	took := waitExit(t, c, signalled, timeout)
	if c.err != nil {
		t.Fatalf("socialbridge exited with %v, want status 0", c.err)
	}
	t.Logf("exited with status 0 %s after SIGTERM (the request in flight was held %s of it)", took.Round(time.Millisecond), (300 * time.Millisecond))
	logs := c.output.String()
	for _, step := range []string{"shutting down: draining connections", "requests_in_flight=", "shutting down: connections drained", "background work stopped", "store closed"} {
		if !strings.Contains(logs, step) {
			t.Errorf("the log does not say %q", step)
		}
	}
	db := filepath.Join(dir, "socialbridge.db")
	// The last connection to close checkpoints the WAL and removes it.
	if _, err := os.Stat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the write-ahead log is still there after the shutdown (%v): the store was not closed", err)
	}
	checkSQLite(t, db, "quick_check")
}

func TestShutdownCutsOffRequestsStillRunningAfterTheTimeoutAndStillClosesTheStore(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	dir := t.TempDir()
	c := startChild(t, "main", writeLifecycleConfig(t, dir, timeout), "")
	// A client that never sends the rest of its body.
	req := beginSlowRequest(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"never-sent"}, "client_id": {"demo"}})
	time.Sleep(200 * time.Millisecond)

	signalled := time.Now()
	if err := c.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took := waitExit(t, c, signalled, timeout+10*time.Second)
	exitedWith(t, c, 1, 0)
	t.Logf("exited with status 1 %s after SIGTERM with shutdown_timeout %s", took.Round(time.Millisecond), timeout)
	if took < timeout {
		t.Errorf("exited %s after SIGTERM, before the shutdown timeout %s", took, timeout)
	}
	logs := c.output.String()
	for _, step := range []string{"requests still in flight after server.shutdown_timeout; closing their connections", "store closed", "were cut off"} {
		if !strings.Contains(logs, step) {
			t.Errorf("the log does not say %q", step)
		}
	}
	// Its connection was closed under it.
	_ = req.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := req.conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the cut-off connection: read %d bytes, %v; want it closed", n, err)
	}
	checkSQLite(t, filepath.Join(dir, "socialbridge.db"), "quick_check")
}

// loadSession is a session of the kill test's load, with the last refresh
// token the load saw issued for it.
type loadSession struct {
	user    string // and which worker's session it is
	refresh string
}

func TestKillMidLoadLeavesADatabaseTheNextStartUses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := writeLifecycleConfig(t, dir, 5*time.Second)
	first := startChild(t, "first", conf, "")

	// Workers sign in (as the dev provider's test users, each sign-in a
	// new session) and refresh in a loop until the kill. A request
	// that fails (the process died under it) ends the worker; the sessions
	// it saw issued are kept with their last refresh token.
	const workers = 6
	var (
		mu        sync.Mutex
		sessions  []*loadSession
		refreshes int
		dead      atomic.Bool // set just before the kill
	)
	// failed reports err if the process was still meant to be alive.
	failed := func(what string, err error) {
		if !dead.Load() {
			t.Errorf("%s before the kill: %v", what, err)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				user := []string{"alice", "bob", "carol"}[(w+i)%3]
				ts, err := trySignIn(first.url, user)
				if err != nil {
					failed("sign-in of "+user, err)
					return
				}
				s := &loadSession{user: fmt.Sprintf("%s (worker %d, session %d)", user, w, i), refresh: ts.RefreshToken}
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
				for range 5 {
					status, next, err := tryRefresh(first.url, s.refresh)
					if err != nil {
						failed("refresh of "+user, err)
						return
					}
					if status != http.StatusOK {
						t.Errorf("refresh of %s during the load: %d %s", user, status, next.Error)
						return
					}
					mu.Lock()
					s.refresh = next.RefreshToken
					refreshes++
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	dead.Store(true)
	killed := time.Now()
	if err := first.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	exitedWith(t, first, -1, syscall.SIGKILL)
	wg.Wait()
	mu.Lock()
	t.Logf("SIGKILL after %d sign-ins and %d refreshes from %d workers", len(sessions), refreshes, workers)
	mu.Unlock()
	if len(sessions) < workers {
		t.Fatalf("only %d sessions before the kill: the load did not run", len(sessions))
	}

	// The next start on the same data directory and address (so the
	// issuer is the same, as in a deployment).
	addr := strings.TrimPrefix(first.url, "http://")
	var second *child
	for attempt := 1; ; attempt++ {
		c, err := launchChild(t, socialbridgeBinary(t), "second", conf, addr, "")
		if err == nil {
			second = c
			break
		}
		if attempt == 3 {
			t.Fatalf("socialbridge did not start again after the kill: %v", err)
		}
	}
	t.Logf("ready again %s after the kill", time.Since(killed).Round(time.Millisecond))
	checkSQLite(t, filepath.Join(dir, "socialbridge.db"), "integrity_check")

	// Every session refreshes, but those whose refresh was in flight at
	// the kill: the server may have rotated their token without the load
	// seeing the new one, and presenting the old one is then reuse. Such
	// a session is ended, consistently, with invalid_grant: never a 500.
	ended := 0
	for _, s := range sessions {
		status, next, err := tryRefresh(second.url, s.refresh)
		if err != nil {
			t.Fatalf("refresh of %s after the restart: %v", s.user, err)
		}
		switch {
		case status == http.StatusOK:
			if status, again, err := tryRefresh(second.url, next.RefreshToken); err != nil || status != http.StatusOK {
				t.Errorf("second refresh of %s after the restart: %d %s %v, want 200", s.user, status, again.Error, err)
			}
		case status == http.StatusBadRequest && next.Error == "invalid_grant":
			ended++
			if status, again, _ := tryRefresh(second.url, s.refresh); status != http.StatusBadRequest {
				t.Errorf("%s: the ended session answered %d %s to the same token again, want 400", s.user, status, again.Error)
			}
		default:
			t.Errorf("refresh of %s after the restart: %d %s, want 200, or 400 invalid_grant", s.user, status, next.Error)
		}
	}
	t.Logf("after the restart, %d of %d sessions refresh, %d ended (their refresh was in flight at the kill)", len(sessions)-ended, len(sessions), ended)
	if ended > workers {
		t.Errorf("%d sessions ended, but at most %d requests (one per worker) were in flight at the kill", ended, workers)
	}
	if ts := devSignIn(t, second.url, "carol"); ts.AccessToken == "" {
		t.Error("a sign-in after the restart got no access token")
	}
}

// trySignIn is devSignIn for goroutines other than the test's: it returns
// its errors instead of failing the test.
func trySignIn(base, user string) (tokenSet, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	verifier, challenge := pkcePair()
	redirect := base + "/demo/"
	q := url.Values{
		"client_id": {"demo"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid profile email"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		return tokenSet{}, err
	}
	resp.Body.Close()
	form := resp.Request.URL.Query()
	form.Set("user", user)
	resp, err = c.PostForm(base+"/dev/authorize", form)
	if err != nil {
		return tokenSet{}, err
	}
	resp.Body.Close()
	code := resp.Request.URL.Query().Get("code")
	if code == "" {
		return tokenSet{}, fmt.Errorf("sign-in ended at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	status, ts, err := tryToken(base, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"demo"}, "code_verifier": {verifier},
	})
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("code exchange: %d %s", status, ts.Error)
	}
	return ts, err
}

// tryRefresh makes a refresh grant as the demo client.
func tryRefresh(base, refresh string) (int, tokenSet, error) {
	return tryToken(base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"demo"}})
}

// tryToken is postToken returning its errors.
func tryToken(base string, form url.Values) (int, tokenSet, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).PostForm(base+"/token", form)
	if err != nil {
		return 0, tokenSet{}, err
	}
	defer resp.Body.Close()
	var ts tokenSet
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		return resp.StatusCode, ts, fmt.Errorf("token response is not JSON: %w", err)
	}
	return resp.StatusCode, ts, nil
}

func TestStartupWaitsForMongoDBAndNeverLogsTheURIsCredentials(t *testing.T) {
	t.Parallel()
	// Nothing listens at addr: the server is not up yet. (That it is then
	// found once it answers is tested in store/mongo, against FerretDB.)
	const password = "s3cr%2Fet-pass"
	uri := "mongodb://admin:" + password + "@" + freeAddr(t) + "/?authSource=admin"
	cfg := &configs.Config{Store: configs.Store{MongoDBURI: uri, Database: "socialbridge"}}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	began := time.Now()
	st, err := openStore(ctx, cfg, logger)
	t.Logf("openStore gave up %s after it began: %v\n%s", time.Since(began).Round(time.Millisecond), err, logs)
	if err == nil {
		_ = st.Close()
		t.Fatal("openStore succeeded with no server")
	}
	if !strings.Contains(err.Error(), "store.mongodb_uri") || !strings.Contains(err.Error(), "gave up waiting for the server") {
		t.Errorf("openStore: %v, want it to name the key and say it gave up waiting", err)
	}
	if !strings.Contains(logs.String(), "MongoDB not reachable yet; retrying in 500ms") {
		t.Error("openStore did not log its wait")
	}
	for _, secret := range []string{password, "s3cr/et-pass", "admin:"} {
		if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
			t.Errorf("the log or the error holds %q", secret)
		}
	}
}
