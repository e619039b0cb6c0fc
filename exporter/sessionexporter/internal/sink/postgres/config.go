package postgres

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Defaults for Config.
const (
	DefaultMaxConns = 4
	DefaultTimeout  = 10 * time.Second
)

// Config configures the postgres sink.
type Config struct {
	// DSN is the connection string, as a URL (postgres://user@host:5432/db?sslmode=require)
	// or as key=value pairs. It may hold the password, best through the
	// collector's ${env:VAR} expansion; it is opaque, so the collector never
	// prints it, and the sink redacts the password from its errors and logs.
	DSN configopaque.String `mapstructure:"dsn"`
	// PasswordEnv names an environment variable holding the password. When
	// set, its value replaces any password in DSN and must not be empty.
	PasswordEnv string `mapstructure:"password_env"`
	// MaxConns is the size of the connection pool.
	MaxConns int32 `mapstructure:"max_conns"`
	// Timeout bounds connecting and each transaction (one per write of a batch).
	Timeout time.Duration `mapstructure:"timeout"`
}

// NewDefaultConfig returns the defaults: no DSN (it must be configured).
func NewDefaultConfig() Config {
	return Config{MaxConns: DefaultMaxConns, Timeout: DefaultTimeout}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the whole section without connecting. Every message names
// its key in full (the collector prefixes only the first line of a joined
// error with the section). It never prints the password.
func (c *Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("postgres.dsn must not be empty"))
	} else if _, err := pgxpool.ParseConfig(string(c.DSN)); err != nil {
		// pgx redacts the password in parse errors; redact again in case
		// its best effort did not recognise it.
		errs = append(errs, fmt.Errorf("postgres.dsn is invalid: %w", redactErr(err, dsnPasswords(string(c.DSN)))))
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
