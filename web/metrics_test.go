package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/web"
)

// recorder is a web.Recorder that keeps what it is told.
type recorder struct {
	mu          sync.Mutex
	requests    []recorded
	rateLimited int
}

type recorded struct {
	route, method string
	status        int
}

func (r *recorder) Request(route, method string, status int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	r.requests = append(r.requests, recorded{route, method, status})
}

func (r *recorder) RateLimited() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rateLimited++
}

func (r *recorder) snapshot() ([]recorded, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests), r.rateLimited
}

func TestMetricsAreNotServedOnThePublicHandler(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	a := newAppWith(t, nil, func(o *web.Options) { o.Metrics = rec })
	for _, path := range []string{"/metrics", "/metrics/", "/debug/metrics"} {
		resp, err := http.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the public handler: %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestRequestsAreRecordedByRoutePatternNotByPath(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	a := newAppWith(t, nil, func(o *web.Options) { o.Metrics = rec })
	ts := a.signIn(t)
	req, _ := http.NewRequest(http.MethodDelete, a.url+"/sessions/some-session-id", nil)
	req.Header.Set("Authorization", "Bearer "+ts.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(a.url + "/no/such/" + ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got, _ := rec.snapshot()
	want := []recorded{
		{"/authorize", "GET", http.StatusFound},
		{"/token", "POST", http.StatusOK},
		{"/sessions/:id", "DELETE", 0}, // whatever its status
		{web.UnmatchedRoute, "GET", http.StatusNotFound},
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(r recorded) bool {
			return r.route == w.route && r.method == w.method && (w.status == 0 || r.status == w.status)
		}) {
			t.Errorf("no request recorded as %+v; recorded %+v", w, got)
		}
	}
	for _, r := range got {
		if r.route == "/no/such/"+ts.AccessToken || r.route == "/sessions/some-session-id" {
			t.Errorf("a path was recorded as a route: %+v", r)
		}
	}
}

func TestRateLimitRejectionsAreRecorded(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	a := newAppWith(t, nil, func(o *web.Options) { o.Metrics, o.RateLimit = rec, 1 })
	refused := 0
	for range 5 { // bursts of twice the rate
		resp, err := http.PostForm(a.url+"/token", url.Values{"grant_type": {"refresh_token"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if _, n := rec.snapshot(); refused == 0 || n != refused {
		t.Errorf("%d requests refused, %d rate-limit rejections recorded; want the same, at least one", refused, n)
	}
}
