package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store/pgtest"
)

// srv is the package's PostgreSQL server; every test gets its own database.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	code := pgtest.Main(m, &srv)
	cleanupBench()
	os.Exit(code)
}

// base is the start of the known time line used by test records.
var base = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// env is one store under test and what a test needs around it.
type env struct {
	s       *Store
	dialect Dialect
	dsn     string
	// raw is a connection of the test's own, for checks behind the API.
	raw *sql.DB
}

// forEachDialect runs f as a subtest on a fresh PostgreSQL database and on
// a fresh SQLite file: the same suite, the same expectations.
func forEachDialect(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range []Dialect{Postgres, SQLite} {
		t.Run(string(d), func(t *testing.T) {
			e := newEnv(t, d)
			f(t, e)
		})
	}
}

// newEnv opens a store of dialect d on an empty database.
func newEnv(tb testing.TB, d Dialect, opts ...Option) *env {
	tb.Helper()
	dsn := emptyDSN(tb, d)
	opts = append([]Option{WithTimeout(10 * time.Second)}, opts...)
	s, err := Open(context.Background(), dsn, opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	return &env{s: s, dialect: d, dsn: dsn, raw: s.b.reader()}
}

// emptyDSN returns the DSN of a new, empty database of dialect d.
func emptyDSN(tb testing.TB, d Dialect) string {
	tb.Helper()
	if d == Postgres {
		return srv.DSN(srv.NewDatabase(tb))
	}
	return filepath.Join(tb.TempDir(), "sessions.db")
}

// rec builds a valid record of session id, trace trace at revision rev;
// opts adjust it.
func rec(id, trace string, rev int, opts ...func(*record.Record)) *record.Record {
	r := &record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     id,
		Revision:      rev,
		TraceID:       trace,
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

// enc encodes records.
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

// withJSON returns e with extra top-level JSON fields merged in (fields
// the record package may not define yet, such as events_refused).
func withJSON(tb testing.TB, e record.Encoded, fields string) record.Encoded {
	tb.Helper()
	j := strings.TrimSuffix(string(e.JSON), "}") + "," + strings.TrimPrefix(fields, "{")
	e.JSON = []byte(j)
	return e
}

// write writes records and requires success.
func (e *env) write(tb testing.TB, rs ...*record.Record) {
	tb.Helper()
	require.NoError(tb, e.s.Write(context.Background(), enc(tb, rs...)))
}

// one scans a single value with the test's own connection.
func one[T any](tb testing.TB, e *env, query string, args ...any) T {
	tb.Helper()
	var v T
	require.NoError(tb, e.raw.QueryRowContext(context.Background(), query, args...).Scan(&v), query)
	return v
}

// session reads a session and requires it.
func (e *env) session(tb testing.TB, id string) *Session {
	tb.Helper()
	s, err := e.s.Session(context.Background(), id)
	require.NoError(tb, err)
	return s
}

func traceID(n int) string { return fmt.Sprintf("%032x", n) }
