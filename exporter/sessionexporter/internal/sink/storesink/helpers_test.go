package storesink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/pgtest"
)

// srv is the package's PostgreSQL server (the store's pgtest: a real,
// throw-away server from the installed binaries); every test gets its own
// database.
var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// base is the start of the time line of the test records.
var base = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// rec builds a valid record of one trace; opts adjust it.
func rec(id string, revision int, opts ...func(*record.Record)) *record.Record {
	r := &record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     id,
		Revision:      revision,
		TraceID:       fmt.Sprintf("%032x", len(id)),
		Name:          "research-crew",
		Tags:          []string{"test"},
		StartTime:     base,
		EndTime:       base.Add(2 * time.Second),
		DurationMs:    2000,
		EndState:      "Success",
		EndReason:     "done",
		Complete:      true,
		FlushReason:   record.FlushGracePeriod,
		EmittedAt:     base.Add(time.Minute),
		Resource:      map[string]any{"service.name": "crew"},
		SpanCount:     4,
		Counts:        record.Counts{Agents: 1, LLMCalls: 1, ToolCalls: 1},
		Tokens:        record.Tokens{Input: 10, Output: 5, Total: 15},
		Agents: []record.Agent{{
			ID: "00000000-0000-4000-8000-000000000001", Name: "researcher", SpanCount: 3,
			LLMCalls: 1, ToolCalls: 1, Tokens: record.Tokens{Input: 10, Output: 5, Total: 15},
		}},
		Events: []record.Event{},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func enc(tb testing.TB, rs ...*record.Record) []record.Encoded {
	tb.Helper()
	out := make([]record.Encoded, len(rs))
	for i, r := range rs {
		e, err := record.Encode(r)
		require.NoError(tb, err)
		out[i] = e
	}
	return out
}

// pgConfig is a valid postgres section for database db, password in the DSN.
func pgConfig(db string) PostgresConfig {
	cfg := NewDefaultPostgresConfig()
	cfg.DSN = configopaque.String(srv.DSN(db))
	cfg.MaxConns = 8
	cfg.Timeout = 5 * time.Second
	return cfg
}

// sqliteConfig is a valid sqlite section in a directory of the test.
func sqliteConfig(t testing.TB) SQLiteConfig {
	cfg := NewDefaultSQLiteConfig()
	cfg.Path = filepath.Join(t.TempDir(), "data", "sessions.db")
	return cfg
}

// dialect is one store sink under test and how to read what it stored.
type dialect struct {
	name string
	// db makes a fresh database and returns how to make sinks on it and
	// the DSN to read it.
	db func(t *testing.T) (mk func(*zap.Logger) *Sink, dsn string)
}

func dialects() []dialect {
	return []dialect{
		{"postgres", func(t *testing.T) (func(*zap.Logger) *Sink, string) {
			db := srv.NewDatabase(t)
			return func(l *zap.Logger) *Sink { return NewPostgres(pgConfig(db), l) }, srv.DSN(db)
		}},
		{"sqlite", func(t *testing.T) (func(*zap.Logger) *Sink, string) {
			cfg := sqliteConfig(t)
			return func(l *zap.Logger) *Sink { return NewSQLite(cfg, l) }, "sqlite:" + cfg.Path
		}},
	}
}

// pgExec runs statements on a PostgreSQL database (to set up a test).
func pgExec(tb testing.TB, dsn string) func(sql string) {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return func(sql string) {
		_, err := pool.Exec(context.Background(), sql)
		require.NoError(tb, err, sql)
	}
}

// started starts s and shuts it down at the end of the test.
func started(tb testing.TB, s *Sink) *Sink {
	tb.Helper()
	require.NoError(tb, s.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, s.Shutdown(context.Background())) })
	return s
}

// reader opens the store at dsn for reading.
func reader(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), dsn, store.ReadOnly())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// stored returns the revision stored for a session's only trace, or -1.
func stored(tb testing.TB, st *store.Store, id string) int {
	tb.Helper()
	s, err := st.Session(context.Background(), id)
	if err != nil {
		require.ErrorIs(tb, err, store.ErrNotFound)
		return -1
	}
	require.Len(tb, s.Traces, 1)
	return s.Traces[0].Revision
}
