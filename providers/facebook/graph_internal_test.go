package facebook

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/socialbridge/socialbridge/providers"
)

func TestCleanKeepsFacebookMessagesFitForLogs(t *testing.T) {
	t.Parallel()
	token := "EAAGm0PX4ZCpsBAKZBZCZAuIAbc123def456ghi789jkl012mno345pqr678stu901vwx"
	tests := []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"a plain message is kept", "This authorization code has been used.", nil, "This authorization code has been used."},
		{"a known secret is redacted", "Malformed access token abc-secret-1", []string{"abc-secret-1"}, "Malformed access token [redacted]"},
		{"a token-like word is redacted even when not known", "Malformed access token " + token + ".", nil, "Malformed access token [redacted]"},
		{"control characters and runs of spaces go", "line one\r\n\tline\x00two\u202e", nil, "line one line two"},
		{"a URL is not mistaken for a token", "see https://developers.facebook.com/docs/graph-api/guides/error-handling", nil,
			"see https://developers.facebook.com/docs/graph-api/guides/error-handling"},
		{"invalid UTF-8 is replaced", "bad \xff byte", nil, "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := clean(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	t.Run("a long message is cut", func(t *testing.T) {
		t.Parallel()
		got := clean(strings.Repeat("word ", 100))
		if n := utf8.RuneCountInString(got); n > maxMessageRunes+1 || !strings.HasSuffix(got, "…") {
			t.Errorf("clean kept %d runes: %q", n, got)
		}
	})
}

func TestGraphErrorsAreClassifiedByCode(t *testing.T) {
	t.Parallel()
	p, err := New(Config{Name: "fb", ClientID: "1", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op   string
		ge   GraphError
		want string
	}{
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 100, Subcode: 36009}, "invalid_grant"},
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 190, Message: "Invalid verification code format."}, "invalid_grant"},
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 1, Message: "Error validating client secret."}, "provider_unavailable"},
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 101}, "provider_unavailable"},
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 1, Message: "An unknown error has occurred."}, "provider_unavailable"},
		{opExchange, GraphError{Status: 400, Type: "OAuthException", Code: 613}, "provider_unavailable"},
		{opExchange, GraphError{Status: 429}, "provider_unavailable"},
		{opExchange, GraphError{Status: 404}, "provider_unavailable"},
		{opProfile, GraphError{Status: 400, Type: "OAuthException", Code: 190, Subcode: 460}, "invalid_token"},
		{opProfile, GraphError{Status: 401, Type: "OAuthException", Code: 102}, "invalid_token"},
		{opProfile, GraphError{Status: 400, Type: "GraphMethodException", Code: 100, Message: "Invalid appsecret_proof provided in the API argument"}, "provider_unavailable"},
		{opProfile, GraphError{Status: 400, Type: "OAuthException", Code: 17, Transient: false}, "provider_unavailable"},
		{opProfile, GraphError{Status: 400, Type: "OAuthException", Code: 999, Transient: true}, "provider_unavailable"},
		{opDebugToken, GraphError{Status: 400, Type: "OAuthException", Code: 190}, "provider_unavailable"},
	}
	for _, tt := range tests {
		err := p.classify(tt.op, &tt.ge)
		pe, ok := providers.AsError(err)
		if !ok || pe.Code != tt.want {
			t.Errorf("%s %+v classified as %v, want %q", tt.op, tt.ge, err, tt.want)
		}
	}
}
