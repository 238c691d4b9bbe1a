package bridge

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// Account linking. A signed-in user links another provider's identity in
// four steps, each bound to the one before:
//
//  1. BeginLink: the application, holding the user's access token (with
//     the account scope, from a recent sign-in), asks for a link to
//     provider with a PKCE challenge of its own; a link flow is recorded
//     (state ready) for the user and session the token names, and a
//     one-time start URL is returned.
//  2. PreviewLink, then StartLink: the browser opens the start URL, a page
//     that names the provider, the application and the account the
//     identity would join; when the person confirms, the flow moves to
//     pending (once: a second use fails), the browser gets the flow's
//     binding cookie and goes to the provider, as in a sign-in.
//  3. FinishLogin on the provider's callback sees a link flow: it verifies
//     the identity, keeps it sealed in the flow and sends the browser back
//     to the application with a one-time link_code; nothing is linked yet.
//  4. CompleteLink: the application that started the link redeems the
//     link code with its PKCE verifier and the same session's access
//     token; only then is the identity attached to the user, unless it
//     belongs to someone else.
//
// Step 4 is what makes a start URL useless to anyone but the application
// that asked for it: handed to another person, it would have them prove
// their provider account, and the link code would come back to an
// application that has no verifier for it, in a browser without the
// requesting user's session.

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
	// CodeChallenge is the application's S256 PKCE challenge; CompleteLink
	// needs its verifier.
	CodeChallenge string
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
	// ErrCodeInsufficientScope (RFC 6750 §3.1): the access token lacks
	// the account scope.
	ErrCodeInsufficientScope = "insufficient_scope"
	// ErrCodeInsufficientAuth (RFC 9470): the sign-in behind the access
	// token is older than AccountChangeMaxAge; sign in again.
	ErrCodeInsufficientAuth = "insufficient_user_authentication"
)

// ScopeAccount is the scope that lets an access token manage its user's
// linked identities. Only clients with AccountManagement may ask for it.
const ScopeAccount = "account"

// AccountChangeMaxAge is how recent the sign-in behind an access token
// must be to link or unlink an identity: a token that leaked from an API
// or a log soon stops being able to change how the account signs in.
const AccountChangeMaxAge = 10 * time.Minute

// AccountSession is the signed-in user an access token speaks for, with
// its session checked active.
type AccountSession struct {
	UserID    string
	SessionID string
	Client    *Client
	// AuthTime is when the user last authenticated (the token's
	// auth_time).
	AuthTime time.Time
}

// Account checks an access token for the account endpoints: valid, with
// the account scope, its session still active, its user enabled and the
// token not older than the user's not-before.
func (b *Bridge) Account(ctx context.Context, accessToken string) (*AccountSession, error) {
	at, err := b.o.Issuer.ParseAccess(accessToken)
	if err != nil {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the access token is invalid or expired"}
	}
	if !hasScope(at.Scope, ScopeAccount) {
		return nil, &OAuthError{Code: ErrCodeInsufficientScope, Description: "managing the account needs an access token with the account scope"}
	}
	if _, err := b.checkLive(ctx, at); err != nil {
		return nil, asInvalidToken(err)
	}
	c, ok := b.clients[at.ClientID]
	switch {
	case !ok:
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the client of this access token is no longer registered"}
	case !c.AccountManagement:
		return nil, &OAuthError{Code: ErrCodeInsufficientScope, Description: "the client of this access token may not manage accounts (clients[].account_management)"}
	}
	return &AccountSession{UserID: at.Subject, SessionID: at.SessionID, Client: c, AuthTime: at.AuthTime}, nil
}

// recent refuses an account change behind an old sign-in.
func (b *Bridge) recent(acct *AccountSession) error {
	if acct.AuthTime.IsZero() || b.o.Now().Sub(acct.AuthTime) > AccountChangeMaxAge {
		return &OAuthError{Code: ErrCodeInsufficientAuth, Description: fmt.Sprintf(
			"changing linked accounts needs a sign-in from the last %d minutes: sign in again (max_age=%d)",
			int(AccountChangeMaxAge/time.Minute), int(AccountChangeMaxAge/time.Second))}
	}
	return nil
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
	if err := b.recent(acct); err != nil {
		return nil, err
	}
	c := acct.Client
	switch {
	case !slices.Contains(c.RedirectURIs, req.RedirectURI):
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: "redirect_uri is not registered for the client of this access token"}
	case len(req.State) > maxStateLen:
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: fmt.Sprintf("state is longer than %d characters", maxStateLen)}
	case !validChallenge(req.CodeChallenge):
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: "code_challenge is required: the base64url SHA-256 of a verifier the application keeps to complete the link (PKCE S256)"}
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
		CodeChallenge: req.CodeChallenge, LinkUserID: acct.UserID, LinkSessionID: acct.SessionID,
	}); err != nil {
		return nil, fmt.Errorf("begin link: %w", err)
	}
	b.o.Logger.InfoContext(ctx, "link started", "flow", flowID, "user_id", acct.UserID, "client_id", c.ID, "provider", req.Provider)
	return &LinkStart{Ticket: flowID + "." + mac(b.o.FlowKey, "link-start", flowID)}, nil
}

// TicketFlowID returns the link flow a start ticket names, when the
// ticket's MAC holds.
func (b *Bridge) TicketFlowID(ticket string) (string, bool) {
	flowID, sig, ok := strings.Cut(ticket, ".")
	if !ok || len(flowID) != 22 || subtle.ConstantTimeCompare([]byte(sig), []byte(mac(b.o.FlowKey, "link-start", flowID))) != 1 {
		return "", false
	}
	return flowID, true
}

// LinkConfirmation is the value of the cookie that the start page of link
// flow flowID sets and its confirmation must bring back: a page of another
// site cannot submit the confirmation for the person (the cookie is
// SameSite=Strict).
func (b *Bridge) LinkConfirmation(flowID string) string {
	return mac(b.o.FlowKey, "link-confirm", flowID)
}

// LinkPreview is what the start page of a link shows before anything
// happens: which provider, for which application, into whose account.
type LinkPreview struct {
	Ticket        string
	FlowID        string
	ProviderLabel string
	ClientName    string
	// Account names the socialbridge user the identity would join (their
	// email, else their name).
	Account string
}

// PreviewLink describes the link flow a ticket names, for its start page,
// without changing it: a link preview or scanner that fetches the start
// URL uses nothing up, and the person sees whose account they would link
// their provider account to before they sign in there.
func (b *Bridge) PreviewLink(ctx context.Context, ticket string) (*LinkPreview, error) {
	flow, err := b.readyLink(ctx, ticket)
	if err != nil {
		return nil, err
	}
	u, err := b.o.Store.GetUser(ctx, flow.LinkUserID)
	if err != nil {
		return nil, fmt.Errorf("preview link: %w", err)
	}
	account := cmp.Or(u.Profile.Email, u.Profile.Name, "this account")
	clientName := flow.ClientID
	if c, ok := b.clients[flow.ClientID]; ok {
		clientName = c.Name
	}
	return &LinkPreview{Ticket: ticket, FlowID: flow.ID, ProviderLabel: b.ProviderLabel(flow.Provider), ClientName: clientName, Account: account}, nil
}

// readyLink returns the link flow of a ticket while it waits for its
// browser; a page error explains any other case.
func (b *Bridge) readyLink(ctx context.Context, ticket string) (*store.Session, error) {
	flowID, ok := b.TicketFlowID(ticket)
	if !ok {
		return nil, &PageError{Kind: ErrInvalidState}
	}
	flow, err := b.o.Store.GetSession(ctx, flowID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &PageError{Kind: ErrFlowExpired, Err: err}
	case err != nil:
		return nil, fmt.Errorf("read link flow: %w", err)
	case flow.LinkUserID == "":
		return nil, &PageError{Kind: ErrInvalidState}
	case !b.o.Now().Before(flow.ExpiresAt):
		return nil, &PageError{Kind: ErrFlowExpired}
	case flow.State != store.StateReady:
		return nil, &PageError{Kind: ErrFlowUsed}
	}
	return flow, nil
}

// CancelLink ends a link flow the person declined on its start page and
// returns the application redirect with error=access_denied.
func (b *Bridge) CancelLink(ctx context.Context, ticket string) (string, error) {
	flow, err := b.readyLink(ctx, ticket)
	if err != nil {
		return "", err
	}
	return b.failLogin(ctx, flow.ID, flow.Provider, ErrCodeAccessDenied, "the person declined to link the account")
}

// StartLink starts the link flow a ticket names (step 2), once: the
// person confirmed on the start page.
func (b *Bridge) StartLink(ctx context.Context, ticket string) (*Login, error) {
	flowID, ok := b.TicketFlowID(ticket)
	if !ok {
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

// linkedIdentity is the verified identity a link flow keeps sealed
// between the provider's callback and the application's completion.
type linkedIdentity struct {
	Provider string            `json:"provider"`
	Subject  string            `json:"subject"`
	Profile  claims.Profile    `json:"profile"`
	Tokens   sealedTokenFields `json:"tokens"`
}

// sealedTokenFields are the provider's tokens, in the clear inside the
// sealed link payload.
type sealedTokenFields struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
}

// finishLink ends the provider part of a claimed link flow (step 3): the
// identity the provider vouched for is sealed into the flow with a
// one-time link code for the application. Nothing is linked yet; an
// identity that is already another user's, or a second identity of the
// provider, is refused now so that the person learns it at once (and
// checked again at completion).
func (b *Bridge) finishLink(ctx context.Context, flow *store.Session, provider string, ident *providers.Identity) (string, error) {
	now := b.o.Now()
	// The session that asked for the link must still be there, and its
	// user enabled: otherwise nothing is kept (completion would refuse).
	sess, err := b.o.Store.GetSession(ctx, flow.LinkSessionID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !activeSessionOf(sess, flow.LinkUserID, now)):
		return b.failLogin(ctx, flow.ID, provider, ErrCodeAccessDenied, "the session that asked for this link has ended; sign in again")
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("read linking session: %w", err))
	}
	switch user, err := b.o.Store.GetUser(ctx, flow.LinkUserID); {
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("read user: %w", err))
	case user.Disabled:
		return b.failLogin(ctx, flow.ID, provider, ErrCodeAccessDenied, "this account is disabled")
	}
	if refusal, err := b.linkRefusal(ctx, flow.LinkUserID, ident); err != nil {
		return b.failClaimed(ctx, flow, provider, err)
	} else if refusal != nil {
		return b.failLogin(ctx, flow.ID, provider, refusal.Code, refusal.Description)
	}
	payload, err := json.Marshal(linkedIdentity{
		Provider: ident.Provider, Subject: ident.Subject, Profile: ident.Profile,
		Tokens: sealedTokenFields{
			AccessToken: ident.Tokens.AccessToken, RefreshToken: ident.Tokens.RefreshToken, IDToken: ident.Tokens.IDToken,
			Expiry: ident.Tokens.Expiry, Scopes: ident.Tokens.Scopes,
		},
	})
	if err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("encode link: %w", err))
	}
	sealed, err := b.o.Sealer.Seal(payload, linkContext(flow.ID))
	if err != nil {
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("seal link: %w", err))
	}
	code := flow.ID + "." + randomToken(32)
	done, err := b.o.Store.IssueLinkCode(ctx, flow.ID, provider, now, store.LinkCodeIssue{
		CodeHash: hashSecret(code), CodeExpiresAt: now.Add(b.o.CodeTTL), Sealed: sealed,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", b.explainFlow(ctx, flow.ID, provider, err)
	case err != nil:
		return b.failClaimed(ctx, flow, provider, fmt.Errorf("issue link code: %w", err))
	}
	b.o.Logger.InfoContext(ctx, "link verified at the provider", "flow", flow.ID, "user_id", flow.LinkUserID, "provider", provider)
	return b.clientRedirect(done, url.Values{"link_code": {code}}), nil
}

// linkContext binds a sealed link payload to its flow.
func linkContext(flowID string) string { return "link:" + flowID }

// linkRefusal says why ident cannot be linked to user, or nil: it belongs
// to another user, or the user has another identity of its provider.
func (b *Bridge) linkRefusal(ctx context.Context, userID string, ident *providers.Identity) (*OAuthError, error) {
	owner, err := b.o.Store.GetIdentity(ctx, ident.Key())
	switch {
	case err == nil && owner.UserID != userID:
		return &OAuthError{Code: ErrCodeIdentityInUse, Description: fmt.Sprintf(
			"this %s account is already linked to another user; sign in with it and unlink it there first", b.ProviderLabel(ident.Provider))}, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("read identity: %w", err)
	}
	other, err := b.hasOtherIdentityOf(ctx, userID, ident)
	if err != nil {
		return nil, err
	}
	if other {
		return &OAuthError{Code: ErrCodeAlreadyLinked, Description: fmt.Sprintf(
			"this account already has a %s identity; unlink it first", b.ProviderLabel(ident.Provider))}, nil
	}
	return nil, nil
}

// hasOtherIdentityOf reports whether user has an identity of ident's
// provider other than ident: another account at that provider, which a
// user may not hold besides ident.
func (b *Bridge) hasOtherIdentityOf(ctx context.Context, userID string, ident *providers.Identity) (bool, error) {
	idents, err := b.o.Store.ListUserIdentities(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("list identities: %w", err)
	}
	return slices.ContainsFunc(idents, func(i store.Identity) bool { return i.Provider == ident.Provider && i.Key != ident.Key() }), nil
}

// CompleteLinkRequest is the application's completion of a link (step 4).
type CompleteLinkRequest struct {
	// AccessToken is the access token of the session that began the link.
	AccessToken string
	// LinkCode is what the browser brought back; CodeVerifier the PKCE
	// verifier of BeginLink's challenge.
	LinkCode     string
	CodeVerifier string
}

// CompleteLink redeems a link code and attaches the identity it carries
// to the user (step 4). Linking an identity that belongs to another user
// changes nothing.
func (b *Bridge) CompleteLink(ctx context.Context, req CompleteLinkRequest) (*LinkedIdentity, error) {
	acct, err := b.Account(ctx, req.AccessToken)
	if err != nil {
		return nil, err
	}
	if err := b.recent(acct); err != nil {
		return nil, err
	}
	flowID, _, ok := strings.Cut(req.LinkCode, ".")
	bad := &OAuthError{Code: ErrCodeInvalidGrant, Description: "the link code is invalid, expired, already used, or was issued to another session or verifier"}
	if !ok || len(flowID) != 22 || !validVerifier(req.CodeVerifier) {
		return nil, bad
	}
	now := b.o.Now()
	flow, err := b.o.Store.CompleteLink(ctx, flowID, store.LinkRedemption{
		CodeHash: hashSecret(req.LinkCode), ClientID: acct.Client.ID, CodeChallenge: s256(req.CodeVerifier),
		UserID: acct.UserID, SessionID: acct.SessionID, Now: now,
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("complete link: %w", err)
	}
	payload, err := b.o.Sealer.Open(flow.LinkSealed, linkContext(flow.ID))
	if err != nil {
		return nil, fmt.Errorf("complete link: open the verified identity: %w", err)
	}
	var li linkedIdentity
	if err := json.Unmarshal(payload, &li); err != nil {
		return nil, fmt.Errorf("complete link: decode the verified identity: %w", err)
	}
	ident := &providers.Identity{Provider: li.Provider, Subject: li.Subject, Profile: li.Profile, Tokens: providers.Tokens{
		AccessToken: li.Tokens.AccessToken, RefreshToken: li.Tokens.RefreshToken, IDToken: li.Tokens.IDToken,
		Expiry: li.Tokens.Expiry, Scopes: li.Tokens.Scopes,
	}}
	if refusal, err := b.linkRefusal(ctx, acct.UserID, ident); err != nil {
		return nil, fmt.Errorf("complete link: %w", err)
	} else if refusal != nil {
		return nil, refusal
	}
	// The user is read before the identity is claimed for them: a user
	// deleted since their access token was issued gets no identity. One
	// deleted between this read and the write below is refused by the
	// write, which releases the identity again (store.ErrUserDeleted).
	gone := &OAuthError{Code: ErrCodeInvalidToken, Description: "the account no longer exists"}
	user, err := b.o.Store.GetUser(ctx, acct.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone
	}
	if err != nil {
		return nil, fmt.Errorf("complete link: read user: %w", err)
	}
	owner, _, err := b.o.Store.ClaimIdentity(ctx, ident.Key(), ident.Provider, ident.Subject, acct.UserID, now)
	if err != nil {
		return nil, fmt.Errorf("complete link: claim identity: %w", err)
	}
	if owner != acct.UserID {
		b.o.Logger.InfoContext(ctx, "link refused: identity belongs to another user", "flow", flow.ID, "user_id", acct.UserID, "provider", ident.Provider)
		return nil, &OAuthError{Code: ErrCodeIdentityInUse, Description: fmt.Sprintf(
			"this %s account is already linked to another user; sign in with it and unlink it there first", b.ProviderLabel(ident.Provider))}
	}
	link, err := b.sealLink(acct.UserID, ident, now)
	if err != nil {
		return nil, fmt.Errorf("complete link: %w", err)
	}
	// Linking keeps the user's profile: it is the one they signed in
	// with; the next sign-in through the new provider refreshes it.
	_, err = b.o.Store.UpsertLogin(ctx, acct.UserID, store.Login{
		IdentityKey: ident.Key(), Provider: ident.Provider, Link: link, Profile: user.Profile, Now: now,
	})
	if errors.Is(err, store.ErrUserDeleted) {
		return nil, gone
	}
	if err != nil {
		return nil, fmt.Errorf("complete link: write link: %w", err)
	}
	b.audit(ctx, store.AuditEvent{Type: AuditIdentityLinked, UserID: acct.UserID, SessionID: acct.SessionID, ClientID: acct.Client.ID,
		Detail: map[string]string{"provider": ident.Provider}})
	b.o.Logger.InfoContext(ctx, "identity linked", "flow", flow.ID, "user_id", acct.UserID, "provider", ident.Provider, "client_id", acct.Client.ID)
	return &LinkedIdentity{Provider: ident.Provider, Label: b.ProviderLabel(ident.Provider), Email: ident.Profile.Email,
		Name: ident.Profile.Name, LinkedAt: now}, nil
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

// Unlink removes the signed-in user's identity of provider, and ends the
// user's other sessions that signed in with that provider (someone who
// had that account may still be signed in). The last identity cannot be
// removed.
func (b *Bridge) Unlink(ctx context.Context, accessToken, provider string) error {
	acct, err := b.Account(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := b.recent(acct); err != nil {
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
	now := b.o.Now()
	err = b.o.Store.UnlinkIdentity(ctx, acct.UserID, idents[i].Key, now)
	switch {
	case errors.Is(err, store.ErrLastIdentity):
		return &OAuthError{Code: ErrCodeLastIdentity, Description: "this is the account's only way to sign in; link another provider before removing it"}
	case errors.Is(err, store.ErrNotFound):
		return &OAuthError{Code: ErrCodeNotLinked, Description: fmt.Sprintf("this account has no %s identity (any more)", b.ProviderLabel(provider))}
	case err != nil:
		return fmt.Errorf("unlink: %w", err)
	}
	revoked := 0
	sessions, err := b.o.Store.ListUserSessions(ctx, acct.UserID, now)
	if err != nil {
		return fmt.Errorf("unlink: list sessions: %w", err)
	}
	for _, sess := range sessions {
		if sess.Provider != provider || sess.ID == acct.SessionID {
			continue
		}
		ok, err := b.o.Store.Revoke(ctx, sess.ID, "identity_unlinked", now)
		if err != nil {
			return fmt.Errorf("unlink: revoke session: %w", err)
		}
		if ok {
			revoked++
		}
	}
	b.revoked("identity_unlinked", int64(revoked))
	b.audit(ctx, store.AuditEvent{Type: AuditIdentityUnlinked, UserID: acct.UserID, SessionID: acct.SessionID, ClientID: acct.Client.ID,
		Detail: map[string]string{"provider": provider, "sessions_revoked": fmt.Sprint(revoked)}})
	b.o.Logger.InfoContext(ctx, "identity unlinked", "user_id", acct.UserID, "provider", provider, "session", acct.SessionID,
		"sessions_revoked", revoked)
	return nil
}
