// Command sbload measures socialbridge's hot paths against a baseline taken
// in the same run on the same database, as DESIGN.md's performance targets
// ask: the refresh grant over HTTP versus the bare conditional
// findOneAndUpdate it is built on, at several concurrencies, and complete
// dev-provider sign-ins per second.
//
// It runs the socialbridge binary in dev mode, with its embedded database
// (FerretDB on SQLite, in socialbridge's process) on a known loopback port.
// The baseline talks to that same database over loopback, so both paths
// cross one process boundary: the baseline to the database, the refresh
// grant to socialbridge. It prints rates, latency percentiles and ratios. Every loop is bounded in
// time; only loopback addresses are used.
//
//	go build -o /tmp/socialbridge ./cmd/socialbridge
//	go run ./cmd/sbload -bin /tmp/socialbridge
//
// scripts/load.sh does both.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "path of the socialbridge binary to measure (required)")
	dur := flag.Duration("duration", 5*time.Second, "how long each measurement runs")
	levels := flag.String("concurrency", "1,8,32", "comma-separated client counts")
	signinClients := flag.Int("signin-clients", 8, "clients for the sign-in measurement (0 skips it)")
	flag.Parse()
	if *bin == "" {
		return errors.New("-bin is required")
	}
	var conc []int
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			return fmt.Errorf("-concurrency: %q is not a client count from 1 to 256", s)
		}
		conc = append(conc, n)
	}

	dir, err := os.MkdirTemp("", "sbload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbAddr, err := freeAddr()
	if err != nil {
		return err
	}
	base, pid, stop, err := startServer(*bin, dir, dbAddr)
	if err != nil {
		return err
	}
	defer stop()

	db, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + dbAddr + "/"))
	if err != nil {
		return err
	}
	defer db.Disconnect(context.Background())
	bench := db.Database("sbload").Collection("baseline")
	// The baseline updates a copy of a real session document, so that it
	// does exactly the database work of a refresh (document size matters
	// on FerretDB: a session costs about 25% more than a tiny document).
	if _, err := signIn(base, newClient()); err != nil {
		return fmt.Errorf("first sign-in: %w", err)
	}
	var template bson.M
	if err := db.Database("socialbridge").Collection("sessions").FindOne(context.Background(), bson.M{"state": "active"}).Decode(&template); err != nil {
		return fmt.Errorf("read a session to copy: %w", err)
	}

	fmt.Printf("socialbridge load test: %s per measurement, embedded database (FerretDB/SQLite), loopback HTTP\n", *dur)
	fmt.Printf("baseline: the refresh's conditional findOneAndUpdate on a copy of a real session document, straight to the database\n\n")
	fmt.Printf("%-8s %-34s %10s %9s %9s %9s\n", "clients", "operation", "ops/s", "p50 ms", "p99 ms", "ratio")
	for _, n := range conc {
		baseline, err := measure(n, *dur, func(w int) (func() error, error) { return casWorker(bench, template, w) })
		if err != nil {
			return fmt.Errorf("baseline at %d: %w", n, err)
		}
		refresh, err := measure(n, *dur, func(int) (func() error, error) { return refreshWorker(base) })
		if err != nil {
			return fmt.Errorf("refresh at %d: %w", n, err)
		}
		fmt.Printf("%-8d %-34s %10.0f %9.2f %9.2f %9s\n", n, "bare conditional findOneAndUpdate", baseline.rate, baseline.p50, baseline.p99, "1.00")
		fmt.Printf("%-8d %-34s %10.0f %9.2f %9.2f %9.2f   (target >= 0.70; p99/p50 %.1f)\n", n, "POST /token refresh_token", refresh.rate, refresh.p50, refresh.p99,
			refresh.rate/baseline.rate, refresh.p99/refresh.p50)
		fmt.Printf("%-8s server RSS after: %s (embedded database included)\n", "", rss(pid))
	}
	if *signinClients > 0 {
		n := *signinClients
		baseline, err := measure(n, *dur, func(w int) (func() error, error) { return casWorker(bench, template, w) })
		if err != nil {
			return err
		}
		signin, err := measure(n, *dur, func(int) (func() error, error) { return signinWorker(base), nil })
		if err != nil {
			return fmt.Errorf("sign-in: %w", err)
		}
		// A sign-in is five writes: the flow at /authorize, then the four
		// of the completion (identity, user, code, redemption).
		fmt.Printf("\n%-8d %-34s %10.0f %9.2f %9.2f\n", n, "complete dev sign-in (5 requests)", signin.rate, signin.p50, signin.p99)
		fmt.Printf("%-8d %-34s %10.0f %9s %9s %9.2f   (sign-ins/s ÷ (baseline/5))\n", n, "baseline ÷ 5 writes", baseline.rate/5, "", "", signin.rate/(baseline.rate/5))
		fmt.Printf("%-8s server RSS after: %s\n", "", rss(pid))
	}
	return nil
}

// result is one measurement.
type result struct {
	rate     float64 // operations per second
	p50, p99 float64 // milliseconds
}

// measure runs n workers for d and reports throughput and latency. setup
// prepares each worker outside the timed window.
func measure(n int, d time.Duration, setup func(worker int) (func() error, error)) (result, error) {
	ops := make([]func() error, n)
	for i := range ops {
		op, err := setup(i)
		if err != nil {
			return result{}, err
		}
		ops[i] = op
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for _, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := op(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	return result{rate: float64(len(latencies)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}, nil
}

// casWorker is the baseline: the conditional findOneAndUpdate that checks
// and advances a generation, as a refresh does, on a document of its own.
func casWorker(coll *mongo.Collection, template bson.M, w int) (func() error, error) {
	id := fmt.Sprintf("w%d-%d", w, time.Now().UnixNano())
	doc := bson.M{}
	for k, v := range template {
		doc[k] = v
	}
	doc["_id"], doc["generation"] = id, int64(1)
	doc["expires_at"], doc["idle_expires_at"] = time.Now().Add(time.Hour), time.Now().Add(time.Hour)
	if _, err := coll.InsertOne(context.Background(), doc); err != nil {
		return nil, err
	}
	gen := int64(1)
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	return func() error {
		var out bson.M
		now := time.Now()
		err := coll.FindOneAndUpdate(context.Background(),
			bson.M{"_id": id, "state": "active", "generation": gen, "expires_at": bson.M{"$gt": now}, "idle_expires_at": bson.M{"$gt": now}},
			bson.M{"$set": bson.M{"generation": gen + 1, "rotated_at": now, "idle_expires_at": now.Add(time.Hour)}}, opts).Decode(&out)
		gen++
		return err
	}, nil
}

// refreshWorker signs in once, then refreshes in a loop, always with the
// newest refresh token.
func refreshWorker(base string) (func() error, error) {
	tok, err := signIn(base, newClient())
	if err != nil {
		return nil, err
	}
	c := newClient()
	return func() error {
		ts, err := postToken(c, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"demo"}})
		if err != nil {
			return err
		}
		tok = ts
		return nil
	}, nil
}

// signinWorker performs complete sign-ins as distinct dev users' browsers.
func signinWorker(base string) func() error {
	return func() error {
		_, err := signIn(base, newClient())
		return err
	}
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// signIn runs the demo client's whole flow with the dev provider: authorize,
// the dev page's form, the callback, and the code exchange.
func signIn(base string, c *http.Client) (tokenSet, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	redirect := base + "/demo/"
	q := url.Values{
		"client_id": {"demo"}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/demo/" {
			return http.ErrUseLastResponse // the SPA would take over here
		}
		return nil
	}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		return tokenSet{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	form := resp.Request.URL.Query()
	form.Set("user", "alice")
	resp, err = c.PostForm(base+"/dev/authorize", form)
	if err != nil {
		return tokenSet{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("code") == "" {
		return tokenSet{}, fmt.Errorf("sign-in did not return a code (status %d)", resp.StatusCode)
	}
	return postToken(c, base, url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {"demo"}, "code_verifier": {verifier},
	})
}

func postToken(c *http.Client, base string, form url.Values) (tokenSet, error) {
	resp, err := c.PostForm(base+"/token", form)
	if err != nil {
		return tokenSet{}, err
	}
	defer resp.Body.Close()
	var ts tokenSet
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		return ts, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return ts, fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, ts.Error)
	}
	return ts, nil
}

// rss reads a process's resident memory from /proc (Linux).
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer runs the socialbridge binary in dev mode against the given
// database on a free loopback port and waits until it is ready.
func startServer(bin, dir, dbAddr string) (string, int, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"SOCIALBRIDGE_DATA_DIR=" + dir, "SOCIALBRIDGE_SERVER_ADDR=" + addr,
		"SOCIALBRIDGE_STORE_EMBEDDED_ADDR=" + dbAddr, "SOCIALBRIDGE_LOG_LEVEL=warn",
		"SOCIALBRIDGE_SERVER_RATE_LIMIT=-1", // every load client comes from 127.0.0.1
	}
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	_, port, _ := net.SplitHostPort(addr)
	base := "http://localhost:" + port
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, cmd.Process.Pid, stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", 0, nil, errors.New("socialbridge did not become ready in 30s")
}
