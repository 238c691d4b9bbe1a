package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
)

// The store calls here are the ones bridge makes for a sign-in and a
// refresh, with values shaped like its own: 22-character flow ids, codes
// "flowid.secret" stored as SHA-256 hashes, S256 PKCE challenges, the
// claims snapshot of claims.ForToken, provider tokens sealed ("v1.<key
// id>.<base64url>").
const (
	demoClient     = "demo"
	demoRedirect   = "http://localhost/demo/"
	flowTTL        = 10 * time.Minute
	codeTTL        = time.Minute
	sessionIdleTTL = 14 * 24 * time.Hour
	sessionTTL     = 30 * 24 * time.Hour
	// seedWorkers run the seeding. The store has one writer connection, so
	// more goroutines only keep it busy; measured on 2 cores (30,000
	// users): 2 took 32 s, 4 took 30 s, 8 took 24 s, 16 took 25 s.
	seedWorkers = 8
)

// persona is a person as a provider reports them.
type persona struct {
	provider, subject string
	profile           claims.Profile
}

// key is the identity key, as providers.Identity.Key builds it.
func (p persona) key() string { return p.provider + "|" + p.subject }

// baselinePersona is the user of the baseline's sessions and sign-ins: a
// dev-provider user of sbload's own, so that it never touches the
// server's.
func baselinePersona() persona {
	return persona{provider: "dev", subject: "sbload-alice", profile: claims.Profile{
		Email: "sbload-alice@example.com", EmailVerified: true, Name: "Alice Baseline",
	}}
}

// seedPersona is the i-th seeded user, shaped like a Google account.
func seedPersona(i int) persona {
	return persona{provider: "google", subject: fmt.Sprintf("1%020d", i), profile: claims.Profile{
		Email: fmt.Sprintf("user%d@example.com", i), EmailVerified: true,
		Name: fmt.Sprintf("Seeded User %d", i), GivenName: "Seeded", FamilyName: fmt.Sprintf("User %d", i),
		Picture: "https://lh3.googleusercontent.com/a/" + randomToken(48) + "=s96-c", Locale: "en",
	}}
}

// recordLogin is the user half of a sign-in, as bridge does it: claim the
// identity, then write the user with the profile and the sealed provider
// tokens in one upsert.
func recordLogin(ctx context.Context, st store.Store, p persona, now time.Time) (*store.User, error) {
	userID, _, err := st.ClaimIdentity(ctx, p.key(), p.provider, p.subject, randomToken(16), now)
	if err != nil {
		return nil, err
	}
	link := store.ProviderLink{
		Subject: p.subject, Profile: p.profile, Expiry: now.Add(time.Hour), UpdatedAt: now,
		// Typical plaintext sizes: a Google access token, refresh token
		// and id_token.
		AccessTokenSealed: sealedLooking(180), RefreshTokenSealed: sealedLooking(100), IDTokenSealed: sealedLooking(900),
	}
	return st.UpsertLogin(ctx, userID, store.Login{IdentityKey: p.key(), Provider: p.provider, Link: link, Profile: p.profile, Now: now})
}

// flow is a login flow sbload started, with the secrets its client holds.
type flow struct {
	id, provider, verifier string
}

// createFlow is /authorize's store call.
func createFlow(ctx context.Context, st store.Store, provider string, now time.Time) (flow, error) {
	f := flow{id: randomToken(16), provider: provider, verifier: randomToken(32)}
	err := st.CreateFlow(ctx, &store.Session{
		ID: f.id, ExpiresAt: now.Add(flowTTL), CreatedAt: now,
		ClientID: demoClient, RedirectURI: demoRedirect, ClientState: "s",
		CodeChallenge: s256(f.verifier), Nonce: randomToken(16), Scope: "openid profile email", Provider: provider,
	})
	return f, err
}

// claim claims the flow as the callback does before it calls the
// provider.
func (f flow) claim(ctx context.Context, st store.Store, now time.Time) error {
	if _, err := st.ClaimFlow(ctx, f.id, f.provider, now); err != nil {
		return fmt.Errorf("claim flow: %w", err)
	}
	return nil
}

// complete issues the claimed flow's one-time code to user (the callback's
// last store call) and redeems it (the code exchange's), leaving an active
// session at generation 1.
func (f flow) complete(ctx context.Context, st store.Store, user *store.User, now time.Time) (*store.Session, error) {
	code := f.id + "." + randomToken(32)
	_, err := st.IssueCode(ctx, f.id, f.provider, now, store.CodeIssue{
		UserID: user.ID, AuthTime: now, Claims: claims.ForToken(user.Profile, user.Roles),
		CodeHash: s256(code), CodeExpiresAt: now.Add(codeTTL),
	})
	if err != nil {
		return nil, fmt.Errorf("issue code: %w", err)
	}
	sess, err := st.RedeemCode(ctx, f.id, store.Redemption{
		CodeHash: s256(code), ClientID: demoClient, RedirectURI: demoRedirect, CodeChallenge: s256(f.verifier),
		Now: now, IdleExpiresAt: now.Add(sessionIdleTTL), ExpiresAt: now.Add(sessionTTL),
	})
	if err != nil {
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	return sess, nil
}

// newSession creates an active session of user: CreateFlow, ClaimFlow,
// IssueCode, RedeemCode.
func newSession(ctx context.Context, st store.Store, user *store.User) (*store.Session, error) {
	now := time.Now()
	f, err := createFlow(ctx, st, "dev", now)
	if err != nil {
		return nil, fmt.Errorf("create flow: %w", err)
	}
	if err := f.claim(ctx, st, now); err != nil {
		return nil, err
	}
	return f.complete(ctx, st, user, now)
}

// rotateWorker is the refresh baseline: a session of its own, rotated from
// generation to generation, the refresh grant's one store call.
func rotateWorker(ctx context.Context, st store.Store, user *store.User) (op, error) {
	sess, err := newSession(ctx, st, user)
	if err != nil {
		return nil, err
	}
	id, gen := sess.ID, sess.Generation
	return func() error {
		now := time.Now()
		if _, err := st.Rotate(ctx, id, gen, now, now.Add(sessionIdleTTL)); err != nil {
			return fmt.Errorf("rotate session at generation %d: %w", gen, err)
		}
		gen++
		return nil
	}, nil
}

// storeSigninWorker is the sign-in baseline: the eight store calls of a
// returning user's sign-in, in bridge's order (the audit event, written
// after the code is issued, comes last here; its cost is the same).
func storeSigninWorker(ctx context.Context, st store.Store) op {
	p := baselinePersona()
	return func() error {
		now := time.Now()
		f, err := createFlow(ctx, st, p.provider, now)
		if err != nil {
			return fmt.Errorf("create flow: %w", err)
		}
		if err := f.claim(ctx, st, now); err != nil {
			return err
		}
		user, err := recordLogin(ctx, st, p, now)
		if err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		sess, err := f.complete(ctx, st, user, now)
		if err != nil {
			return err
		}
		// The sign-in's audit event, and the redemption's read of the
		// user (a disabled user's fresh session is revoked).
		if err := st.AppendAudit(ctx, store.AuditEvent{ID: randomToken(16), At: now, Type: "login", UserID: user.ID,
			SessionID: sess.ID, ClientID: demoClient, IP: "127.0.0.1", Detail: map[string]string{"provider": p.provider}}); err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
		if _, err := st.GetUser(ctx, user.ID); err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		return nil
	}
}

// seed stores n users, each signed in once through the store (identity,
// user, and an active session), with seedWorkers goroutines, and reports
// how long it took. It prints progress every 10 seconds.
func seed(ctx context.Context, st store.Store, n int) (time.Duration, error) {
	var (
		next     atomic.Int64
		done     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	stopProgress := progress(&done, n, start)
	defer stopProgress()
	for range seedWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := seedOne(ctx, st, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return time.Since(start), firstErr
}

// seedOne signs in the i-th seeded user through the store.
func seedOne(ctx context.Context, st store.Store, i int) error {
	now := time.Now()
	p := seedPersona(i)
	user, err := recordLogin(ctx, st, p, now)
	if err != nil {
		return fmt.Errorf("user %d: %w", i, err)
	}
	f, err := createFlow(ctx, st, p.provider, now)
	if err != nil {
		return fmt.Errorf("session of user %d: create flow: %w", i, err)
	}
	if err := f.claim(ctx, st, now); err != nil {
		return fmt.Errorf("session of user %d: %w", i, err)
	}
	if _, err := f.complete(ctx, st, user, now); err != nil {
		return fmt.Errorf("session of user %d: %w", i, err)
	}
	return nil
}

// progress prints done/n every 10 seconds until the returned function is
// called.
func progress(done *atomic.Int64, n int, start time.Time) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Printf("seeding: %d of %d after %s\n", done.Load(), n, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// randomToken returns n random bytes, base64url-encoded, like bridge's ids
// and secrets.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealedLooking returns a string shaped like tokens.Sealer's output for a
// plaintext of n bytes: "v1.", a key id, and nonce+ciphertext+tag.
func sealedLooking(n int) string {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	return "v1." + hex.EncodeToString(id) + "." + randomToken(12+n+16)
}

// s256 is base64url(SHA-256(s)): a PKCE S256 challenge, and how bridge
// hashes a one-time code.
func s256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
