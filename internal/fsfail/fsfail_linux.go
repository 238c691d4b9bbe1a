//go:build linux

package fsfail

import (
	"syscall"
	"testing"
)

// FailWrites makes every write of this process to a regular file fail, as
// a full disk does, until the returned function restores the limit (which
// t.Cleanup also does, whatever happens; calling restore twice is
// harmless). It skips t if the limit cannot be lowered.
//
// The tests run as root in CI containers, where making the data directory
// read-only changes nothing, and even as another user SQLite keeps the
// database open for writing across a chmod. A file-size limit of zero
// (RLIMIT_FSIZE) is process-wide, needs no privilege to lower or to raise
// back to the hard limit, and makes a write(2) that would extend a file
// fail with EFBIG (the Go runtime ignores SIGXFSZ), which SQLite reports as
// SQLITE_IOERR or SQLITE_FULL. Pipes and sockets are not regular files, so
// HTTP and the test's output still work.
//
// The caller must not run in parallel with other tests (nor call t.Parallel
// itself): for as long as the limit holds, they cannot write files either.
func FailWrites(t testing.TB) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatalf("read RLIMIT_FSIZE: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 0, Max: old.Max}); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restore RLIMIT_FSIZE: %v", err)
		}
	}
	t.Cleanup(restore)
	return restore
}
