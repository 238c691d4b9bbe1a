package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkRefreshOverHTTP runs the refresh grant through the whole HTTP
// stack on loopback, with parallel clients each rotating its own session.
func BenchmarkRefreshOverHTTP(b *testing.B) {
	a := newApp(b, nil)
	sessions := make(chan string, 64)
	for range 64 {
		sessions <- a.signIn(b).RefreshToken
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tok := <-sessions
		c := &http.Client{}
		for pb.Next() {
			resp, err := c.Post(a.url+"/token", "application/x-www-form-urlencoded",
				strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {"spa"}}.Encode()))
			if err != nil {
				b.Fatal(err)
			}
			var tr tokenResponse
			decodeJSON(resp, &tr)
			if resp.StatusCode != 200 {
				b.Fatalf("refresh: %d %s", resp.StatusCode, tr.Error)
			}
			tok = tr.RefreshToken
		}
	})
}
