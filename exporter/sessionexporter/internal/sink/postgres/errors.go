package postgres

import (
	"errors"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// permanent reports whether err means the data can never be written, so a
// retry would fail the same way: a PostgreSQL error of class 22 (data
// exception: invalid text, out-of-range value ...) or 23 (integrity
// constraint violation). Everything else — refused connections, timeouts,
// serialization failures, deadlocks, a server shutting down — may pass on a
// later attempt and is retried.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) >= 2 {
		switch pgErr.Code[:2] {
		case "22", "23":
			return true
		}
	}
	return false
}

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
