// Package sqlite is socialbridge's embedded default store: store.Store on
// one SQLite file, through the pure-Go driver modernc.org/sqlite, so that
// the binary stays static with CGO_ENABLED=0 and nothing listens on the
// network.
//
// # One writer, a read pool
//
// SQLite lets one connection write to a file at a time. Instead of letting
// pooled connections race for that lock and back off on SQLITE_BUSY, a
// Store sends every write through a single connection (a database/sql pool
// of one), so its writes queue in Go and take the file lock one after
// another. Reads go to a small pool of other connections: in WAL mode a
// reader sees the last committed state and neither blocks the writer nor
// waits for it.
//
// Every compare-and-set of the contract (issue a code or a link code, fail
// a flow, redeem a code, rotate, revoke, start or complete a link flow,
// store refreshed provider tokens) is one UPDATE … WHERE … RETURNING
// statement, atomic by itself, with no read before it; so are the upserts
// of a sign-in, which also decide in the same statement whether the stored
// provider refresh token stays, and the replay guard of the token exchange
// (RememberToken), an INSERT … ON CONFLICT DO UPDATE … WHERE that replaces
// a remembered token's hash only when its record has expired. The link emails that FindUsersByLinkEmail
// reads are kept by triggers, inside the statement that writes the links.
// Explicit transactions are used where several statements must apply
// together (schema migrations, unlinking an identity, and completing a
// link flow, whose compare-and-set returns the sealed identity and a
// second statement then clears it); they begin with BEGIN IMMEDIATE, which
// takes the write lock at BEGIN. A deferred transaction takes it at its
// first write instead, and if another process committed after the
// transaction's first read, SQLite answers SQLITE_BUSY_SNAPSHOT at once,
// which no busy timeout can wait out.
//
// # Durability and a bounded WAL
//
// The journal is a write-ahead log with synchronous=NORMAL by default: a
// commit is atomic and consistent, and a power loss may lose the last
// commits but never corrupts the file (Options.Synchronous "full" fsyncs
// every commit instead). SQLite checkpoints the WAL into the database every
// ~1,000 pages (4 MB) by itself, when a write statement completes, and
// restarts the log from its beginning; journal_size_limit caps what a
// restarted log keeps on disk. A checkpoint can restart the log only when
// no reader is using it, though, so a long reader (an online backup,
// another process) lets the file grow. Every Options.CheckpointInterval a
// background goroutine therefore looks at the size of the log and, when it
// is past twice the automatic checkpoint's (walTruncateAbove), runs
// wal_checkpoint(TRUNCATE). It does so on the writer connection with a
// busy timeout of 100 ms rather than the usual 5 s, since a TRUNCATE
// checkpoint waits for readers while holding the write lock: a reader that
// is still there after 100 ms costs the writes one short pause, and the
// next tick tries again.
//
// # Several processes, one host
//
// busy_timeout makes a connection wait for another process's write lock
// instead of failing, so several socialbridge processes on one host may
// share the file, each with its own writer. SQLite's locking rests on
// POSIX locks and a shared-memory file (-shm), which do not work across
// hosts or on network file systems: several hosts need store/mongo.
//
// # Files and schema
//
// The database directory is created 0700 when missing; the database file
// and its -wal and -shm companions are 0600, since they hold sealed
// provider tokens and the claims of every session. The schema is versioned
// with PRAGMA user_version and moved forward at Open by a list of
// migrations, each in its own transaction; a database newer than this code
// is refused rather than guessed at.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/socialbridge/socialbridge/store"
)

const (
	// DefaultReadConns is the size of the read pool when
	// Options.ReadConns is 0.
	DefaultReadConns = 4
	// DefaultCheckpointInterval is how often the WAL is truncated when
	// Options.CheckpointInterval is 0.
	DefaultCheckpointInterval = 30 * time.Second
)

const (
	// busyTimeout is how long a connection waits for another process's
	// lock before giving up with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// checkpointBusyTimeout is how long the periodic checkpoint waits for
	// readers, holding the write lock meanwhile.
	checkpointBusyTimeout = 100 * time.Millisecond
	// walTruncateAbove is the size of the WAL past which the periodic
	// checkpoint truncates it: twice what SQLite's automatic checkpoint
	// lets it reach (1,000 pages of 4 KiB), so that it acts only when
	// readers kept the log from restarting.
	walTruncateAbove = 8 << 20
	// journalSizeLimit is how much of a reset WAL file SQLite keeps on
	// disk; the rest is truncated away.
	journalSizeLimit = 32 << 20
)

// Options configures Open.
type Options struct {
	// Path is the database file. Its directory is created 0700 if
	// missing; the file and its -wal and -shm companions are made 0600.
	Path string
	// Synchronous is "normal" (the default, also when empty: the WAL is
	// fsynced at checkpoints, so a power cut can undo the last commits but
	// never corrupts the database) or "full" (fsync at every commit),
	// spelled in lower case as in the configuration.
	Synchronous string
	// ReadConns is the size of the read pool; 0 means DefaultReadConns.
	ReadConns int
	// CheckpointInterval is how often the size of the WAL is checked, and
	// the log truncated when it is larger than SQLite keeps it by itself;
	// 0 means DefaultCheckpointInterval and a negative value disables it.
	CheckpointInterval time.Duration
	// Logger receives schema migrations, warnings (a database directory
	// open to other users) and background problems (failed checkpoints);
	// nil discards them.
	Logger *slog.Logger
}

// Store is store.Store on one SQLite file. It is safe for concurrent use,
// and several Stores, in one process or several on one host, may share a
// file.
type Store struct {
	path   string
	logger *slog.Logger
	write  *sql.DB // one connection: every write goes through it
	read   *sql.DB // the read pool, query_only
	stmt   statements

	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	closeOnce       sync.Once
	closeErr        error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at o.Path, migrates its
// schema to the version this code knows, and starts the periodic WAL
// checkpoint. ctx bounds the opening only.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Path == "" {
		return nil, errors.New("open sqlite store: no database path")
	}
	syncMode, err := synchronousMode(o.Synchronous)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	readConns := o.ReadConns
	switch {
	case readConns == 0:
		readConns = DefaultReadConns
	case readConns < 0:
		return nil, fmt.Errorf("open sqlite store: ReadConns is %d, want a positive number (or 0 for %d)", readConns, DefaultReadConns)
	}
	interval := o.CheckpointInterval
	if interval == 0 {
		interval = DefaultCheckpointInterval
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	path, err := filepath.Abs(o.Path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	if err := prepareFile(path, logger); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	s := &Store{path: path, logger: logger}
	ok := false
	defer func() {
		if !ok {
			s.closeDBs()
		}
	}()

	s.write, err = sql.Open("sqlite", dsn(path, syncMode, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.write.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	before, err := schemaVersion(ctx, s.write)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	if err := migrateTo(ctx, s.write, len(migrations)); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	if before < len(migrations) {
		logger.Info("migrated sqlite schema", "path", path, "from", before, "to", len(migrations))
	}
	// SQLite gives -wal and -shm the database file's mode; this makes sure
	// of it whatever created them.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open sqlite store: restrict %s: %w", path+suffix, err)
		}
	}

	// The read pool opens after the writer has switched the file to WAL,
	// which query_only connections could not do.
	s.read, err = sql.Open("sqlite", dsn(path, syncMode, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}
	s.read.SetMaxOpenConns(readConns)
	s.read.SetMaxIdleConns(readConns)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	if err := s.stmt.prepare(ctx, s.write, s.read); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, mapErr(err))
	}

	cctx, cancel := context.WithCancel(context.Background())
	s.stopCheckpoints = cancel
	s.checkpointsDone = make(chan struct{})
	if interval > 0 {
		go s.checkpointLoop(cctx, interval)
	} else {
		close(s.checkpointsDone)
	}
	ok = true
	return s, nil
}

// synchronousMode validates Options.Synchronous and returns the PRAGMA
// value. It takes the lower-case spellings only, as the configuration
// does.
func synchronousMode(v string) (string, error) {
	switch v {
	case "", "normal":
		return "NORMAL", nil
	case "full":
		return "FULL", nil
	}
	return "", fmt.Errorf("invalid Synchronous %q: want \"normal\" or \"full\"", v)
}

// prepareFile creates the database directory (0700) and file (0600) when
// missing, and restricts an existing database file to 0600. It sets the
// modes explicitly rather than through the process umask, which could
// loosen or tighten them.
//
// An existing directory is left as it is, with a warning when other users
// may enter it: it may be a directory the operator shares on purpose (a
// home directory, the working directory), and the files in it are 0600
// whatever the directory allows.
func prepareFile(path string, logger *slog.Logger) error {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict database directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("database directory: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		logger.Warn("the database directory is open to other users: they cannot read the database files (0600) "+
			"but can see them; consider chmod 700", "dir", dir, "mode", info.Mode().Perm().String())
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	info, err = f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if info.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("restrict database file %s to 0600: %w", path, err)
		}
	}
	return nil
}

// dsn is the modernc.org/sqlite data source name of the database at path
// for the writer or for the read pool. The driver runs the _pragma values
// on every new connection, busy_timeout first.
func dsn(path, synchronous string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "journal_size_limit("+strconv.Itoa(journalSizeLimit)+")")
	// No foreign keys: an identity is created before its user on purpose
	// (see store.Users.ClaimIdentity), and sessions outlive nothing.
	q.Add("_pragma", "foreign_keys(0)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Close stops the checkpoints and closes the database. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopCheckpoints()
		<-s.checkpointsDone
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// closeDBs closes the statements and both pools; the last connection to
// close checkpoints the WAL and removes it.
func (s *Store) closeDBs() error {
	errs := []error{s.stmt.close()}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", mapErr(err))
	}
	return nil
}

// Ping checks, for readiness probes, that the database answers a read on
// the read pool and that the writer can commit a write to disk now. A
// read-only, full or failing disk, a file SQLite cannot open or a write
// lock another process holds beyond the busy timeout make it fail with
// store.ErrUnavailable.
//
// The write changes no data and needs no table: on the writer, in a
// BEGIN IMMEDIATE transaction, it sets the header field application_id
// (which socialbridge does not otherwise use) to the value it holds, read
// in the same transaction under the write lock, so that no other writer
// can change it in between. SQLite rewrites the header page whether or not
// the value changed, so the commit appends one page (4 KiB) to the WAL, as
// the smallest real write does, and the checkpoints reclaim it like any
// other; the database file keeps its size. (A write inside a transaction
// that is rolled back, or to a TEMP table, would never reach the file;
// an UPDATE that stores the values a row holds writes nothing either, as
// SQLite skips a cell rewritten with its own bytes; user_version is the
// schema version and is left alone.)
// Its cost is that of one tiny commit, some 40 µs on an idle database
// (BenchmarkPing: about 130 µs with its share of the checkpoints that the
// frames bring about, one per 1,000 pings when nothing else writes), and
// it waits for the writer behind the writes queued before it, as a write
// of a request would.
//
// What it proves is that this commit reached the WAL file. A WAL that a
// checkpoint restarted is overwritten from its beginning, so on a full
// disk the probe, and writes as small as it, can succeed while a write
// that has to extend the log fails; Ping then reports ready until the
// log must grow, and every write that fails meanwhile answers
// store.ErrUnavailable itself.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	if err := s.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("ping sqlite store: read: %w", mapErr(err))
	}
	if err := s.probeWrite(ctx); err != nil {
		return fmt.Errorf("ping sqlite store: write: %w", mapErr(err))
	}
	return nil
}

// probeWrite commits, on the writer, a rewrite of the header field
// application_id with the value it holds (see Ping).
func (s *Store) probeWrite(ctx context.Context) (err error) {
	// The writer begins IMMEDIATE: the write lock is held from here.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var id int32
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		return fmt.Errorf("read application_id: %w", err)
	}
	// PRAGMA takes no bound parameters; id is an integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", id)); err != nil {
		return fmt.Errorf("rewrite application_id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// WALSize returns the size in bytes of the write-ahead log file, 0 when
// there is none, for monitoring and load tests.
func (s *Store) WALSize() (int64, error) {
	info, err := os.Stat(s.path + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of the WAL: %w", err)
	}
	return info.Size(), nil
}

// errCheckpointBusy means a checkpoint could not restart the WAL because
// a reader or another process's writer was using it.
var errCheckpointBusy = errors.New("WAL still in use by a reader or another writer")

// Checkpoint copies the WAL into the database and truncates it to zero
// bytes (wal_checkpoint(TRUNCATE)), for tools and tests. It waits up to the
// busy timeout (5 s) for readers, holding the write lock, and fails if
// they still hold the log.
func (s *Store) Checkpoint(ctx context.Context) error {
	return s.checkpoint(ctx, busyTimeout)
}

// checkpointIfLarge is the periodic checkpoint: it truncates the WAL when
// it is larger than walTruncateAbove, waiting at most
// checkpointBusyTimeout for readers.
func (s *Store) checkpointIfLarge(ctx context.Context) error {
	size, err := s.WALSize()
	if err != nil || size <= walTruncateAbove {
		return err
	}
	return s.checkpoint(ctx, checkpointBusyTimeout)
}

// checkpoint runs wal_checkpoint(TRUNCATE) on the writer connection with
// busy timeout wait, and restores the usual one afterwards. While it holds
// the connection, writes of this Store queue for it.
func (s *Store) checkpoint(ctx context.Context, wait time.Duration) (err error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint WAL: %w", mapErr(err))
	}
	defer conn.Close() // back to the pool
	if wait != busyTimeout {
		// PRAGMA takes no bound parameters; the values are integers.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
			return fmt.Errorf("checkpoint WAL: set busy timeout: %w", mapErr(err))
		}
		defer func() {
			_, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds()))
			if rerr != nil {
				// Never leave the writer with the short timeout: drop the
				// connection, and the pool opens a new one from the DSN.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
				err = errors.Join(err, fmt.Errorf("checkpoint WAL: restore busy timeout: %w", mapErr(rerr)))
			}
		}()
	}
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint WAL: %w", mapErr(err))
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint WAL (%d of %d frames copied): %w", done, logFrames, errCheckpointBusy)
	}
	return nil
}

// checkpointLoop runs checkpointIfLarge every interval until ctx ends.
func (s *Store) checkpointLoop(ctx context.Context, interval time.Duration) {
	defer close(s.checkpointsDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.checkpointIfLarge(ctx)
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.Is(err, errCheckpointBusy):
				// Routine under load; the next one catches up.
				s.logger.Debug("sqlite WAL checkpoint incomplete", "err", err)
			default:
				s.logger.Warn("sqlite WAL checkpoint", "err", err)
			}
		}
	}
}

// mapErr turns the driver's "no row" into store.ErrNotFound, a unique or
// primary-key violation into store.ErrConflict, and the errors of a
// database that cannot write right now (read-only or full disk, I/O
// failure, a file it cannot open, a lock held beyond the busy timeout)
// into store.ErrUnavailable, keeping the original error in the chain.
// Other errors, and those mapped already, come back as they are, so that
// mapping twice is harmless.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrUnavailable):
		return err
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlitelib.SQLITE_CONSTRAINT_UNIQUE, sqlitelib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		}
		// Extended codes carry the primary code in their low byte.
		switch se.Code() & 0xff {
		case sqlitelib.SQLITE_READONLY, sqlitelib.SQLITE_FULL, sqlitelib.SQLITE_IOERR,
			sqlitelib.SQLITE_CANTOPEN, sqlitelib.SQLITE_BUSY, sqlitelib.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
	}
	return err
}

// writeReturning runs a write statement with a RETURNING clause on the
// writer, scans its one row with scan and steps the statement to
// completion; it returns sql.ErrNoRows when the statement changed no row.
//
// It reads the result to the end rather than with QueryRow: QueryRow
// resets the statement after the first row, and SQLite runs its automatic
// WAL checkpoint only when a statement steps to completion, so every write
// read that way left the log to grow until the next periodic TRUNCATE
// (measured: 4 KB per refresh, hundreds of MB under load).
//
// SQLite applies the whole write at the first step and commits it when the
// statement completes, so an error returned after that first step (a
// failed scan, or a failure of the caller's decoding afterwards) comes
// with the write committed. scan should therefore only copy columns into
// plain destinations, and the caller decode them once writeReturning has
// returned (see sessionRow); a scan error is reported, still, only after
// the statement has completed.
func writeReturning(ctx context.Context, stmt *sql.Stmt, scan func(rowScanner) error, args ...any) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	found := false
	var scanErr error
	for rows.Next() {
		if found {
			continue // one row at most; step to the end all the same
		}
		found = true
		scanErr = scan(rows)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !found {
		return sql.ErrNoRows
	}
	if scanErr != nil {
		return fmt.Errorf("written, but reading the row back failed: %w", scanErr)
	}
	return nil
}

// execCount runs a write statement and returns how many rows it changed.
func execCount(ctx context.Context, stmt *sql.Stmt, args ...any) (int64, error) {
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// deleteInBatches runs a DELETE statement whose last parameter is a batch
// size until it deletes fewer rows than a batch, so that the write lock is
// held in short turns, and returns how many rows it deleted.
func deleteInBatches(ctx context.Context, stmt *sql.Stmt, args ...any) (int64, error) {
	args = append(args, sweepBatch)
	var total int64
	for {
		n, err := execCount(ctx, stmt, args...)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// queryAll runs a query and reads every row with scan.
func queryAll[T any](ctx context.Context, stmt *sql.Stmt, scan func(rowScanner) (T, error), args ...any) ([]T, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

// millis is the stored form of t: unix milliseconds, NULL for the zero
// time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}
