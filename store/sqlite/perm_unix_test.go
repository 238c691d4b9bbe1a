//go:build unix

package sqlite_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// TestOpenWarnsAboutAnOpenDirectory opens a database in an existing
// directory that other users may enter: the directory is the operator's
// and is left as it is, with a warning, and the files are private anyway.
func TestOpenWarnsAboutAnOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	path := filepath.Join(dir, "socialbridge.db")
	open(t, sqlite.Options{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "open to other users") {
		t.Errorf("no warning about the directory in the log:\n%s", logs.String())
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("directory mode = %v, want it left at 0755", info.Mode().Perm())
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v, %v; want mode 0600", info, err)
	}
}
