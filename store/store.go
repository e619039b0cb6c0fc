package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Store is a session store on PostgreSQL or SQLite. Its methods are safe for
// concurrent use.
type Store struct {
	dialect Dialect
	cfg     config
	b       backend
	secrets []string // PostgreSQL passwords, masked in every error

	schemaMu sync.Mutex
	schemaOK atomic.Bool
}

// config holds the options of Open.
type config struct {
	password    string
	maxConns    int
	timeout     time.Duration
	busyTimeout time.Duration
	readOnly    bool
	lazy        bool
	now         func() time.Time
}

// Option configures Open.
type Option func(*config)

// Defaults of the options.
const (
	DefaultMaxConns    = 4
	DefaultTimeout     = 10 * time.Second
	DefaultBusyTimeout = 5 * time.Second
)

// WithPassword sets the PostgreSQL password, replacing any in the DSN (read
// it from the environment rather than writing it into a DSN). Errors never
// show it.
func WithPassword(pw string) Option { return func(c *config) { c.password = pw } }

// WithMaxConns sets the size of the connection pool (PostgreSQL) or of the
// reader pool (SQLite, which always has one writer). Default 4.
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = n } }

// WithTimeout bounds connecting, migrating and each write transaction.
// Default 10 s.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithBusyTimeout sets how long a SQLite statement waits for another
// process's lock before failing with a retryable error. Default 5 s.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// ReadOnly opens the store for reading only (the viewer): nothing is
// migrated or written, and Open fails with ErrSchema if the database holds
// no crewtrace schema of this package's version or newer.
func ReadOnly() Option { return func(c *config) { c.readOnly = true } }

// AllowUnavailable lets Open succeed when the database cannot be reached
// (a collector starting before its database): the schema is then migrated
// before the first write or read, and those return retryable errors until
// the database is up. Errors other than unavailability still fail Open.
func AllowUnavailable() Option { return func(c *config) { c.lazy = true } }

// withClock sets the clock that stamps stored_us (tests).
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Open opens the store a DSN names and migrates its schema:
//
//   - postgres://… or postgresql://… URLs and libpq key=value strings
//     ("host=db dbname=crewtrace") open PostgreSQL, through pgx;
//   - sqlite:PATH, a file: URI, or any other string taken as a file path
//     open SQLite (created if missing; WAL journal, one writer connection,
//     busy timeout), through modernc.org/sqlite (pure Go).
//
// Migrations run in one transaction under a lock, so several processes may
// open one database at once.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{maxConns: DefaultMaxConns, timeout: DefaultTimeout, busyTimeout: DefaultBusyTimeout, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.maxConns < 1:
		return nil, fmt.Errorf("%w: max conns %d, want ≥ 1", ErrInvalidQuery, cfg.maxConns)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("%w: timeout %s, want > 0", ErrInvalidQuery, cfg.timeout)
	case cfg.busyTimeout < 0:
		return nil, fmt.Errorf("%w: busy timeout %s, want ≥ 0", ErrInvalidQuery, cfg.busyTimeout)
	}
	d, loc := dialectOf(dsn)
	s := &Store{dialect: d, cfg: cfg}
	switch d {
	case Postgres:
		b, err := openPostgres(ctx, dsn, cfg)
		if err != nil {
			return nil, err
		}
		s.b, s.secrets = b, b.secrets
	default:
		b, err := openSQLite(loc, cfg)
		if err != nil {
			return nil, err
		}
		s.b = b
	}
	var err error
	if cfg.readOnly {
		err = s.checkSchema(ctx)
	} else {
		err = s.ensureSchema(ctx)
	}
	if err != nil && !(cfg.lazy && !errors.Is(err, ErrSchema) && s.b.unavailable(err)) {
		_ = s.b.close()
		return nil, err
	}
	return s, nil
}

// Dialect returns the database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close closes the store's connections, waiting for those in use.
func (s *Store) Close() error { return s.b.close() }

// redact masks the PostgreSQL password in err's message.
func (s *Store) redact(err error) error { return redactErr(err, s.secrets) }

// ensureSchema migrates the schema once per Store.
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.schemaOK.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaOK.Load() {
		return nil
	}
	if s.cfg.readOnly {
		if err := s.checkSchema(ctx); err != nil {
			return err
		}
		s.schemaOK.Store(true)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	if _, err := s.migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate schema: %w", s.redact(err))
	}
	s.schemaOK.Store(true)
	return nil
}

// checkSchema fails with ErrSchema unless the database is at SchemaVersion
// or newer.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v < SchemaVersion {
		return fmt.Errorf("%w: database at version %d, this reader needs %d (start a collector with a store sink, which migrates it)", ErrSchema, v, SchemaVersion)
	}
	s.schemaOK.Store(true)
	return nil
}

// SchemaVersion returns the version of the schema in the database: 0 when
// it has none, and possibly more than this package's SchemaVersion when a
// newer one migrated it (migrations only add, so it is still read).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	if err := s.b.reader().QueryRowContext(ctx, s.b.migrationsTableCount()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", s.redact(err))
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.b.reader().QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM crewtrace_schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", s.redact(err))
	}
	return v, nil
}
