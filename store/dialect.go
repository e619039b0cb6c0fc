package store

// Everything that differs between PostgreSQL and SQLite is in this file:
// opening, the DDL words of migrations, running a transaction of write
// statements, and which driver errors are permanent. Queries, the schema and
// the write plan are shared (see write.go, read.go, overview.go).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database a store runs on.
type Dialect string

// The dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// stmt is one write statement and its arguments; write.go plans them, the
// dialect runs them.
type stmt struct {
	sql  string
	args []any
}

// backend is the dialect-specific half of a Store.
type backend interface {
	// reader returns the database/sql handle for queries.
	reader() *sql.DB
	// runTx runs stmts in one transaction, in order.
	runTx(ctx context.Context, stmts []stmt) error
	// beginMigration starts a transaction that holds the migration lock.
	beginMigration(ctx context.Context) (migrationTx, error)
	// permanent reports whether err is a data error no retry can fix.
	permanent(err error) bool
	// unavailable reports whether err means the database cannot be reached
	// or is not serving now (as opposed to refusing what was asked).
	unavailable(err error) bool
	// ddl rewrites a migration's dialect words ({{json}}).
	ddl(sql string) string
	// migrationsTableCount is a query counting the crewtrace_schema_migrations table (0 or 1).
	migrationsTableCount() string
	close() error
}

// migrationTx is the transaction migrations run in.
type migrationTx interface {
	exec(ctx context.Context, sql string) error
	queryInt(ctx context.Context, sql string) (int, error)
	queryStrings(ctx context.Context, sql string, args ...any) ([]string, error)
	runStmts(ctx context.Context, stmts []stmt) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// keyValueDSN matches a libpq key=value connection string ("host=... dbname=...").
var keyValueDSN = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// dialectOf tells which database a DSN names: postgres:// and
// postgresql:// URLs and key=value strings are PostgreSQL; sqlite:,
// file: and anything else (a file path) are SQLite. It returns the
// SQLite location with any sqlite: prefix removed.
func dialectOf(dsn string) (Dialect, string) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"), keyValueDSN.MatchString(dsn):
		return Postgres, dsn
	case strings.HasPrefix(dsn, "sqlite:"):
		return SQLite, strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	}
	return SQLite, dsn
}

// ---- PostgreSQL ----

type pgBackend struct {
	pool    *pgxpool.Pool
	db      *sql.DB
	secrets []string
}

func openPostgres(ctx context.Context, dsn string, cfg config) (*pgBackend, error) {
	secrets := dsnPasswords(dsn)
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: invalid PostgreSQL DSN: %w", redactErr(err, secrets))
	}
	if cfg.password != "" {
		pcfg.ConnConfig.Password = cfg.password
	}
	if pcfg.ConnConfig.Password != "" {
		secrets = append(secrets, pcfg.ConnConfig.Password)
	}
	if cfg.readOnly {
		// The server refuses writes too, whatever a caller sends.
		pcfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pcfg.MaxConns = int32(cfg.maxConns)
	pcfg.MinConns = 0
	pcfg.ConnConfig.ConnectTimeout = cfg.timeout
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", redactErr(err, secrets))
	}
	return &pgBackend{pool: pool, db: stdlib.OpenDBFromPool(pool), secrets: secrets}, nil
}

func (b *pgBackend) reader() *sql.DB { return b.db }

// runTx sends every statement as one pgx batch: one round trip whatever
// the number of statements. A batch without BEGIN runs as one implicit
// transaction (pgx ends the pipeline with a single Sync), so an error in any
// statement rolls back all of them.
func (b *pgBackend) runTx(ctx context.Context, stmts []stmt) error {
	return sendBatch(ctx, b.pool, stmts)
}

type batchSender interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

func sendBatch(ctx context.Context, s batchSender, stmts []stmt) error {
	batch := &pgx.Batch{}
	for _, st := range stmts {
		batch.Queue(st.sql, st.args...)
	}
	return s.SendBatch(ctx, batch).Close()
}

// migrationLock is the pg_advisory_xact_lock key that serialises migrations
// when several collectors start at once ("crewtrace" in ASCII, truncated);
// the sink of schema version 1 takes the same lock.
const migrationLock int64 = 0x63726577747261

func (b *pgBackend) beginMigration(ctx context.Context) (migrationTx, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin migration: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("lock for migration: %w", err)
	}
	return pgMigrationTx{tx}, nil
}

// permanent: SQLSTATE class 22 (data exception: invalid text, a value out
// of range ...), 23 (integrity constraint violation) and 54 (program limit
// exceeded: an index row too large ...) fail the same way on every attempt.
// Everything else — a refused connection, a timeout, a serialization
// failure, a deadlock, a server shutting down — may pass later.
func (b *pgBackend) permanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) >= 2 {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

// unavailable: connection exceptions (08), transaction rollbacks (40),
// insufficient resources (53), operator intervention such as a shutdown
// (57), system errors (58), and errors that never reached the server.
func (b *pgBackend) unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) >= 2 {
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57", "58":
			return true
		}
		return false
	}
	return true
}

func (b *pgBackend) migrationsTableCount() string {
	return "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'crewtrace_schema_migrations' AND schemaname = current_schema()"
}

func (b *pgBackend) ddl(sql string) string {
	return strings.NewReplacer("{{json}}", "jsonb").Replace(sql)
}

func (b *pgBackend) close() error {
	err := b.db.Close()
	b.pool.Close()
	return err
}

type pgMigrationTx struct{ tx pgx.Tx }

func (t pgMigrationTx) exec(ctx context.Context, sql string) error {
	_, err := t.tx.Exec(ctx, sql)
	return err
}

func (t pgMigrationTx) queryInt(ctx context.Context, sql string) (int, error) {
	var v int
	err := t.tx.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

func (t pgMigrationTx) queryStrings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := t.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t pgMigrationTx) runStmts(ctx context.Context, stmts []stmt) error {
	return sendBatch(ctx, t.tx, stmts)
}
func (t pgMigrationTx) commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgMigrationTx) rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// ---- SQLite ----

// sqliteBackend has one writer connection (SQLite allows one writer at a
// time; a pool of writers would only wait on each other's locks) and a pool
// of read-only connections, which WAL lets read while the writer writes.
type sqliteBackend struct {
	writer *sql.DB // nil when read-only
	read   *sql.DB

	// stmts caches the write statements prepared on the writer connection:
	// a batch runs the same few statements hundreds of times, and parsing
	// them once per process rather than once per transaction is what
	// SQLite's own applications do.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// sqliteDSN builds the driver's DSN for a location: a file path, or a
// file: URI to which the parameters are added.
func sqliteDSN(loc string, params url.Values) (string, error) {
	if strings.HasPrefix(loc, "file:") {
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		return loc + sep + params.Encode(), nil
	}
	if loc == "" {
		return "", errors.New("store: empty SQLite path")
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return "", fmt.Errorf("store: SQLite path %q: %w", loc, err)
	}
	// As a URI, so that a path holding '?' or '#' stays a path.
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + params.Encode(), nil
}

func openSQLite(loc string, cfg config) (*sqliteBackend, error) {
	if cfg.readOnly && !strings.HasPrefix(loc, "file:") {
		if _, err := os.Stat(loc); err != nil {
			return nil, fmt.Errorf("store: SQLite store %s: %w", loc, err)
		}
	}
	busy := fmt.Sprint(cfg.busyTimeout.Milliseconds())
	b := &sqliteBackend{}
	if !cfg.readOnly {
		dsn, err := sqliteDSN(loc, url.Values{
			"_busy_timeout": {busy},
			"_journal_mode": {"WAL"},
			// NORMAL in WAL mode: a commit survives a process crash; only an
			// OS crash or power loss can lose the last commits.
			"_synchronous": {"NORMAL"},
			// BEGIN IMMEDIATE takes the write lock at the start, so a write
			// transaction never fails half-way to upgrade a read lock.
			"_txlock": {"immediate"},
		})
		if err != nil {
			return nil, err
		}
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite: %w", err)
		}
		w.SetMaxOpenConns(1)
		b.writer = w
	}
	dsn, err := sqliteDSN(loc, url.Values{"_busy_timeout": {busy}, "_query_only": {"1"}})
	if err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	r.SetMaxOpenConns(cfg.maxConns)
	r.SetMaxIdleConns(cfg.maxConns)
	b.read = r
	return b, nil
}

func (b *sqliteBackend) reader() *sql.DB { return b.read }

func (b *sqliteBackend) runTx(ctx context.Context, stmts []stmt) error {
	if b.writer == nil {
		return ErrReadOnly
	}
	// Prepare before BEGIN: the writer has one connection, which the
	// transaction holds until it ends.
	ps := make([]*sql.Stmt, len(stmts))
	for i, st := range stmts {
		if i > 0 && st.sql == stmts[i-1].sql {
			ps[i] = ps[i-1]
			continue
		}
		var err error
		if ps[i], err = b.prepared(ctx, st.sql); err != nil {
			return err
		}
	}
	tx, err := b.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for i, st := range stmts {
		if _, err := tx.StmtContext(ctx, ps[i]).ExecContext(ctx, st.args...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// maxPrepared bounds the statement cache (statements vary only with the
// number of agents of a record).
const maxPrepared = 256

// prepared returns the writer's prepared statement for query. On the
// writer's single connection, tx.StmtContext reuses it without preparing
// again. It must not be called while a transaction holds that connection.
func (b *sqliteBackend) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	b.stmtMu.Lock()
	defer b.stmtMu.Unlock()
	if p, ok := b.stmts[query]; ok {
		return p, nil
	}
	p, err := b.writer.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if b.stmts == nil {
		b.stmts = map[string]*sql.Stmt{}
	}
	if len(b.stmts) >= maxPrepared {
		// Rare (crews of very many sizes): start over rather than track use.
		for k, old := range b.stmts {
			_ = old.Close()
			delete(b.stmts, k)
		}
	}
	b.stmts[query] = p
	return p, nil
}

// execStmts runs stmts on tx, preparing each distinct statement once (the
// migration transaction).
func execStmts(ctx context.Context, tx *sql.Tx, stmts []stmt) error {
	prepared := map[string]*sql.Stmt{}
	defer func() {
		for _, p := range prepared {
			_ = p.Close()
		}
	}()
	for _, st := range stmts {
		p, ok := prepared[st.sql]
		if !ok {
			var err error
			if p, err = tx.PrepareContext(ctx, st.sql); err != nil {
				return err
			}
			prepared[st.sql] = p
		}
		if _, err := p.ExecContext(ctx, st.args...); err != nil {
			return err
		}
	}
	return nil
}

func (b *sqliteBackend) beginMigration(ctx context.Context) (migrationTx, error) {
	if b.writer == nil {
		return nil, ErrReadOnly
	}
	// BEGIN IMMEDIATE (the writer's _txlock) is the migration lock. While
	// another process turns a new file to WAL, SQLite answers busy without
	// waiting for the busy timeout: try again until ctx ends.
	for {
		tx, err := b.writer.BeginTx(ctx, nil)
		if err == nil {
			return sqliteMigrationTx{tx}, nil
		}
		var e *sqlite.Error
		if !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY {
			return nil, fmt.Errorf("begin migration: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("begin migration: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// permanent: SQLite's constraint (a CHECK, NOT NULL or key violation),
// too-big (a value over SQLITE_MAX_LENGTH) and mismatch errors fail the
// same way on every attempt. Busy, locked, I/O, full-disk and can't-open
// errors may pass later.
func (b *sqliteBackend) permanent(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// unavailable: another process holds the lock (busy, locked), or the
// file cannot be opened, read or grown now.
func (b *sqliteBackend) unavailable(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded)
}

func (b *sqliteBackend) migrationsTableCount() string {
	return "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'crewtrace_schema_migrations'"
}

func (b *sqliteBackend) ddl(sql string) string {
	return strings.NewReplacer("{{json}}", "text").Replace(sql)
}

func (b *sqliteBackend) close() error {
	var errs []error
	if b.writer != nil {
		b.stmtMu.Lock()
		for _, p := range b.stmts {
			errs = append(errs, p.Close())
		}
		b.stmts = nil
		b.stmtMu.Unlock()
		errs = append(errs, b.writer.Close())
	}
	errs = append(errs, b.read.Close())
	return errors.Join(errs...)
}

type sqliteMigrationTx struct{ tx *sql.Tx }

func (t sqliteMigrationTx) exec(ctx context.Context, sql string) error {
	_, err := t.tx.ExecContext(ctx, sql)
	return err
}

func (t sqliteMigrationTx) queryInt(ctx context.Context, sql string) (int, error) {
	var v int
	err := t.tx.QueryRowContext(ctx, sql).Scan(&v)
	return v, err
}

func (t sqliteMigrationTx) queryStrings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t sqliteMigrationTx) runStmts(ctx context.Context, stmts []stmt) error {
	return execStmts(ctx, t.tx, stmts)
}
func (t sqliteMigrationTx) commit(context.Context) error   { return t.tx.Commit() }
func (t sqliteMigrationTx) rollback(context.Context) error { return t.tx.Rollback() }

// ---- password redaction (PostgreSQL DSNs) ----

// redacted is an error whose message has secrets masked; it unwraps to the
// original so errors.As still finds *pgconn.PgError and friends.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redactErr masks every secret in err's message. Secrets shorter than four
// bytes are not masked (they would mask unrelated text and are no secret).
func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		masked = strings.ReplaceAll(masked, s, "xxxxx")
		if esc := url.QueryEscape(s); esc != s {
			masked = strings.ReplaceAll(masked, esc, "xxxxx")
		}
		if esc := url.PathEscape(s); esc != s {
			masked = strings.ReplaceAll(masked, esc, "xxxxx")
		}
	}
	if masked == msg {
		return err
	}
	return &redacted{msg: masked, err: err}
}

// dsnPasswords returns the password a DSN carries, if it can be parsed out
// (URL or key=value form), for redaction.
func dsnPasswords(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	if cfg, err := pgconn.ParseConfig(dsn); err == nil && cfg.Password != "" {
		out = append(out, cfg.Password)
	}
	return out
}
