package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// server is a running socialbridge process.
type server struct {
	base string // http://localhost:port
	pid  int
	cmd  *exec.Cmd
	// exited is closed when the process has exited, waitErr set before.
	exited  chan struct{}
	waitErr error
}

// startServer runs the socialbridge binary in dev mode on a free loopback
// port, with its data directory dir and its SQLite database at dbPath, and
// waits until it is ready.
func startServer(bin, dir, dbPath string, extraEnv []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"SOCIALBRIDGE_DATA_DIR=" + dir, "SOCIALBRIDGE_SERVER_ADDR=" + addr,
		"SOCIALBRIDGE_STORE_SQLITE_PATH=" + dbPath, "SOCIALBRIDGE_LOG_LEVEL=warn",
		"SOCIALBRIDGE_SERVER_RATE_LIMIT=-1", // every load client comes from 127.0.0.1
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	_, port, _ := net.SplitHostPort(addr) // freeAddr's own output
	s := &server{base: "http://localhost:" + port, pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /readyz until it answers 200 or timeout passes.
func (s *server) waitReady(timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s.hasExited() {
			return fmt.Errorf("socialbridge exited before it was ready: %v", s.waitErr)
		}
		resp, err := c.Get(s.base + "/readyz")
		if err != nil {
			continue
		}
		drain(resp)
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("socialbridge did not become ready in %s", timeout)
}

// stop interrupts the server and waits for it to exit.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	<-s.exited
}

// hasExited reports whether the server process has exited.
func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// untilExit returns a context that ends, with the exit as its cause, when
// the server exits, so that a measurement stops at once instead of
// counting refused connections.
func (s *server) untilExit(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.exited:
			cancel(fmt.Errorf("socialbridge exited during the run (%v)", s.waitErr))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rssKB reads a process's resident memory in KiB from /proc (Linux).
func rssKB(pid int) (int64, error) { return statusKB(pid, "VmRSS") }

// peakRSSKB reads the most resident memory a process has had, in KiB.
func peakRSSKB(pid int) (int64, error) { return statusKB(pid, "VmHWM") }

// statusKB reads one "Name:   123 kB" line of /proc/<pid>/status.
func statusKB(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: not in /proc/%d/status", name, pid)
}

// kbMB formats a KiB count in MiB.
func kbMB(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// fileSize returns a file's size, 0 when it does not exist.
func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// files describes the database file and its WAL for printing.
func files(dbPath string) string {
	db, err1 := fileSize(dbPath)
	wal, err2 := fileSize(dbPath + "-wal")
	if err := errors.Join(err1, err2); err != nil {
		return "database files: " + err.Error()
	}
	return fmt.Sprintf("db %s, WAL %s", mb(db), mb(wal))
}

// mb formats a byte count in MiB.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
