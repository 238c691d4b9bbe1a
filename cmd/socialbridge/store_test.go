package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// listeningSockets counts the TCP sockets in LISTEN state that this process
// owns, from /proc (Linux).
func listeningSockets(t *testing.T) int {
	t.Helper()
	listening := map[string]bool{} // socket inodes in state LISTEN (0A)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && fields[3] == "0A" {
				listening[fields[9]] = true
			}
		}
		f.Close()
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("cannot list this process's sockets: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok && listening[strings.TrimSuffix(inode, "]")] {
			n++
		}
	}
	return n
}

// TestDefaultStartRunsOnSQLiteWithNoListenerOfItsOwn is not parallel: it
// counts this process's listening sockets.
func TestDefaultStartRunsOnSQLiteWithNoListenerOfItsOwn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	before := listeningSockets(t)
	// Metrics off: their listener is the other one a start opens.
	inst := start(t, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir, "SOCIALBRIDGE_METRICS_ADDR": "off"})
	devSignIn(t, inst.url, "alice")
	if got := listeningSockets(t) - before; got != 1 {
		t.Errorf("a started socialbridge listens on %d sockets, want 1 (HTTP only; the database has no listener)", got)
	}
	logs := inst.logs.String()
	if !strings.Contains(logs, "store=sqlite") || !strings.Contains(logs, "sqlite_path="+filepath.Join(dir, "socialbridge.db")) {
		t.Errorf("the start-up log does not say the store is SQLite and where:\n%s", logs)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "socialbridge.db"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

func TestAFerretDBDataDirectoryIsNamedAndLeftAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := filepath.Join(dir, "db", "socialbridge.sqlite")
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("FerretDB data"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir})
	devSignIn(t, inst.url, "alice")
	logs := inst.logs.String()
	if !strings.Contains(logs, "earlier socialbridge version") || !strings.Contains(logs, filepath.Join(dir, "db")) {
		t.Errorf("the log does not name the old database directory:\n%s", logs)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "FerretDB data" {
		t.Errorf("the old database was changed: %q, %v", b, err)
	}
}

func TestTheBinaryLinksNeitherFerretDBNorItsDependencies(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "socialbridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, mod := range []string{"github.com/FerretDB/", "github.com/jackc/pgx", "github.com/go-sql-driver/mysql", "go.opentelemetry.io/", "google.golang.org/grpc"} {
		if strings.Contains(string(out), mod) {
			t.Errorf("the binary links %s:\n%s", mod, out)
		}
	}
	if !strings.Contains(string(out), "modernc.org/sqlite") {
		t.Errorf("the binary does not link modernc.org/sqlite, the embedded store:\n%s", out)
	}
}

func TestMongoDBErrorsDoNotRevealTheCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, uri, msg string
	}{
		{"the password as written", "mongodb://admin:s3cr%2Fet@db:27017/x", `auth failed for admin with password s3cr%2Fet`},
		{"the password decoded", "mongodb://admin:s3cr%2Fet@db:27017/x", `password "s3cr/et" rejected`},
		{"a malformed escape in the password", "mongodb://admin:pa%zzword@db/x", `invalid password: invalid URL escape "%zz"`},
		{"the whole user info", "mongodb+srv://admin:hunter22@cluster.example.net", `cannot parse admin:hunter22`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redactURISecrets(tt.msg, tt.uri)
			for _, secret := range []string{"s3cr", "hunter22", "%zz", "admin"} {
				if strings.Contains(got, secret) {
					t.Errorf("redactURISecrets(%q) = %q, still contains %q", tt.msg, got, secret)
				}
			}
			if !strings.Contains(got, "***") {
				t.Errorf("redactURISecrets(%q) = %q, redacted nothing", tt.msg, got)
			}
		})
	}
	if got := redactURISecrets("server selection timeout", "mongodb://db:27017"); got != "server selection timeout" {
		t.Errorf("a URI without credentials changed the message to %q", got)
	}
}
