//go:build linux

package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/internal/fsfail"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/sqlite"
	"github.com/socialbridge/socialbridge/store/storetest"
)

// TestEveryWriteAnswersErrUnavailableWhenTheDiskCannotBeWritten stops the
// process from extending files, as a full disk does, and calls every
// method of store.Store (storetest.SeedOutage): each write must fail with
// store.ErrUnavailable, which the web layer answers 503 with Retry-After
// (a raw driver error would be a 500), and so must Ping, as readiness; a
// full or read-only disk still reads, so every other read must answer as
// usual. When writes work again, Ping succeeds, writes succeed, and
// everything stored before is as it was.
//
// SQLite writes a commit by appending frames to the WAL, and after a
// checkpoint restarts the log it overwrites the old frames instead, which
// a full disk (or the file-size limit here) allows: a write can succeed
// during such an outage when the log has room. The test therefore
// truncates the WAL to zero bytes first (Store.Checkpoint), so that every
// commit has to extend the file, and storetest.SeedOutage seeds, for every
// call, a row that the call changes: a statement that changes nothing, or
// rewrites a row with the bytes it holds, commits nothing, writes nothing
// and succeeds. Every write must then fail; none may succeed. In
// production, a write that finds room in the WAL succeeds, and the first
// that needs more fails with store.ErrUnavailable.
func TestEveryWriteAnswersErrUnavailableWhenTheDiskCannotBeWritten(t *testing.T) {
	// Not parallel: fsfail.FailWrites stops every file write of the test
	// binary.
	s := open(t, sqlite.Options{CheckpointInterval: -1})
	ctx := context.Background()
	outage := storetest.SeedOutage(t, s)

	// Every commit from here on has to extend the WAL.
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatalf("truncate the WAL: %v", err)
	}
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Fatalf("the WAL after a TRUNCATE checkpoint: %d bytes, %v; want 0", size, err)
	}
	restore := fsfail.FailWrites(t)

	const bound = 2 * time.Second
	for _, c := range outage.Calls {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*bound)
			defer cancel()
			began := time.Now()
			err := c.Call(ctx)
			if took := time.Since(began); took > bound {
				t.Errorf("%s took %s, want at most %s", c.Name, took.Round(time.Millisecond), bound)
			}
			// Ping writes no record, but it answers readiness, so it
			// probes a write and must fail too (see sqlite.Store.Ping).
			if c.Write || c.Name == "Ping" {
				if !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("%s when the disk cannot be written: %v, want store.ErrUnavailable", c.Name, err)
				}
			} else if err != nil {
				t.Errorf("%s, a read, when the disk cannot be written: %v, want it to answer", c.Name, err)
			}
		})
	}
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Errorf("the WAL after the outage: %d bytes, %v; want 0, no write having reached it", size, err)
	}

	restore()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once the disk can be written again: %v", err)
	}
	// Nothing that failed was half done: what was stored before is as it
	// was.
	outage.CheckRecovered(t)
}
