package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// KeyStorage adapts the store's signing keys to what the tokens keyring
// needs, so that neither package imports the other.
func KeyStorage(s store.Keys) tokens.KeyStorage { return keyStorage{s} }

type keyStorage struct{ s store.Keys }

func (k keyStorage) ListKeys(ctx context.Context) ([]tokens.StoredKey, error) {
	stored, err := k.s.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]tokens.StoredKey, len(stored))
	for i, sk := range stored {
		out[i] = tokens.StoredKey(sk)
	}
	return out, nil
}

func (k keyStorage) InsertKey(ctx context.Context, sk tokens.StoredKey) error {
	err := k.s.InsertKey(ctx, store.SigningKey(sk))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %w", tokens.ErrKeyExists, err)
	}
	return err
}

func (k keyStorage) RetireKey(ctx context.Context, id string, at time.Time) error {
	err := k.s.RetireKey(ctx, id, at)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", tokens.ErrUnknownKey, err)
	}
	return err
}
