package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/postgres"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/semconv"
)

// TestSessionExporterIntoPostgres runs the whole exporter — factory, config,
// assembler, records queue, retry — with the postgres section: spans in, rows out,
// and a late span revising a stored session.
func TestSessionExporterIntoPostgres(t *testing.T) {
	srv := postgres.SharedServer()
	db := srv.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), srv.DSN(db))
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	t.Setenv("CREWTRACE_TEST_PG_PASSWORD", srv.Password)
	f := sessionexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
	cfg.GracePeriod = 20 * time.Millisecond
	cfg.SessionTimeout = time.Minute
	pg := cfg.Postgres.GetOrInsertDefault()
	pg.DSN = configopaque.String(srv.DSNWithoutPassword(db))
	pg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
	require.NoError(t, confmap.Validate(cfg))

	ctx := context.Background()
	exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	shutdown := func() { require.NoError(t, exp.Shutdown(ctx)) }
	defer func() {
		if shutdown != nil {
			shutdown()
		}
	}()

	// The golden session one span at a time, out of order; 20 generated ones whole.
	for _, part := range testgen.Shuffle(testgen.Split(testgen.Golden()), 7) {
		require.NoError(t, exp.ConsumeTraces(ctx, part))
	}
	for i := 1; i <= 20; i++ {
		require.NoError(t, exp.ConsumeTraces(ctx, testgen.Session(i, 13)))
	}
	count := func(sql string, args ...any) int64 {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return count("SELECT count(*) FROM crewtrace_sessions") == 21 },
		30*time.Second, 20*time.Millisecond)

	golden := testgen.SessionID(0)
	var name, state string
	var rev, llm, tools int32
	var tokens int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT name, end_state, revision, llm_calls, tool_calls, total_tokens
		FROM crewtrace_sessions WHERE session_id = $1`, golden).Scan(&name, &state, &rev, &llm, &tools, &tokens))
	assert.Equal(t, []any{"triage", "Success", int32(0), int32(2), int32(2), int64(180)},
		[]any{name, state, rev, llm, tools, tokens})
	assert.Equal(t, "researcher=120 writer=60", agents(t, pool, golden))

	// A span arriving after the session was stored revises it: revision 1
	// replaces revision 0, its agents included.
	late := ptrace.NewTraces()
	s := late.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(testgen.TraceID(0))
	s.SetSpanID(testgen.SpanID(0, 99))
	s.SetParentSpanID(testgen.SpanID(0, 1)) // the researcher agent
	s.SetName(semconv.ChatSpanName("gpt-4o"))
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(testgen.Base.Add(4 * time.Second)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(testgen.Base.Add(4500 * time.Millisecond)))
	s.Attributes().PutStr(string(semconv.SessionIDKey), golden)
	s.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindLLM)
	s.Attributes().PutStr(string(semconv.OperationNameKey), semconv.OperationChat)
	s.Attributes().PutInt(string(semconv.InputTokensKey), 1000)
	s.Attributes().PutInt(string(semconv.OutputTokensKey), 0)
	require.NoError(t, exp.ConsumeTraces(ctx, late))
	require.Eventually(t, func() bool {
		return count("SELECT count(*) FROM crewtrace_sessions WHERE session_id = $1 AND revision = 1", golden) == 1
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, int64(1180), count("SELECT total_tokens FROM crewtrace_sessions WHERE session_id = $1", golden))
	assert.Equal(t, "researcher=1120 writer=60", agents(t, pool, golden))

	shutdown()
	shutdown = nil
	assert.Equal(t, int64(21), count("SELECT count(*) FROM crewtrace_sessions"), "one row per session, revisions included")
}

// agents lists a session's stored agents as "name=total_tokens ...".
func agents(t *testing.T, pool *pgxpool.Pool, sessionID string) string {
	t.Helper()
	rs, err := pool.Query(context.Background(),
		"SELECT name, total_tokens FROM crewtrace_session_agents WHERE session_id = $1 ORDER BY ordinal", sessionID)
	require.NoError(t, err)
	defer rs.Close()
	var out string
	for rs.Next() {
		var name string
		var total int64
		require.NoError(t, rs.Scan(&name, &total))
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s=%d", name, total)
	}
	require.NoError(t, rs.Err())
	return out
}
