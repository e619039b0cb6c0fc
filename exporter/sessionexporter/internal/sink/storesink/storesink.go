// Package storesink holds the session exporter's store sinks: `postgres`
// and `sqlite`, both writing through the crewtrace store
// (github.com/crewtrace/crewtrace/store) — one schema, one set of
// migrations and queries, two dialects — which `crewtrace ui` and
// `crewtrace sessions` read.
//
// The store keeps a row per (session, trace) at its highest revision and a
// session summary recomputed in the same transaction, so replays and
// retries never duplicate; it bounds indexed text and replaces NUL bytes
// before writing. This package maps its answers onto the sink error
// contract (package sink):
//
//	store.Write returns                     the sink returns
//	nil                                     nil
//	*store.Rejected (some records refused,  a *sink.Rejected naming them, permanent: the exporter
//	the rest of the batch written)          drops only those and counts them (kind=rejected)
//	another store.ErrPermanent              permanent
//	anything else (database down, busy,     retryable: exporterhelper retries the batch, which is
//	timeout)                                safe (writes are idempotent)
package storesink // import "github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/storesink"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// Defaults of the sections.
const (
	DefaultMaxConns    = store.DefaultMaxConns
	DefaultTimeout     = store.DefaultTimeout
	DefaultBusyTimeout = store.DefaultBusyTimeout
	DefaultSQLitePath  = "sessions.db"
)

// PostgresConfig configures the postgres sink: the store on PostgreSQL.
type PostgresConfig struct {
	// DSN is the connection string, as a URL
	// (postgres://user@host:5432/db?sslmode=verify-full) or as key=value
	// pairs. It may hold the password, best through the collector's
	// ${env:VAR} expansion; it is opaque, so the collector never prints it,
	// and the store masks the password in every error.
	DSN configopaque.String `mapstructure:"dsn"`
	// PasswordEnv names an environment variable holding the password. When
	// set, its value replaces any password in DSN and must not be empty.
	PasswordEnv string `mapstructure:"password_env"`
	// MaxConns is the size of the connection pool.
	MaxConns int `mapstructure:"max_conns"`
	// Timeout bounds connecting, the migration and each write transaction.
	Timeout time.Duration `mapstructure:"timeout"`

	_ struct{}
}

// NewDefaultPostgresConfig returns the defaults: no DSN (it must be configured).
func NewDefaultPostgresConfig() PostgresConfig {
	return PostgresConfig{MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the whole section without connecting. Every message names
// its key in full (the collector prefixes only the first line of a joined
// error with the section). It never prints the password: pgx redacts it in
// parse errors.
func (c *PostgresConfig) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("postgres.dsn must not be empty"))
	} else if _, err := pgxpool.ParseConfig(string(c.DSN)); err != nil {
		errs = append(errs, fmt.Errorf("postgres.dsn is invalid: %w", err))
	}
	if c.PasswordEnv != "" && !envName.MatchString(c.PasswordEnv) {
		errs = append(errs, fmt.Errorf("postgres.password_env %q is not an environment variable name", c.PasswordEnv))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("postgres.max_conns must be at least 1, got %d", c.MaxConns))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("postgres.timeout must be positive, got %s", c.Timeout))
	}
	return errors.Join(errs...)
}

// SQLiteConfig configures the sqlite sink: the store embedded in a file,
// nothing to set up.
type SQLiteConfig struct {
	// Path is the database file, created with its directory if missing.
	Path string `mapstructure:"path"`
	// Timeout bounds opening, the migration and each write transaction.
	Timeout time.Duration `mapstructure:"timeout"`
	// BusyTimeout is how long a write waits for another process holding
	// the database (a `crewtrace` command migrating it, say) before it
	// fails with a retryable error.
	BusyTimeout time.Duration `mapstructure:"busy_timeout"`
	// Mode is the permission of the database file, set whenever the sink
	// opens it (default 0600); SQLite gives its -wal and -shm files the same.
	Mode sink.Permissions `mapstructure:"mode"`
	// DirectoryMode is the permission of the directories the sink creates
	// (default 0750); existing directories are left as they are.
	DirectoryMode sink.Permissions `mapstructure:"directory_mode"`

	_ struct{}
}

// NewDefaultSQLiteConfig returns the defaults.
func NewDefaultSQLiteConfig() SQLiteConfig {
	return SQLiteConfig{
		Path: DefaultSQLitePath, Timeout: DefaultTimeout, BusyTimeout: DefaultBusyTimeout,
		Mode: sink.DefaultFileMode, DirectoryMode: sink.DefaultDirectoryMode,
	}
}

// Validate checks the whole section.
func (c *SQLiteConfig) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("sqlite.path must not be empty"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("sqlite.timeout must be positive, got %s", c.Timeout))
	}
	if c.BusyTimeout < 0 {
		errs = append(errs, fmt.Errorf("sqlite.busy_timeout must not be negative, got %s", c.BusyTimeout))
	}
	if c.Mode&^0o777 != 0 {
		errs = append(errs, fmt.Errorf("sqlite.mode must be permission bits in octal such as 0600, got %s", c.Mode))
	}
	if c.DirectoryMode&^0o777 != 0 {
		errs = append(errs, fmt.Errorf("sqlite.directory_mode must be permission bits in octal such as 0750, got %s", c.DirectoryMode))
	}
	return errors.Join(errs...)
}

// Sink writes session records to the store. Its methods are safe for
// concurrent use once Start has returned.
type Sink struct {
	name   string // postgres | sqlite, for messages
	open   func(ctx context.Context) (*store.Store, error)
	logger *zap.Logger
	st     *store.Store
}

// NewPostgres returns the postgres sink for cfg (which must be valid); it
// connects on Start.
func NewPostgres(cfg PostgresConfig, logger *zap.Logger) *Sink {
	s := &Sink{name: "postgres", logger: orNop(logger)}
	s.open = func(ctx context.Context) (*store.Store, error) {
		opts := []store.Option{store.WithMaxConns(cfg.MaxConns), store.WithTimeout(cfg.Timeout), store.AllowUnavailable()}
		if cfg.PasswordEnv != "" {
			pw := os.Getenv(cfg.PasswordEnv)
			if pw == "" {
				return nil, fmt.Errorf("environment variable %s (password_env) is not set", cfg.PasswordEnv)
			}
			opts = append(opts, store.WithPassword(pw))
		}
		return store.Open(ctx, string(cfg.DSN), opts...)
	}
	return s
}

// NewSQLite returns the sqlite sink for cfg (which must be valid); it opens
// the database on Start.
func NewSQLite(cfg SQLiteConfig, logger *zap.Logger) *Sink {
	s := &Sink{name: "sqlite", logger: orNop(logger)}
	s.open = func(ctx context.Context) (*store.Store, error) {
		if err := createPrivate(cfg.Path, modeOr(cfg.Mode, sink.DefaultFileMode), modeOr(cfg.DirectoryMode, sink.DefaultDirectoryMode)); err != nil {
			return nil, err
		}
		return store.Open(ctx, "sqlite:"+cfg.Path, store.WithTimeout(cfg.Timeout), store.WithBusyTimeout(cfg.BusyTimeout))
	}
	return s
}

func orNop(l *zap.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return l
}

func modeOr(p, def sink.Permissions) os.FileMode {
	if p == 0 {
		return os.FileMode(def)
	}
	return os.FileMode(p)
}

// createPrivate creates the database file's directory (dirMode) and the
// file itself (mode: an empty file is an empty SQLite database), or sets
// the mode of an existing one, before SQLite opens it — SQLite would create
// it 0644, and gives its -wal and -shm files the database file's mode.
func createPrivate(path string, mode, dirMode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.Mode().Perm() != mode {
		err = f.Chmod(mode)
	}
	if err != nil {
		return fmt.Errorf("set the mode of %s: %w", path, err)
	}
	return nil
}

// Start opens the store and migrates its schema. A PostgreSQL server that
// cannot be reached yet does not fail Start: the schema is migrated before
// the first write, which is retried until the server is up. Any other
// error (a bad password_env, permissions, a conflicting table) fails Start.
func (s *Sink) Start(ctx context.Context, _ component.Host) error {
	st, err := s.open(ctx)
	if err != nil {
		return fmt.Errorf("%s sink: %w", s.name, err)
	}
	s.st = st
	if _, err := st.SchemaVersion(ctx); err != nil {
		s.logger.Warn("Session store not reachable at start; its schema is migrated before the first write",
			zap.String("sink", s.name), zap.Error(err))
	}
	return nil
}

// Write stores the records in one transaction; see the package doc for
// what its errors mean.
func (s *Sink) Write(ctx context.Context, recs []record.Encoded) error {
	if s.st == nil {
		return consumererror.NewPermanent(fmt.Errorf("%s sink: not started", s.name))
	}
	err := s.st.Write(ctx, recs)
	var rejected *store.Rejected
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rejected):
		return consumererror.NewPermanent(&sink.Rejected{SessionIDs: rejected.SessionIDs(), Err: fmt.Errorf("%s sink: %w", s.name, err)})
	case errors.Is(err, store.ErrPermanent):
		return consumererror.NewPermanent(fmt.Errorf("%s sink: %w", s.name, err))
	default:
		return fmt.Errorf("%s sink: %w", s.name, err)
	}
}

// Shutdown closes the store's connections.
func (s *Sink) Shutdown(context.Context) error {
	if s.st == nil {
		return nil
	}
	err := s.st.Close()
	s.st = nil
	if err != nil {
		return fmt.Errorf("%s sink: close: %w", s.name, err)
	}
	return nil
}
