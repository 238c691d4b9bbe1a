package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/socialbridge/socialbridge/store/sqlite"
)

// TestPingCommitsAWriteThatChangesNothing checks what Ping's write probe
// does to the database: it commits a real write (the WAL, truncated
// before, holds a frame afterwards: the write reached the file, so a disk
// that cannot take it fails Ping) and changes nothing (the schema version,
// application_id and the database file's size are as they were).
func TestPingCommitsAWriteThatChangesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "socialbridge.db")
	s := open(t, sqlite.Options{Path: path, CheckpointInterval: -1})
	ctx := context.Background()
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	version, _ := s.Pragma(ctx, "user_version")
	appID, _ := s.Pragma(ctx, "application_id")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Fatalf("the WAL after a TRUNCATE checkpoint: %d bytes, %v", size, err)
	}

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if size, err := s.WALSize(); err != nil || size == 0 {
		t.Errorf("the WAL after Ping: %d bytes, %v; want the frame of a commit", size, err)
	}
	if v, _ := s.Pragma(ctx, "user_version"); v != version {
		t.Errorf("Ping changed the schema version from %s to %s", version, v)
	}
	if v, _ := s.Pragma(ctx, "application_id"); v != appID {
		t.Errorf("Ping changed application_id from %s to %s", appID, v)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() {
		t.Errorf("the database file went from %d to %d bytes with a Ping", before.Size(), after.Size())
	}
}

// BenchmarkPing measures the readiness probe on an idle database (a read,
// then a commit that rewrites one header field).
func BenchmarkPing(b *testing.B) {
	s := open(b, sqlite.Options{})
	ctx := context.Background()
	for b.Loop() {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
