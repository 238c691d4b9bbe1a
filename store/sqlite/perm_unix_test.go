//go:build unix

package sqlite_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/socialbridge/socialbridge/store/sqlite"
)

func TestFilePermissions(t *testing.T) {
	old := syscall.Umask(0) // the loosest umask: modes must not depend on it
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "socialbridge.db")
	s := open(t, sqlite.Options{Path: path})
	if _, _, err := s.ClaimIdentity(context.Background(), "google|1", "google", "1", "u1", t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want fs.FileMode
	}{
		{"the directory is private to its owner", dir, 0o700 | fs.ModeDir},
		{"the database file is private to its owner", path, 0o600},
		{"the WAL is private to its owner", path + "-wal", 0o600},
		{"the shared-memory file is private to its owner", path + "-shm", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode() & (fs.ModePerm | fs.ModeDir); got != tt.want {
				t.Errorf("mode of %s = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestOpenTightensAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, sqlite.Options{Path: path})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
}
