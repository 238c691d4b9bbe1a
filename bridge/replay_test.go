package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

// TestAnIDTokenIsExchangedOnceWhateverItsSpelling checks that the replay
// guard cannot be dodged by spelling one ID token differently: decoders
// forgive stray newlines and unused trailing bits, and a signature can be
// replaced by another valid one of the same header and payload, so the
// guard keys on what the issuer signed and other spellings are refused.
func TestAnIDTokenIsExchangedOnceWhateverItsSpelling(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p := google.New(google.Config{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.URL(),
		NativeClientIDs: []string{googleAndroidClient}})
	e := realEnv(t, p)
	token := fake.NativeIDToken(fake.ClientID(), googleAndroidClient, "n-1")
	grant := func(tok string) bridge.TokenExchangeGrant {
		return bridge.TokenExchangeGrant{Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: tok,
			SubjectTokenType: providers.TokenTypeIDToken, Provider: "google", Nonce: "n-1"}
	}
	if _, err := e.b.ExchangeToken(context.Background(), grant(token)); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	segs := strings.Split(token, ".")
	flipLastBit := func(seg string) string {
		// The last character of a segment whose length is not a multiple
		// of 4 carries unused bits; flipping one decodes to the same bytes
		// under lenient decoding.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, seg[len(seg)-1])
		return seg[:len(seg)-1] + string(alphabet[i^1])
	}
	variants := map[string]string{
		"the same token":                              token,
		"a newline inside the payload":                segs[0] + "." + segs[1][:10] + "\n" + segs[1][10:] + "." + segs[2],
		"a carriage return and newline in the header": segs[0][:5] + "\r\n" + segs[0][5:] + "." + segs[1] + "." + segs[2],
		"an unused bit of the payload flipped":        segs[0] + "." + flipLastBit(segs[1]) + "." + segs[2],
		"an unused bit of the signature flipped":      segs[0] + "." + segs[1] + "." + flipLastBit(segs[2]),
		"trailing whitespace":                         token + " ",
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			_, err := e.b.ExchangeToken(context.Background(), grant(v))
			if code := oauthCode(err); code != bridge.ErrCodeInvalidGrant && code != bridge.ErrCodeInvalidRequest {
				t.Errorf("a replay spelled %s: error %v, want invalid_grant or invalid_request", name, err)
			}
		})
	}
	if n, _ := e.store.CountUsers(context.Background()); n != 1 {
		t.Errorf("%d users, want 1", n)
	}
}
