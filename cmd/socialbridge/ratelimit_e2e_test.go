package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store/sqlite"
)

// TestASharedRateLimitCountsTheOtherReplicas runs a replica with
// server.rate_limit_shared on one SQLite file, and plays the other
// replicas through the store: the requests they report in the current
// window make this replica refuse the client although its own bucket is
// full, and the requests this replica allows reach the shared counter.
// With the setting off, the other replicas' counts change nothing.
func TestASharedRateLimitCountsTheOtherReplicas(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared", false: "per replica"}[shared]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"SOCIALBRIDGE_DATA_DIR": dir, "SOCIALBRIDGE_METRICS_ADDR": "off",
				"SOCIALBRIDGE_SERVER_RATE_LIMIT": "5"}
			if shared {
				env["SOCIALBRIDGE_SERVER_RATE_LIMIT_SHARED"] = "true"
			}
			inst := start(t, env)
			if want := map[bool]string{true: "shared by the replicas", false: "per replica"}[shared]; !strings.Contains(inst.logs.String(), want) {
				t.Errorf("the start-up log does not say the rate limit is %q", want)
			}
			others, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(dir, "socialbridge.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer others.Close()

			// At least six seconds of one 10-second window left.
			const window = 10 * time.Second
			if left := window - time.Duration(time.Now().UnixMilli()%window.Milliseconds())*time.Millisecond; left < 6*time.Second {
				time.Sleep(left + 50*time.Millisecond)
			}
			ws := time.UnixMilli(time.Now().UnixMilli() / window.Milliseconds() * window.Milliseconds())
			client := "127.0.0.1"
			status := func() int {
				resp, err := http.Get(inst.url + "/userinfo")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			// This replica allows five requests (the client joins the
			// shared count at the fifth, rate_limit), which it reports.
			for range 5 {
				if got := status(); got != http.StatusUnauthorized {
					t.Fatalf("GET /userinfo without a token = %d, want 401 (not limited yet)", got)
				}
			}
			reported := func() int64 {
				totals, err := others.AddRateCounts(context.Background(), ws, map[string]int64{client: 0}, ws.Add(2*window))
				if err != nil {
					t.Fatal(err)
				}
				return totals[client]
			}
			deadline := time.Now().Add(3 * time.Second)
			for shared && reported() < 5 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if got := reported(); shared && got != 5 || !shared && got != 0 {
				t.Errorf("the shared counter holds %d requests of the client, want %d", got, map[bool]int64{true: 5, false: 0}[shared])
			}
			// The other replicas spend the window's allowance (5/s × 10 s
			// + a burst of 10).
			if _, err := others.AddRateCounts(context.Background(), ws, map[string]int64{client: 60}, ws.Add(2*window)); err != nil {
				t.Fatal(err)
			}
			refused := false
			deadline = time.Now().Add(3 * time.Second)
			for !refused && time.Now().Before(deadline) {
				refused = status() == http.StatusTooManyRequests
				time.Sleep(200 * time.Millisecond) // well inside this replica's own 5/s
			}
			if refused != shared {
				t.Errorf("refused after the other replicas spent the allowance: %v, want %v", refused, shared)
			}
		})
	}
}
