package mongo_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
)

// hostOf returns the host:port of a mongodb:// URI.
func hostOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestStartupWaitsForAServerThatIsNotReachableYet(t *testing.T) {
	// Not parallel: it starts a FerretDB server (see mongotest).
	server := startFerretDB(t)
	p := mongotest.StartProxy(t, hostOf(t, server), true)
	const refuseFor = 3 * time.Second
	time.AfterFunc(refuseFor, func() { p.Restore() })

	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), nil))
	began := time.Now()
	s, err := mongo.Open(context.Background(), mongo.Options{
		URI: p.URI(server), Database: "startup", Logger: logger, WaitForServer: true,
		Redact: func(msg string) string { return msg },
	})
	if err != nil {
		t.Fatalf("Open with a server that answers after %s: %v", refuseFor, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	took := time.Since(began)
	mu.Lock()
	log := logs.String()
	mu.Unlock()
	t.Logf("Open returned %s after it began; the proxy refused %d connections for %s:\n%s", took.Round(time.Millisecond), p.Refused(), refuseFor, log)
	if took < refuseFor {
		t.Errorf("Open returned after %s, before the server was reachable (%s)", took, refuseFor)
	}
	if p.Refused() == 0 {
		t.Error("the proxy refused no connection: the test tested nothing")
	}
	if !strings.Contains(log, `msg="MongoDB not reachable yet; retrying in 500ms"`) || !strings.Contains(log, "attempt=1") {
		t.Error("Open did not log its first wait")
	}
	if !strings.Contains(log, `msg="MongoDB reachable"`) {
		t.Error("Open did not log that the server answered at last")
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping after Open: %v", err)
	}
}

func TestStartupGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	// Nothing behind the proxy, which refuses for good.
	p := mongotest.StartProxy(t, "127.0.0.1:1", true)
	ctx, cancel := context.WithCancel(context.Background())
	const cancelAfter = 3 * time.Second
	time.AfterFunc(cancelAfter, cancel)
	began := time.Now()
	_, err := mongo.Open(ctx, mongo.Options{URI: p.URI("mongodb://127.0.0.1/"), Database: "startup", WaitForServer: true})
	took := time.Since(began)
	t.Logf("Open gave up %s after it began: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("Open succeeded with no server")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting for the server") {
		t.Errorf("Open: %v, want it to say it gave up waiting because the context was canceled", err)
	}
	if took > cancelAfter+time.Second {
		t.Errorf("Open returned %s after the context was canceled, want at once", took-cancelAfter)
	}
}

func TestStartupWithoutWaitForServerFailsWithoutRetrying(t *testing.T) {
	t.Parallel()
	p := mongotest.StartProxy(t, "127.0.0.1:1", true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := mongo.Open(ctx, mongo.Options{URI: p.URI("mongodb://127.0.0.1/"), Database: "startup"})
	if err == nil || !strings.Contains(err.Error(), "reach mongodb") || strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("Open without WaitForServer: %v, want a plain failure to reach the server", err)
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
