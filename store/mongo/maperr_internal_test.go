package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/socialbridge/socialbridge/store"
)

// TestMapErrClassifiesDriverErrors checks mapErr against errors built as
// the driver builds them: the failover errors of a replica-set election or
// a shutdown are store.ErrUnavailable, a failed authentication is not
// (however it shows), and "no document", duplicate keys and refusals keep
// their meaning.
func TestMapErrClassifiesDriverErrors(t *testing.T) {
	t.Parallel()
	command := func(code int32, name string, labels ...string) error {
		return mongo.CommandError{Code: code, Name: name, Message: name, Labels: labels}
	}
	writeConcern := func(code int, name string) error {
		return mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: code, Name: name, Message: name}}
	}
	writeError := func(code int, labels ...string) error {
		return mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: code, Message: "write error"}}, Labels: labels}
	}
	selection := func(lastErr error) error {
		return topology.ServerSelectionError{
			Wrapped: context.DeadlineExceeded, // as the driver builds it when the selection times out
			Desc:    description.Topology{Servers: []description.Server{{LastError: lastErr}}},
		}
	}
	authFailed := driver.Error{Code: codeAuthenticationFailed, Name: "AuthenticationFailed", Message: "Authentication failed."}

	const (
		unavailable = "unavailable"
		notFound    = "not found"
		conflict    = "conflict"
		other       = "other" // returned as it is
	)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"NotWritablePrimary", command(10107, "NotWritablePrimary"), unavailable},
		{"NotPrimaryNoSecondaryOk", command(13435, "NotPrimaryNoSecondaryOk"), unavailable},
		{"NotPrimaryOrSecondary", command(13436, "NotPrimaryOrSecondary"), unavailable},
		{"PrimarySteppedDown", command(189, "PrimarySteppedDown"), unavailable},
		{"InterruptedAtShutdown", command(11600, "InterruptedAtShutdown"), unavailable},
		{"InterruptedDueToReplStateChange", command(11602, "InterruptedDueToReplStateChange"), unavailable},
		{"ShutdownInProgress", command(91, "ShutdownInProgress"), unavailable},
		{"HostUnreachable", command(6, "HostUnreachable"), unavailable},
		{"HostNotFound", command(7, "HostNotFound"), unavailable},
		{"NetworkTimeout", command(89, "NetworkTimeout"), unavailable},
		{"SocketException", command(9001, "SocketException"), unavailable},
		{"a write concern error NotWritablePrimary", writeConcern(10107, "NotWritablePrimary"), unavailable},
		{"a write concern error ShutdownInProgress", writeConcern(91, "ShutdownInProgress"), unavailable},
		{"a write error InterruptedDueToReplStateChange", writeError(11602), unavailable},
		{"a command error labelled RetryableWriteError", command(0, "", "RetryableWriteError"), unavailable},
		{"a command error labelled TransientTransactionError", command(0, "", "TransientTransactionError"), unavailable},
		{"a write exception labelled RetryableWriteError", writeError(2, "RetryableWriteError"), unavailable},
		{"a command error labelled NetworkError", command(0, "", "NetworkError"), unavailable},
		{"no server selectable", selection(errors.New("connection refused")), unavailable},
		{"a deadline", context.DeadlineExceeded, unavailable},
		{"a disconnected client", mongo.ErrClientDisconnected, unavailable},
		{"wrapped NotWritablePrimary", fmt.Errorf("update: %w", command(10107, "NotWritablePrimary")), unavailable},

		{"AuthenticationFailed", command(codeAuthenticationFailed, "AuthenticationFailed"), other},
		{"AuthenticationFailed as the driver wraps it", mongo.CommandError{Code: codeAuthenticationFailed, Name: "AuthenticationFailed",
			Wrapped: topology.ConnectionError{Wrapped: authFailed}}, other},
		{"a server not selectable because authentication failed", selection(topology.ConnectionError{Wrapped: authFailed}), other},
		{"AuthenticationFailed labelled as a transient error", command(codeAuthenticationFailed, "AuthenticationFailed", "RetryableWriteError"), other},
		{"Unauthorized", command(13, "Unauthorized"), other},
		{"BadValue", command(2, "BadValue"), other},
		{"a write error DocumentValidationFailure", writeError(121), other},
		{"a plain error", errors.New("decode: bad document"), other},

		{"no document", mongo.ErrNoDocuments, notFound},
		{"a duplicate key", writeError(11000), conflict},
		{"a duplicate key labelled RetryableWriteError", writeError(11000, "RetryableWriteError"), conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mapErr(tt.err)
			var kind string
			switch {
			case errors.Is(got, store.ErrUnavailable):
				kind = unavailable
			case errors.Is(got, store.ErrNotFound):
				kind = notFound
			case errors.Is(got, store.ErrConflict):
				kind = conflict
			case got.Error() == tt.err.Error():
				kind = other // (driver errors hold slices: not comparable)
			default:
				t.Fatalf("mapErr(%v) = %v, neither classified nor the error itself", tt.err, got)
			}
			if kind != tt.want {
				t.Fatalf("mapErr(%v) = %v: %s, want %s", tt.err, got, kind, tt.want)
			}
			if kind == unavailable || kind == conflict {
				if !strings.HasSuffix(got.Error(), ": "+tt.err.Error()) {
					t.Errorf("mapErr(%v) = %v lost the driver's error", tt.err, got)
				}
				if again := mapErr(got); again.Error() != got.Error() {
					t.Errorf("mapping twice changed %v into %v", got, again)
				}
			}
		})
	}
}
