package bridge

import (
	"context"
	"errors"

	"github.com/socialbridge/socialbridge/store"
)

// Unavailable reports whether err means the database could not be reached,
// could not write or did not answer in time (store.ErrUnavailable, or a
// deadline that ran out during a store call): a passing outage, not a
// fault of the request or a bug, which the caller answers as
// temporarily_unavailable and asks the client to retry.
//
// A use case that fails this way has changed nothing the retry cannot
// redo: every store write is one conditional or idempotent operation, so
// a refresh token presented again after the outage still works, and a
// sign-in that could not start or finish is simply started again.
func Unavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
