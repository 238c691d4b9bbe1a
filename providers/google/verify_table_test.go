package google_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// tableHarness runs the shared id_token cases of providertest against the
// Google adapter and googletest, with a new adapter per sign-in.
type tableHarness struct{ fake *googletest.Server }

func (h tableHarness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
	t.Helper()
	p := google.New(google.Config{
		ClientID: h.fake.ClientID(), ClientSecret: h.fake.ClientSecret(), Issuer: h.fake.URL(),
		HTTPClient: &http.Client{Transport: rw.Transport(nil), Timeout: 10 * time.Second},
	})
	return providertest.SignIn(t, p)
}

func (h tableHarness) Sign(_ *testing.T, claims map[string]any) string {
	return h.fake.SignIDToken(claims)
}

func TestSharedIDTokenVerificationCases(t *testing.T) {
	t.Parallel()
	providertest.RunIDTokenCases(t, tableHarness{googletest.New(t)}, providertest.Options{
		Provider: google.Name,
	})
}
