package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The classification is checked against errors the real databases raise.
func TestDataErrorsArePermanentAndOutagesAreNot(t *testing.T) {
	ctx := context.Background()
	t.Run(string(Postgres), func(t *testing.T) {
		e := newEnv(t, Postgres)
		db := e.raw
		_, err := db.ExecContext(ctx, "CREATE TABLE t (v text CHECK (v <> 'bad')); CREATE INDEX ON t (v)")
		require.NoError(t, err)
		random := make([]byte, 8<<10)
		_, _ = rand.Read(random)
		permanent := map[string]func() error{
			"22012 division by zero": func() error { _, err := db.ExecContext(ctx, "SELECT 1/0"); return err },
			"22021 NUL in text": func() error {
				_, err := db.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", "a\x00b")
				return err
			},
			"22P05 NUL escape in jsonb": func() error { _, err := db.ExecContext(ctx, `SELECT '"\u0000"'::jsonb`); return err },
			"23514 check violation": func() error {
				_, err := db.ExecContext(ctx, "INSERT INTO t (v) VALUES ('bad')")
				return err
			},
			"54000 index row size": func() error {
				_, err := db.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", hex.EncodeToString(random))
				return err
			},
		}
		for name, f := range permanent {
			err := f()
			require.Error(t, err, name)
			assert.True(t, e.s.b.permanent(err), "%s: %v", name, err)
		}
		// Not data errors: a server that is not there, a cancelled statement.
		closed := closedPort(t)
		bad, err := Open(ctx, fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?connect_timeout=2", closed), AllowUnavailable())
		require.NoError(t, err, "AllowUnavailable opens without the database")
		defer bad.Close()
		err = bad.Write(ctx, enc(t, rec("s", traceID(1), 0)))
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrPermanent)
		_, err = Open(ctx, fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?connect_timeout=2", closed))
		assert.Error(t, err, "without AllowUnavailable, Open needs the database")
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = db.ExecContext(cctx, "SELECT pg_sleep(5)")
		require.Error(t, err)
		assert.False(t, e.s.b.permanent(err), "a timeout: %v", err)
	})
	t.Run(string(SQLite), func(t *testing.T) {
		e := newEnv(t, SQLite)
		w := e.s.b.(*sqliteBackend).writer
		_, err := w.ExecContext(ctx, "CREATE TABLE t (v text PRIMARY KEY CHECK (v <> 'bad'))")
		require.NoError(t, err)
		permanent := map[string]func() error{
			"constraint check": func() error { _, err := w.ExecContext(ctx, "INSERT INTO t VALUES ('bad')"); return err },
			"constraint primary key": func() error {
				_, err := w.ExecContext(ctx, "INSERT INTO t VALUES ('x'), ('x')")
				return err
			},
			"too big": func() error { _, err := w.ExecContext(ctx, "SELECT zeroblob(2000000000)"); return err },
		}
		for name, f := range permanent {
			err := f()
			require.Error(t, err, name)
			assert.True(t, e.s.b.permanent(err), "%s: %v", name, err)
		}
		dir := t.TempDir()
		_, err = Open(ctx, filepath.Join(dir, "missing-dir", "x.db"))
		require.Error(t, err)
		assert.False(t, e.s.b.permanent(err), "cannot open: %v", err)
	})
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func TestPasswordNeverInErrors(t *testing.T) {
	ctx := context.Background()
	const pw = "s3cr3t-Pa55word"
	closed := closedPort(t)
	_, err := Open(ctx, fmt.Sprintf("postgres://crewtrace:%s@127.0.0.1:%d/db?connect_timeout=1", pw, closed))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	_, err = Open(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=crewtrace dbname=db connect_timeout=1", closed), WithPassword(pw))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	_, err = Open(ctx, "postgres://crewtrace:"+pw+"@127.0.0.1:bad-port/db")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	// A wrong password against the real server.
	dsn := srv.DSN(srv.NewDatabase(t))
	wrong := strings.Replace(dsn, srv.Password, pw, 1)
	_, err = Open(ctx, wrong)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	assert.False(t, errors.Is(err, ErrPermanent))
}

func TestDSNFormsChooseTheDialect(t *testing.T) {
	for dsn, want := range map[string]struct {
		d   Dialect
		loc string
	}{
		"postgres://u@h:5432/db?sslmode=verify-full": {Postgres, ""},
		"postgresql://u@h/db":                        {Postgres, ""},
		"host=db dbname=crewtrace user=u":            {Postgres, ""},
		" dbname=crewtrace":                          {Postgres, ""},
		"sqlite:/var/lib/crewtrace/sessions.db":      {SQLite, "/var/lib/crewtrace/sessions.db"},
		"sqlite:///var/lib/x.db":                     {SQLite, "/var/lib/x.db"},
		"sqlite:file:x.db?mode=ro":                   {SQLite, "file:x.db?mode=ro"},
		"file:sessions.db":                           {SQLite, "file:sessions.db"},
		"sessions.db":                                {SQLite, "sessions.db"},
		"./data/with=equals.db":                      {SQLite, "./data/with=equals.db"},
	} {
		d, loc := dialectOf(dsn)
		assert.Equal(t, want.d, d, dsn)
		if want.d == SQLite {
			assert.Equal(t, want.loc, loc, dsn)
		}
	}
	// A path with URI-special characters stays that path.
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "odd?dir#x")
	s, err := Open(ctx, "sqlite:"+filepath.Join(dir, "s.db"))
	require.Error(t, err, "the directory does not exist, so the name was not cut at '?'")
	_ = s
	p := filepath.Join(t.TempDir(), "a?b#c.db")
	s, err = Open(ctx, p)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.FileExists(t, p)
}
