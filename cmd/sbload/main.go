// Command sbload measures socialbridge's hot paths on its embedded SQLite
// store against a baseline taken in the same run on the same database file,
// as DESIGN.md's performance targets ask:
//
//   - the refresh grant over loopback HTTP, at each -concurrency (1, 8, 32
//     and 64 clients unless told), against the bare Store.Rotate it is
//     built on;
//   - complete dev-provider sign-ins at the same client counts, against
//     the eight bare store calls of a sign-in;
//   - optionally with -seed N users and sessions stored beforehand, and
//     optionally as a -soak over a long period: refreshes, and sign-ins
//     that add a session each, reported interval by interval.
//
// It runs the socialbridge binary in dev mode with its database in a
// temporary data directory, and opens that same file itself through
// store/sqlite, as a second process sharing it (WAL mode, busy_timeout):
// the baseline is the store operation with nothing on top, no HTTP, no
// tokens. Every figure comes with CPU per operation: sbload's own for the
// baseline, the server process's for HTTP (from /proc/<pid>/stat); with
// the failed operations of every row (answers that were not 2xx, and
// transport errors), and the server's resident memory before and after
// every HTTP measurement.
//
// A failed operation is counted and its worker goes on; a run with
// failures says so at the end but still exits 0. sbload exits 1 only when
// it cannot run: a bad command line, a server that does not start or that
// exits during the run, a worker that cannot be prepared.
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
	"slices"
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
	bin      string
	duration time.Duration
	// levels are the client counts of the refresh measurements, and of
	// the sign-in measurements unless signinLevels says otherwise.
	levels []int
	// signinLevels are the client counts of the sign-in measurements:
	// levels, or the one count of the deprecated -signin-clients, or none
	// when that is 0.
	signinLevels []int
	seed         int
	soak         time.Duration
	soakClients  int
	// soakSignins are the sign-in clients running next to the refresh
	// clients during -soak.
	soakSignins  int
	soakInterval time.Duration
	// serverEnv are extra SOCIALBRIDGE_* settings for the server.
	serverEnv []string
}

// parseFlags reads and checks the command line.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("sbload", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "", "path of the socialbridge binary to measure (required)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each measurement runs")
	levels := fs.String("concurrency", "1,8,32,64", "comma-separated client counts, for the refresh and the sign-in measurements")
	signinClients := fs.Int("signin-clients", -1, "deprecated: measure sign-ins at this one client count only (0 skips them) instead of at each -concurrency")
	fs.IntVar(&c.seed, "seed", 0, "users and active sessions to store before the server starts")
	fs.DurationVar(&c.soak, "soak", 0, "instead of the table, refresh and sign in for this long and report each interval (e.g. 10m)")
	fs.IntVar(&c.soakClients, "soak-clients", 8, "refresh clients during -soak")
	fs.IntVar(&c.soakSignins, "soak-signin-clients", 2, "sign-in clients during -soak, next to the refresh clients (0: refreshes only)")
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
	case *signinClients < -1 || *signinClients > maxClients:
		return c, fmt.Errorf("-signin-clients %d: want 0 to %d", *signinClients, maxClients)
	case c.seed < 0 || c.seed > 10_000_000:
		return c, fmt.Errorf("-seed %d: want 0 to 10,000,000", c.seed)
	case c.soak < 0 || c.soak > 24*time.Hour:
		return c, fmt.Errorf("-soak %s: want at most 24h", c.soak)
	case c.soak > 0 && (c.soakClients < 1 || c.soakClients > maxClients):
		return c, fmt.Errorf("-soak-clients %d: want 1 to %d", c.soakClients, maxClients)
	case c.soak > 0 && (c.soakSignins < 0 || c.soakSignins > maxClients):
		return c, fmt.Errorf("-soak-signin-clients %d: want 0 to %d", c.soakSignins, maxClients)
	case c.soak > 0 && (c.soakInterval < time.Second || c.soakInterval > c.soak):
		return c, fmt.Errorf("-soak-interval %s: want at least 1s and at most -soak (%s)", c.soakInterval, c.soak)
	}
	var err error
	if c.levels, err = parseLevels(*levels); err != nil {
		return c, fmt.Errorf("-concurrency: %w", err)
	}
	switch *signinClients {
	case -1: // not given
		c.signinLevels = c.levels
	case 0:
	default:
		c.signinLevels = []int{*signinClients}
	}
	return c, nil
}

// parseLevels parses -concurrency: client counts from 1 to maxClients,
// separated by commas, each once, measured in the order given.
func parseLevels(s string) ([]int, error) {
	var levels []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxClients {
			return nil, fmt.Errorf("%q is not a client count from 1 to %d", f, maxClients)
		}
		if slices.Contains(levels, n) {
			return nil, fmt.Errorf("%d clients given twice", n)
		}
		levels = append(levels, n)
	}
	return levels, nil
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
	ctx, cancel := srv.untilExit(ctx)
	defer cancel()

	l := &loadTest{cfg: cfg, st: st, srv: srv, dbPath: dbPath, meter: newMeter(srv.pid)}
	fmt.Printf("socialbridge load test: embedded SQLite store (WAL, synchronous=normal), loopback HTTP\n")
	fmt.Printf("%s per measurement; %d users and sessions seeded; database %s\n", cfg.duration, cfg.seed, dbPath)
	fmt.Printf("baseline rows: bare store calls by sbload, a second process on the same file (store/sqlite, as the server uses it); CPU is sbload's own\n")
	fmt.Printf("HTTP rows: CPU is the server process's (utime+stime from /proc/%d/stat, tick %s); RSS is the server's (VmRSS)\n", srv.pid, l.meter.tick)
	fmt.Printf("ops/s, p50, p99 and CPU count successful operations; non-2xx: answers not 2xx or not what the flow expects; transport: no answer (baseline rows: failed store calls)\n")
	fmt.Printf("server RSS at start: %s\n\n", l.rss())
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

// loadTest is one run: the server, sbload's handle on its database, the
// meter of both processes' CPU, and the rows that had failures.
type loadTest struct {
	cfg    config
	st     *sqlite.Store
	srv    *server
	dbPath string
	meter  meter
	failed []string
}

// Targets from DESIGN.md, printed above their sections.
const (
	refreshTarget = "target at 8 clients: >= 2,000/s, p99 <= 15 ms; <= 0.5 ms server CPU"
	signinTarget  = "target at 8 clients: >= 500/s"
)

// table measures the refresh grant at each concurrency, then sign-ins at
// each, every HTTP row next to its baseline, and ends with the server's
// memory and the failures.
func (l *loadTest) table(ctx context.Context) error {
	user, err := recordLogin(ctx, l.st, baselinePersona(), time.Now())
	if err != nil {
		return fmt.Errorf("baseline user: %w", err)
	}
	fmt.Printf("refresh grants (%s)\n", refreshTarget)
	printHeader()
	for _, n := range l.cfg.levels {
		base, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return rotateWorker(ctx, l.st, user) })
		if err != nil {
			return fmt.Errorf("baseline Store.Rotate at %d clients: %w", n, err)
		}
		l.row(n, "baseline: Store.Rotate", base, base, false)
		refresh, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return refreshWorker(l.srv.base) })
		if err != nil {
			return fmt.Errorf("refresh grant at %d clients: %w", n, err)
		}
		l.row(n, "POST /token refresh_token", refresh, base, true)
		l.printBlock(refresh, "refresh")
	}
	if len(l.cfg.signinLevels) > 0 {
		fmt.Printf("\ncomplete dev sign-ins (%s); baseline: CreateFlow, ClaimFlow, ClaimIdentity, UpsertLogin, IssueCode, RedeemCode, AppendAudit, GetUser\n", signinTarget)
		printHeader()
	}
	for _, n := range l.cfg.signinLevels {
		if err := l.signins(ctx, n); err != nil {
			return err
		}
	}
	l.printSummary()
	return nil
}

// signins measures complete dev-provider sign-ins at n clients against
// the eight store calls a sign-in makes, done directly.
func (l *loadTest) signins(ctx context.Context, n int) error {
	base, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return storeSigninWorker(ctx, l.st), nil })
	if err != nil {
		return fmt.Errorf("baseline sign-in store calls at %d clients: %w", n, err)
	}
	l.row(n, "baseline: a sign-in's 8 store calls", base, base, false)
	signin, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return signinWorker(l.srv.base), nil })
	if err != nil {
		return fmt.Errorf("sign-ins at %d clients: %w", n, err)
	}
	l.row(n, "complete dev sign-in (5 requests)", signin, base, true)
	l.printBlock(signin, "sign-in")
	return nil
}

// row prints one measurement and remembers it if it had failures.
func (l *loadTest) row(clients int, name string, r, base result, http bool) {
	printRow(clients, name, r, base, http)
	if r.fails.total() > 0 {
		l.failed = append(l.failed, fmt.Sprintf("%d clients, %s: %d non-2xx, %d transport; first: %s",
			clients, name, r.fails.status, r.fails.transport, r.fails.first))
	}
}

// printBlock closes an HTTP measurement with one line: the server's
// memory before and after it, the database files, and sbload's own CPU
// per operation as the HTTP client (on a 2-core machine it competes with
// the server for the same cores).
func (l *loadTest) printBlock(r result, what string) {
	fmt.Printf("%-8s server RSS %s -> %s; %s; sbload (HTTP client) CPU %.3f ms/%s\n",
		"", kbMB(r.rssBefore), kbMB(r.rssAfter), files(l.dbPath), ms(r.selfCPU), what)
}

// printSummary prints the server's memory at the end and the rows with
// failures, or that there were none.
func (l *loadTest) printSummary() {
	peak := "unknown"
	if kb, err := peakRSSKB(l.srv.pid); err == nil {
		peak = kbMB(kb)
	}
	fmt.Printf("\nserver RSS at the end: %s (peak %s)\n", l.rss(), peak)
	if len(l.failed) == 0 {
		fmt.Println("failures: none")
		return
	}
	rows := "rows"
	if len(l.failed) == 1 {
		rows = "row"
	}
	fmt.Printf("failures: %d %s had failed operations (their figures count only the successful ones):\n", len(l.failed), rows)
	for _, f := range l.failed {
		fmt.Println("  " + f)
	}
}

// rss is the server's resident memory now, for printing.
func (l *loadTest) rss() string {
	kb, err := rssKB(l.srv.pid)
	if err != nil {
		return "unknown"
	}
	return kbMB(kb)
}

// rowFormat lays out the table.
const rowFormat = "%-8s %-36s %9s %8s %8s %7s %10s %8s %9s\n"

func printHeader() {
	fmt.Printf(rowFormat, "clients", "operation", "ops/s", "p50 ms", "p99 ms", "ratio", "CPU ms/op", "non-2xx", "transport")
}

// printRow prints one measurement, its ratio to the baseline's rate, the
// CPU per operation of the process that matters for it (the server's for
// HTTP rows, sbload's for baseline rows) and its failures.
func printRow(clients int, name string, r, base result, http bool) {
	cpu, status := r.selfCPU, "-"
	if http {
		cpu, status = r.serverCPU, strconv.Itoa(r.fails.status)
	}
	ratio := "-"
	if base.rate > 0 {
		ratio = fmt.Sprintf("%.2f", r.rate/base.rate)
	}
	fmt.Printf(rowFormat, strconv.Itoa(clients), name, fmt.Sprintf("%.0f", r.rate),
		fmt.Sprintf("%.2f", r.p50), fmt.Sprintf("%.2f", r.p99), ratio,
		fmt.Sprintf("%.3f", ms(cpu)), status, strconv.Itoa(r.fails.transport))
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
