package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// Account linking. A signed-in user links another provider's identity in
// three steps, each bound to the one before:
//
//  1. BeginLink: the application, holding the user's access token, asks
//     for a link to provider; a link flow is recorded (state ready) for
//     the user and session the token names, and a one-time start URL is
//     returned.
//  2. StartLink: the browser opens the start URL; the flow moves to
//     pending (once: a second use fails), the browser gets the flow's
//     binding cookie and goes to the provider, as in a sign-in.
//  3. FinishLogin on the provider's callback sees a link flow: the
//     identity is attached to the user (ClaimIdentity with the user's id),
//     unless it belongs to someone else, and the browser returns to the
//     application with linked=<provider>, or an error.
//
// The start URL carries no token; it is single use, short-lived (the flow
// TTL) and only the browser that opens it first can finish the link.

// LinkRequest is a signed-in user's request to link a provider.
type LinkRequest struct {
	// AccessToken is the user's socialbridge access token.
	AccessToken string
	Provider    string
	// RedirectURI is where the browser returns; one of the token's
	// client's registered redirect URIs.
	RedirectURI string
	// State is the application's, returned with the result.
	State string
}

// Link error codes, in the redirect back to the application or in the
// response of the account endpoints.
const (
	// ErrCodeIdentityInUse: the provider account is another user's.
	ErrCodeIdentityInUse = "identity_in_use"
	// ErrCodeAlreadyLinked: the user already has an identity of that
	// provider (unlink it first).
	ErrCodeAlreadyLinked = "already_linked"
	// ErrCodeLastIdentity: the user's only identity cannot be unlinked.
	ErrCodeLastIdentity = "last_identity"
	// ErrCodeNotLinked: the user has no identity of that provider.
	ErrCodeNotLinked = "not_linked"
)

// AccountSession is the signed-in user an access token speaks for, with
// its session checked active.
type AccountSession struct {
	UserID    string
	SessionID string
	Client    *Client
}

// Account checks an access token and that its session is still active.
func (b *Bridge) Account(ctx context.Context, accessToken string) (*AccountSession, error) {
	at, err := b.o.Issuer.ParseAccess(accessToken)
	if err != nil {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the access token is invalid or expired"}
	}
	sess, err := b.o.Store.GetSession(ctx, at.SessionID)
	now := b.o.Now()
	if errors.Is(err, store.ErrNotFound) || (err == nil && !activeSessionOf(sess, at.Subject, now)) {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the session of this access token has ended"}
	}
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	c, ok := b.clients[at.ClientID]
	if !ok {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the client of this access token is no longer registered"}
	}
	u, err := b.o.Store.GetUser(ctx, at.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the user of this access token is unavailable"}
	}
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	return &AccountSession{UserID: at.Subject, SessionID: at.SessionID, Client: c}, nil
}

// activeSessionOf reports whether sess is an active, unexpired session of
// user.
func activeSessionOf(sess *store.Session, user string, now time.Time) bool {
	return sess.State == store.StateActive && sess.UserID == user && now.Before(sess.ExpiresAt) && now.Before(sess.IdleExpiresAt)
}

// LinkStart is a recorded link request: the URL the browser opens next.
type LinkStart struct {
	// Ticket is the flow's one-time start ticket (web puts it in the
	// start URL).
	Ticket string
}

// BeginLink records a link flow for the signed-in user (step 1).
func (b *Bridge) BeginLink(ctx context.Context, req LinkRequest) (*LinkStart, error) {
	acct, err := b.Account(ctx, req.AccessToken)
	if err != nil {
		return nil, err
	}
	c := acct.Client
	switch {
	case !slices.Contains(c.RedirectURIs, req.RedirectURI):
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: "redirect_uri is not registered for the client of this access token"}
	case len(req.State) > maxStateLen:
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: fmt.Sprintf("state is longer than %d characters", maxStateLen)}
	case req.Provider == "":
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: "provider is required"}
	case !slices.Contains(b.clientProviders(c), req.Provider):
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: fmt.Sprintf("provider %q is not available to this client", req.Provider)}
	}
	idents, err := b.o.Store.ListUserIdentities(ctx, acct.UserID)
	if err != nil {
		return nil, fmt.Errorf("begin link: %w", err)
	}
	if slices.ContainsFunc(idents, func(i store.Identity) bool { return i.Provider == req.Provider }) {
		return nil, &OAuthError{Code: ErrCodeAlreadyLinked, Description: fmt.Sprintf("this account already has a %s identity; unlink it first", b.ProviderLabel(req.Provider))}
	}
	now := b.o.Now()
	flowID := randomToken(16)
	if err := b.o.Store.CreateFlow(ctx, &store.Session{
		ID: flowID, State: store.StateReady, ExpiresAt: now.Add(b.o.FlowTTL), CreatedAt: now,
		ClientID: c.ID, RedirectURI: req.RedirectURI, ClientState: req.State, Provider: req.Provider,
		LinkUserID: acct.UserID, LinkSessionID: acct.SessionID,
	}); err != nil {
		return nil, fmt.Errorf("begin link: %w", err)
	}
	b.o.Logger.InfoContext(ctx, "link started", "flow", flowID, "user_id", acct.UserID, "client_id", c.ID, "provider", req.Provider)
	return &LinkStart{Ticket: flowID + "." + mac(b.o.FlowKey, "link-start", flowID)}, nil
}

// StartLink starts the link flow a ticket names (step 2): once, for the
// browser that opens it first.
func (b *Bridge) StartLink(ctx context.Context, ticket string) (*Login, error) {
	flowID, sig, ok := strings.Cut(ticket, ".")
	if !ok || len(flowID) != 22 || subtle.ConstantTimeCompare([]byte(sig), []byte(mac(b.o.FlowKey, "link-start", flowID))) != 1 {
		return nil, &PageError{Kind: ErrInvalidState}
	}
	flow, err := b.o.Store.StartFlow(ctx, flowID, b.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		sess, gerr := b.o.Store.GetSession(ctx, flowID)
		if gerr != nil || !b.o.Now().Before(sess.ExpiresAt) {
			return nil, &PageError{Kind: ErrFlowExpired, Err: err}
		}
		return nil, &PageError{Kind: ErrFlowUsed, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("start link: %w", err)
	}
	prov, ok := b.providers[flow.Provider]
	if !ok {
		return nil, &PageError{Kind: ErrUnknownProvider, Provider: flow.Provider}
	}
	u, err := prov.AuthCodeURL(ctx, providers.AuthRequest{
		RedirectURI: b.callbackURL(flow.Provider), State: b.state(flowID),
		Nonce: mac(b.o.FlowKey, "nonce", flowID), CodeChallenge: s256(b.verifier(flowID)),
		// The person is adding an account: let them choose which.
		Prompt: []string{promptSelectAccount},
	})
	if err != nil {
		b.o.Logger.WarnContext(ctx, "provider unavailable; link not started", "provider", flow.Provider, "flow", flowID, "err", err)
		target, ferr := b.failLogin(ctx, flowID, flow.Provider, ErrCodeTemporarilyUnavail, fmt.Sprintf("%s is unavailable right now", flow.Provider))
		if ferr != nil {
			return nil, ferr
		}
		return &Login{ProviderURL: target}, nil
	}
	return &Login{ProviderURL: u, FlowID: flowID}, nil
}

// finishLink attaches the identity the provider vouched for to the user
// of a claimed link flow (step 3) and returns the application redirect.
// Linking an identity that belongs to another user changes nothing.
func (b *Bridge) finishLink(ctx context.Context, flow *store.Session, provider string, ident *providers.Identity) (string, error) {
	now := b.o.Now()
	sess, err := b.o.Store.GetSession(ctx, flow.LinkSessionID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !activeSessionOf(sess, flow.LinkUserID, now)):
		return b.failLogin(ctx, flow.ID, provider, ErrCodeAccessDenied, "the session that asked for this link has ended; sign in again")
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("read linking session: %w", err))
	}
	user, err := b.o.Store.GetUser(ctx, flow.LinkUserID)
	if err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("read user: %w", err))
	}
	if user.Disabled {
		return b.failLogin(ctx, flow.ID, provider, ErrCodeAccessDenied, "this account is disabled")
	}
	// Checked again: another link of this provider may have finished
	// since BeginLink checked.
	idents, err := b.o.Store.ListUserIdentities(ctx, flow.LinkUserID)
	if err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("list identities: %w", err))
	}
	if slices.ContainsFunc(idents, func(i store.Identity) bool { return i.Provider == provider && i.Key != ident.Key() }) {
		return b.failLogin(ctx, flow.ID, provider, ErrCodeAlreadyLinked,
			fmt.Sprintf("this account already has a %s identity; unlink it first", b.ProviderLabel(provider)))
	}
	owner, _, err := b.o.Store.ClaimIdentity(ctx, ident.Key(), ident.Provider, ident.Subject, flow.LinkUserID, now)
	if err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("claim identity: %w", err))
	}
	if owner != flow.LinkUserID {
		b.o.Logger.InfoContext(ctx, "link refused: identity belongs to another user", "flow", flow.ID, "user_id", flow.LinkUserID,
			"provider", provider)
		return b.failLogin(ctx, flow.ID, provider, ErrCodeIdentityInUse,
			fmt.Sprintf("this %s account is already linked to another user; sign in with it and unlink it there first", b.ProviderLabel(provider)))
	}
	link, err := b.sealLink(flow.LinkUserID, ident, now)
	if err != nil {
		return b.failClaimed(ctx, flow, provider, err)
	}
	// Linking keeps the user's profile: it is the one they signed in
	// with; the next sign-in through the new provider refreshes it.
	if _, err := b.o.Store.UpsertLogin(ctx, flow.LinkUserID, store.Login{
		IdentityKey: ident.Key(), Provider: ident.Provider, Link: link, Profile: user.Profile, Now: now,
	}); err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("write link: %w", err))
	}
	done, err := b.o.Store.CompleteLink(ctx, flow.ID, provider, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", b.explainFlow(ctx, flow.ID, provider, err)
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("complete link: %w", err))
	}
	b.o.Logger.InfoContext(ctx, "identity linked", "flow", flow.ID, "user_id", flow.LinkUserID, "provider", provider, "client_id", done.ClientID)
	return b.clientRedirect(done, url.Values{"linked": {provider}}), nil
}

// LinkedIdentity is one identity of a user, as the account endpoints show
// it: no tokens, no provider subject.
type LinkedIdentity struct {
	Provider string    `json:"provider"`
	Label    string    `json:"label"`
	Email    string    `json:"email,omitempty"`
	Name     string    `json:"name,omitempty"`
	LinkedAt time.Time `json:"linked_at"`
}

// Identities lists the signed-in user's identities, oldest first.
func (b *Bridge) Identities(ctx context.Context, accessToken string) ([]LinkedIdentity, error) {
	acct, err := b.Account(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	idents, err := b.o.Store.ListUserIdentities(ctx, acct.UserID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	user, err := b.o.Store.GetUser(ctx, acct.UserID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	out := make([]LinkedIdentity, 0, len(idents))
	for _, i := range idents {
		li := LinkedIdentity{Provider: i.Provider, Label: b.ProviderLabel(i.Provider), LinkedAt: i.CreatedAt}
		if l, ok := user.Providers[i.Provider]; ok && l.Subject == i.Subject {
			li.Email, li.Name = l.Profile.Email, l.Profile.Name
		}
		out = append(out, li)
	}
	return out, nil
}

// Unlink removes the signed-in user's identity of provider. The last
// identity cannot be removed.
func (b *Bridge) Unlink(ctx context.Context, accessToken, provider string) error {
	acct, err := b.Account(ctx, accessToken)
	if err != nil {
		return err
	}
	idents, err := b.o.Store.ListUserIdentities(ctx, acct.UserID)
	if err != nil {
		return fmt.Errorf("unlink: %w", err)
	}
	i := slices.IndexFunc(idents, func(i store.Identity) bool { return i.Provider == provider })
	if i < 0 {
		return &OAuthError{Code: ErrCodeNotLinked, Description: fmt.Sprintf("this account has no %s identity", b.ProviderLabel(provider))}
	}
	err = b.o.Store.UnlinkIdentity(ctx, acct.UserID, idents[i].Key, b.o.Now())
	switch {
	case errors.Is(err, store.ErrLastIdentity):
		return &OAuthError{Code: ErrCodeLastIdentity, Description: "this is the account's only way to sign in; link another provider before removing it"}
	case errors.Is(err, store.ErrNotFound):
		return &OAuthError{Code: ErrCodeNotLinked, Description: fmt.Sprintf("this account has no %s identity (any more)", b.ProviderLabel(provider))}
	case err != nil:
		return fmt.Errorf("unlink: %w", err)
	}
	b.o.Logger.InfoContext(ctx, "identity unlinked", "user_id", acct.UserID, "provider", provider, "session", acct.SessionID)
	return nil
}
