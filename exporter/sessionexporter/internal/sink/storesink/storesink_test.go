package storesink

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	_ "modernc.org/sqlite" // the driver the store uses, to hold a lock from outside

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

func TestPostgresConfigValidate(t *testing.T) {
	valid := func() PostgresConfig {
		c := NewDefaultPostgresConfig()
		c.DSN = "postgres://crewtrace@127.0.0.1:5432/sessions?sslmode=verify-full"
		return c
	}
	tests := []struct {
		name    string
		mutate  func(*PostgresConfig)
		wantErr []string
	}{
		{name: "valid url", mutate: func(*PostgresConfig) {}},
		{name: "valid key=value", mutate: func(c *PostgresConfig) { c.DSN = "host=127.0.0.1 port=5432 user=crewtrace dbname=sessions" }},
		{name: "valid password_env", mutate: func(c *PostgresConfig) { c.PasswordEnv = "CREWTRACE_PG_PASSWORD" }},
		{name: "no dsn", mutate: func(c *PostgresConfig) { c.DSN = "" }, wantErr: []string{"postgres.dsn must not be empty"}},
		{
			name:    "unparsable dsn",
			mutate:  func(c *PostgresConfig) { c.DSN = "postgres://crewtrace:s3cr3t-pw@127.0.0.1:notaport/db" },
			wantErr: []string{"postgres.dsn is invalid"},
		},
		{name: "bad password_env", mutate: func(c *PostgresConfig) { c.PasswordEnv = "NOT A NAME" }, wantErr: []string{`postgres.password_env "NOT A NAME"`}},
		{name: "zero max_conns", mutate: func(c *PostgresConfig) { c.MaxConns = 0 }, wantErr: []string{"postgres.max_conns must be at least 1, got 0"}},
		{name: "zero timeout", mutate: func(c *PostgresConfig) { c.Timeout = 0 }, wantErr: []string{"postgres.timeout must be positive, got 0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "s3cr3t-pw", "the password must be redacted")
		})
	}
}

func TestSQLiteConfigValidate(t *testing.T) {
	good := NewDefaultSQLiteConfig()
	assert.NoError(t, good.Validate())
	bad := SQLiteConfig{Timeout: -1, BusyTimeout: -1, Mode: 0o1600, DirectoryMode: 750}
	err := bad.Validate()
	for _, w := range []string{"sqlite.path must not be empty", "sqlite.timeout must be positive", "sqlite.busy_timeout must not be negative",
		"sqlite.mode must be permission bits", "sqlite.directory_mode must be permission bits"} {
		assert.ErrorContains(t, err, w)
	}
}

// A record replaces the stored one of its (session, trace) only with a
// higher revision: stale revisions and replays change nothing.
func TestStoreSinksKeepTheHighestRevision(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			mk, dsn := d.db(t)
			s := started(t, mk(nil))
			ctx := context.Background()
			require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 0), rec("s-2", 0))))
			require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 2, func(r *record.Record) { r.Name = "second" }))))
			require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 1, func(r *record.Record) { r.Name = "stale" }))))
			require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 0), rec("s-2", 0), rec("s-1", 2)))) // a replay

			st := reader(t, dsn)
			assert.Equal(t, 2, stored(t, st, "s-1"))
			assert.Equal(t, 0, stored(t, st, "s-2"))
			got, err := st.Session(ctx, "s-1")
			require.NoError(t, err)
			assert.Equal(t, "second", got.Name)
			n, err := st.CountSessions(ctx, store.Filter{})
			require.NoError(t, err)
			assert.Equal(t, int64(2), n, "no duplicate")
		})
	}
}

// Many writers at once (the records queue's consumers): every session ends
// at its highest revision, with that revision's agents.
func TestStoreSinksConcurrentWriters(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			mk, dsn := d.db(t)
			s := started(t, mk(nil))
			const sessions, revisions, writers = 40, 5, 8
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < sessions*revisions; i += writers {
						id, rev := fmt.Sprintf("s-%03d", i%sessions), i/sessions
						assert.NoError(t, s.Write(context.Background(), enc(t, rec(id, rev, func(r *record.Record) {
							r.Agents[0].Name = fmt.Sprintf("rev-%d", rev)
						}))))
					}
				}()
			}
			wg.Wait()
			st := reader(t, dsn)
			for i := range sessions {
				got, err := st.Session(context.Background(), fmt.Sprintf("s-%03d", i))
				require.NoError(t, err)
				assert.Equal(t, revisions-1, got.Traces[0].Revision)
				require.Len(t, got.Agents, 1)
				assert.Equal(t, fmt.Sprintf("rev-%d", revisions-1), got.Agents[0].Name)
			}
		})
	}
}

// A record no retry can write is refused alone — a *sink.Rejected naming
// it, permanent — and the rest of its batch is written. NUL bytes and long
// values are not such records: the store writes them (NULs as U+FFFD,
// indexed text bounded).
func TestStoreSinksRefuseABadRecordAlone(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			mk, dsn := d.db(t)
			s := started(t, mk(nil))
			long := strings.Repeat("x", 100_000)
			batch := enc(t,
				rec("good-1", 0),
				rec("nul-in-name", 0, func(r *record.Record) { r.Name = "bad\x00name"; r.Agents[0].Name = "a\x00b" }),
				rec(long, 0, func(r *record.Record) { r.Name, r.Agents[0].Name = long, long }),
			)
			batch = append(batch, record.Encoded{SessionID: "not-json", JSON: []byte("{")})
			err := s.Write(context.Background(), batch)
			require.Error(t, err)
			assert.True(t, consumererror.IsPermanent(err), "no retry fixes it: %v", err)
			var rej *sink.Rejected
			require.ErrorAs(t, err, &rej)
			assert.Equal(t, []string{"not-json"}, rej.SessionIDs, "only the bad record")

			st := reader(t, dsn)
			assert.Equal(t, 0, stored(t, st, "good-1"))
			got, err := st.Session(context.Background(), "nul-in-name")
			require.NoError(t, err, "NUL bytes are stored, not refused")
			assert.Equal(t, "bad\uFFFDname", got.Name)
			got, err = st.Session(context.Background(), long)
			require.NoError(t, err, "a 100 KB session ID is stored and found by its full ID")
			assert.Equal(t, long, got.Name)
		})
	}
}

// SQLite's database file and the -wal and -shm files SQLite creates beside
// it are for the collector's user only; the directories the sink creates
// are 0750.
func TestSQLiteSinkCreatesPrivateFiles(t *testing.T) {
	cfg := sqliteConfig(t)
	s := started(t, NewSQLite(cfg, nil))
	require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
	for _, p := range []string{cfg.Path, cfg.Path + "-wal", cfg.Path + "-shm"} {
		st, err := os.Stat(p)
		require.NoError(t, err, p)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
	}
	st, err := os.Stat(filepath.Dir(cfg.Path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), st.Mode().Perm())
}

// Another process holding the SQLite database (a write lock past
// busy_timeout) is a retryable error; the retry writes.
func TestSQLiteSinkBusyIsRetryable(t *testing.T) {
	cfg := sqliteConfig(t)
	cfg.BusyTimeout = 50 * time.Millisecond
	s := started(t, NewSQLite(cfg, nil))
	ctx := context.Background()
	require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 0))))

	other, err := sql.Open("sqlite", cfg.Path)
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	err = s.Write(ctx, enc(t, rec("s-2", 0)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "busy is retried: %v", err)

	_, err = conn.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, enc(t, rec("s-2", 0))))
	assert.Equal(t, 0, stored(t, reader(t, "sqlite:"+cfg.Path), "s-2"))
}

func TestPostgresPasswordFromEnvironment(t *testing.T) {
	db := srv.NewDatabase(t)
	t.Setenv("CREWTRACE_TEST_PG_PASSWORD", srv.Password)
	cfg := pgConfig(db)
	cfg.DSN = configopaque.String(srv.DSNWithoutPassword(db))
	cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
	s := started(t, NewPostgres(cfg, nil))
	require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
	assert.Equal(t, 0, stored(t, reader(t, srv.DSN(db)), "s-1"))
}

func TestPostgresPasswordEnvUnsetFailsStart(t *testing.T) {
	cfg := pgConfig("postgres")
	cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD_UNSET"
	s := NewPostgres(cfg, nil)
	err := s.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CREWTRACE_TEST_PG_PASSWORD_UNSET")
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestPostgresPasswordNeverInErrorsOrLogs(t *testing.T) {
	db := srv.NewDatabase(t)
	const wrong = "wrong-password-7f3a"
	line := func(e observer.LoggedEntry) string { return e.Message + " " + fmt.Sprint(e.ContextMap()) }

	t.Run("wrong password fails Start", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		t.Setenv("CREWTRACE_TEST_PG_PASSWORD", wrong)
		cfg := pgConfig(db)
		cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
		s := NewPostgres(cfg, zap.New(core))
		err := s.Start(context.Background(), componenttest.NewNopHost())
		require.Error(t, err, "an authentication failure is not transient")
		assert.Contains(t, err.Error(), "password authentication failed")
		assert.NotContains(t, err.Error(), wrong)
		assert.NotContains(t, err.Error(), srv.Password)
		for _, e := range logs.All() {
			assert.NotContains(t, line(e), wrong)
		}
		require.NoError(t, s.Shutdown(context.Background()))
	})
	t.Run("unreachable database, password in the DSN", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		cfg := pgConfig(db)
		cfg.DSN = configopaque.String("postgres://crewtrace:" + wrong + "@127.0.0.1:1/" + db + "?sslmode=disable&connect_timeout=2")
		s := NewPostgres(cfg, zap.New(core))
		require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
		err := s.Write(context.Background(), enc(t, rec("s-1", 0)))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), wrong)
		require.NotZero(t, logs.Len())
		for _, e := range logs.All() {
			assert.NotContains(t, line(e), wrong)
		}
		require.NoError(t, s.Shutdown(context.Background()))
	})
}

// A database that is down is retryable, and the password is not in the
// error; once it is back the same batch is written, once.
func TestPostgresDownThenUp(t *testing.T) {
	db := srv.NewDatabase(t)
	s := started(t, NewPostgres(pgConfig(db), nil))
	ctx := context.Background()
	require.NoError(t, s.Write(ctx, enc(t, rec("before", 0))))

	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() }) // the other tests need the server
	batch := append(enc(t, rec("during", 0), rec("before", 1)), record.Encoded{SessionID: "not-json", JSON: []byte("{")})
	err := s.Write(ctx, batch)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "a database that is down must be retried: %v", err)
	assert.NotContains(t, err.Error(), srv.Password)

	require.NoError(t, srv.Start())
	err = s.Write(ctx, batch) // the retry, as exporterhelper makes it
	var rej *sink.Rejected
	require.ErrorAs(t, err, &rej, "the bad record is refused once the batch can be settled, not per attempt")
	assert.Equal(t, []string{"not-json"}, rej.SessionIDs)
	st := reader(t, srv.DSN(db))
	assert.Equal(t, 1, stored(t, st, "before"))
	assert.Equal(t, 0, stored(t, st, "during"))
}

// A collector may start before its database: Start succeeds with a
// warning, writes are retryable until the server is up, and the schema is
// migrated before the first write that reaches it.
func TestPostgresStartWithDatabaseDownMigratesOnFirstWrite(t *testing.T) {
	db := srv.NewDatabase(t)
	core, logs := observer.New(zapcore.InfoLevel)
	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() })

	s := NewPostgres(pgConfig(db), zap.New(core))
	require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()), "an unreachable database must not fail Start")
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	assert.Equal(t, 1, logs.FilterMessageSnippet("not reachable at start").Len())
	for _, e := range logs.All() {
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), srv.Password)
	}
	err := s.Write(context.Background(), enc(t, rec("s-1", 0)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))

	require.NoError(t, srv.Start())
	require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
	assert.Equal(t, 0, stored(t, reader(t, srv.DSN(db)), "s-1"))
}

// Several collectors starting at once against an empty database migrate it
// once; a sink started later on the migrated database changes nothing.
func TestStoreSinksMigrateOnce(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			mk, dsn := d.db(t)
			sinks := []*Sink{mk(nil), mk(nil), mk(nil), mk(nil)}
			var wg sync.WaitGroup
			for _, s := range sinks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
				}()
			}
			wg.Wait()
			for _, s := range sinks {
				require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
				require.NoError(t, s.Shutdown(context.Background()))
			}
			st := reader(t, dsn)
			v, err := st.SchemaVersion(context.Background())
			require.NoError(t, err)
			assert.Positive(t, v)
			assert.Equal(t, 0, stored(t, st, "s-1"))
		})
	}
}

// A migration that cannot pass on retry (a table of ours that is not what
// the schema says) fails Start.
func TestPostgresStartFailsOnConflictingSchema(t *testing.T) {
	db := srv.NewDatabase(t)
	pgExec(t, srv.DSN(db))("CREATE TABLE crewtrace_traces (id int)")
	s := NewPostgres(pgConfig(db), nil)
	err := s.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "postgres sink")
	require.NoError(t, s.Shutdown(context.Background()))
}
