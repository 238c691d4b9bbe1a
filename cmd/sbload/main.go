// Command sbload measures socialbridge's hot paths on its embedded SQLite
// store against a baseline taken in the same run on the same database file,
// as DESIGN.md's performance targets ask:
//
//   - the refresh grant over loopback HTTP, at each -concurrency, against
//     the bare Store.Rotate it is built on;
//   - complete dev-provider sign-ins, against the six bare store calls of
//     a sign-in;
//   - optionally with -seed N users and sessions stored beforehand, and
//     optionally as a -soak of refreshes over a long period.
//
// It runs the socialbridge binary in dev mode with its database in a
// temporary data directory, and opens that same file itself through
// store/sqlite, as a second process sharing it (WAL mode, busy_timeout):
// the baseline is the store operation with nothing on top, no HTTP, no
// tokens. Every figure comes with CPU per operation: sbload's own for the
// baseline, the server process's for HTTP (from /proc/<pid>/stat).
//
// Every loop is bounded in time and only loopback addresses are used.
// Timings are printed, never judged: nothing here passes or fails.
//
//	go build -o /tmp/socialbridge ./cmd/socialbridge
//	go run ./cmd/sbload -bin /tmp/socialbridge -concurrency 1,8 -seed 100000
//
// scripts/load.sh does both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/store/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(1)
	}
}

// config is what the command line asks for.
type config struct {
	bin           string
	duration      time.Duration
	levels        []int
	signinClients int
	seed          int
	soak          time.Duration
	soakClients   int
	soakInterval  time.Duration
	// serverEnv are extra SOCIALBRIDGE_* settings for the server.
	serverEnv []string
}

// parseFlags reads and checks the command line.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("sbload", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "", "path of the socialbridge binary to measure (required)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each measurement runs")
	levels := fs.String("concurrency", "1,8,32", "comma-separated client counts for the refresh measurement")
	fs.IntVar(&c.signinClients, "signin-clients", 8, "clients for the sign-in measurement (0 skips it)")
	fs.IntVar(&c.seed, "seed", 0, "users and active sessions to store before the server starts")
	fs.DurationVar(&c.soak, "soak", 0, "instead of the table, refresh for this long and report each interval (e.g. 10m)")
	fs.IntVar(&c.soakClients, "soak-clients", 8, "clients during -soak")
	fs.DurationVar(&c.soakInterval, "soak-interval", time.Minute, "reporting interval during -soak")
	fs.Func("server-env", "a SOCIALBRIDGE_*=value setting for the server (repeatable), e.g. SOCIALBRIDGE_TOKENS_ID_TOKEN_ALGORITHM=ES256", func(v string) error {
		if name, _, ok := strings.Cut(v, "="); !ok || !strings.HasPrefix(name, "SOCIALBRIDGE_") {
			return fmt.Errorf("%q is not SOCIALBRIDGE_NAME=value", v)
		}
		c.serverEnv = append(c.serverEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.bin == "":
		return c, errors.New("-bin is required")
	case c.duration <= 0 || c.duration > time.Hour:
		return c, fmt.Errorf("-duration %s: want more than 0 and at most 1h", c.duration)
	case c.signinClients < 0 || c.signinClients > maxClients:
		return c, fmt.Errorf("-signin-clients %d: want 0 to %d", c.signinClients, maxClients)
	case c.seed < 0 || c.seed > 10_000_000:
		return c, fmt.Errorf("-seed %d: want 0 to 10,000,000", c.seed)
	case c.soak < 0 || c.soak > 24*time.Hour:
		return c, fmt.Errorf("-soak %s: want at most 24h", c.soak)
	case c.soak > 0 && (c.soakClients < 1 || c.soakClients > maxClients):
		return c, fmt.Errorf("-soak-clients %d: want 1 to %d", c.soakClients, maxClients)
	case c.soak > 0 && (c.soakInterval < time.Second || c.soakInterval > c.soak):
		return c, fmt.Errorf("-soak-interval %s: want at least 1s and at most -soak (%s)", c.soakInterval, c.soak)
	}
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > maxClients {
			return c, fmt.Errorf("-concurrency: %q is not a client count from 1 to %d", s, maxClients)
		}
		c.levels = append(c.levels, n)
	}
	return c, nil
}

// maxClients bounds every client count.
const maxClients = 256

func run() error {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	// Ctrl-C ends the current measurement early and still stops the server.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dir, err := os.MkdirTemp("", "sbload")
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "socialbridge.db")

	st, err := openStore(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := seedAndReport(ctx, st, dbPath, cfg.seed); err != nil {
		return err
	}

	srv, err := startServer(cfg.bin, dir, dbPath, cfg.serverEnv)
	if err != nil {
		return err
	}
	defer srv.stop()

	l := &loadTest{cfg: cfg, st: st, srv: srv, dbPath: dbPath, meter: newMeter(srv.pid)}
	fmt.Printf("socialbridge load test: embedded SQLite store (WAL, synchronous=normal), loopback HTTP\n")
	fmt.Printf("%s per measurement; %d users and sessions seeded; database %s\n", cfg.duration, cfg.seed, dbPath)
	fmt.Printf("baseline: bare store calls by sbload, a second process on the same file (store/sqlite, as the server uses it); its CPU is sbload's own\n")
	fmt.Printf("HTTP rows: CPU is the server process's (utime+stime from /proc/%d/stat, tick %s)\n\n", srv.pid, l.meter.tick)
	if cfg.soak > 0 {
		return l.soak(ctx)
	}
	return l.table(ctx)
}

// openStore opens the database file the way the server will, except that
// its periodic checkpoint is off: the WAL figures are then the server's
// doing (SQLite's automatic checkpoints still run in both processes).
func openStore(ctx context.Context, path string) (*sqlite.Store, error) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(octx, sqlite.Options{Path: path, Synchronous: "normal", CheckpointInterval: -1})
	if err != nil {
		return nil, fmt.Errorf("open the database for the baseline: %w", err)
	}
	return st, nil
}

// seedAndReport seeds n users and sessions, reports how long it took, and
// checkpoints the WAL so that the measurements start from a database as a
// server that has been running a while would have it.
func seedAndReport(ctx context.Context, st *sqlite.Store, dbPath string, n int) error {
	if n == 0 {
		return nil
	}
	took, err := seed(ctx, st, n)
	if err != nil {
		return fmt.Errorf("seed %d users and sessions: %w", n, err)
	}
	fmt.Printf("seeded %d users (identity, profile, sealed provider tokens) and %d active sessions in %s (%.0f users/s, %d goroutines, 6 store calls per user and session)\n",
		n, n, took.Round(time.Millisecond), float64(n)/took.Seconds(), seedWorkers)
	fmt.Printf("after seeding: %s\n", files(dbPath))
	if err := st.Checkpoint(ctx); err != nil {
		return fmt.Errorf("checkpoint after seeding: %w", err)
	}
	return nil
}

// loadTest is one run: the server, sbload's handle on its database, and
// the meter of both processes' CPU.
type loadTest struct {
	cfg    config
	st     *sqlite.Store
	srv    *server
	dbPath string
	meter  meter
}

// Targets from DESIGN.md, printed next to the figures.
const (
	refreshTarget = "target at 8 clients: >= 2,000/s, p99 <= 15 ms; <= 0.5 ms server CPU"
	signinTarget  = "target at 8 clients: >= 500/s"
)

// table measures the refresh grant at each concurrency and then sign-ins,
// each next to its baseline.
func (l *loadTest) table(ctx context.Context) error {
	user, err := recordLogin(ctx, l.st, baselinePersona(), time.Now())
	if err != nil {
		return fmt.Errorf("baseline user: %w", err)
	}
	printHeader()
	for _, n := range l.cfg.levels {
		base, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return rotateWorker(ctx, l.st, user) })
		if err != nil {
			return fmt.Errorf("baseline Store.Rotate at %d clients: %w", n, err)
		}
		printRow(n, "baseline: Store.Rotate", base, base, base.selfCPU, "sbload CPU")
		refresh, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return refreshWorker(l.srv.base) })
		if err != nil {
			return fmt.Errorf("refresh grant at %d clients: %w", n, err)
		}
		printRow(n, "POST /token refresh_token", refresh, base, refresh.serverCPU, refreshTarget)
		l.printAfter(refresh, "refresh")
	}
	if l.cfg.signinClients == 0 {
		return nil
	}
	return l.signins(ctx, l.cfg.signinClients)
}

// signins measures complete dev-provider sign-ins against the six store
// calls a sign-in makes, done directly.
func (l *loadTest) signins(ctx context.Context, n int) error {
	base, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return storeSigninWorker(ctx, l.st), nil })
	if err != nil {
		return fmt.Errorf("baseline sign-in store calls at %d clients: %w", n, err)
	}
	fmt.Println()
	printRow(n, "baseline: a sign-in's 8 store calls", base, base, base.selfCPU, "sbload CPU; CreateFlow, ClaimFlow, ClaimIdentity, UpsertLogin, IssueCode, RedeemCode, AppendAudit, GetUser")
	signin, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return signinWorker(l.srv.base), nil })
	if err != nil {
		return fmt.Errorf("sign-ins at %d clients: %w", n, err)
	}
	printRow(n, "complete dev sign-in (5 requests)", signin, base, signin.serverCPU, signinTarget)
	l.printAfter(signin, "sign-in")
	return nil
}

// printAfter prints the server's memory, the database files, and sbload's
// own CPU per operation as the HTTP client (on a 2-core machine it
// competes with the server for the same cores).
func (l *loadTest) printAfter(r result, what string) {
	fmt.Printf("%-8s after: server RSS %s; %s; sbload (HTTP client) CPU %.3f ms/%s\n",
		"", formatRSS(l.srv.pid), files(l.dbPath), ms(r.selfCPU), what)
}

// rowFormat lays out the table.
const rowFormat = "%-8s %-36s %9s %8s %8s %7s %10s  %s\n"

func printHeader() {
	fmt.Printf(rowFormat, "clients", "operation", "ops/s", "p50 ms", "p99 ms", "ratio", "CPU ms/op", "")
}

// printRow prints one measurement, its ratio to the baseline's rate and
// the CPU per operation of the process that matters for it.
func printRow(clients int, name string, r, base result, cpu time.Duration, note string) {
	fmt.Printf(rowFormat, strconv.Itoa(clients), name, fmt.Sprintf("%.0f", r.rate),
		fmt.Sprintf("%.2f", r.p50), fmt.Sprintf("%.2f", r.p99), fmt.Sprintf("%.2f", r.rate/base.rate),
		fmt.Sprintf("%.3f", ms(cpu)), note)
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
