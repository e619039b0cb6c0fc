package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/postgres/pgtest"
	"github.com/crewtrace/crewtrace/record"
)

// srv is the package's PostgreSQL server; every test gets its own database.
var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// base is the start of the known time line used by test records.
var base = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// rec builds a valid record; opts adjust it.
func rec(id string, revision int, opts ...func(*record.Record)) *record.Record {
	r := &record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     id,
		Revision:      revision,
		TraceID:       fmt.Sprintf("%032x", len(id)*1000+revision),
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

// testConfig is a valid config for database db, password in the DSN.
func testConfig(db string) Config {
	cfg := NewDefaultConfig()
	cfg.DSN = configopaque.String(srv.DSN(db))
	cfg.MaxConns = 8
	cfg.Timeout = 5 * time.Second
	return cfg
}

// newDB creates a database for the test and returns a pool on it for checks.
func newDB(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	db := srv.NewDatabase(tb)
	pool, err := pgxpool.New(context.Background(), srv.DSN(db))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return db, pool
}

// startSink starts a sink on cfg and shuts it down at the end of the test.
func startSink(tb testing.TB, cfg Config, logger *zap.Logger) *Sink {
	tb.Helper()
	require.NoError(tb, cfg.Validate())
	s := New(cfg, logger)
	require.NoError(tb, s.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, s.Shutdown(context.Background())) })
	return s
}

// one scans a single value.
func one[T any](tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) T {
	tb.Helper()
	var v T
	require.NoError(tb, pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

// rows collects a query's rows as maps by column name.
func rows(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) []map[string]any {
	tb.Helper()
	rs, err := pool.Query(context.Background(), sql, args...)
	require.NoError(tb, err)
	out, err := pgx.CollectRows(rs, pgx.RowToMap)
	require.NoError(tb, err, sql)
	return out
}
