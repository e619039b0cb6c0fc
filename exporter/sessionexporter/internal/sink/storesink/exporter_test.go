package storesink_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/storesink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
	"github.com/crewtrace/crewtrace/store"
)

// newExporter builds and starts the session exporter from cfg (validated),
// with its telemetry readable; it is shut down at the end of the test
// unless the test did.
func newExporter(t *testing.T, cfg *sessionexporter.Config) (exporter.Traces, *componenttest.Telemetry, func()) {
	t.Helper()
	require.NoError(t, confmap.Validate(cfg))
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := sessionexporter.NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	done := false
	shutdown := func() {
		if !done {
			done = true
			require.NoError(t, exp.Shutdown(context.Background()))
		}
	}
	t.Cleanup(shutdown)
	return exp, tel, shutdown
}

// sum adds the data points of a counter whose attributes include kv.
func sum(t *testing.T, tel *componenttest.Telemetry, name string, kv ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
next:
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		for _, want := range kv {
			if v, ok := dp.Attributes.Value(want.Key); !ok || v != want.Value {
				continue next
			}
		}
		n += dp.Value
	}
	return n
}

func testConfig(t *testing.T) *sessionexporter.Config {
	cfg := sessionexporter.NewFactory().CreateDefaultConfig().(*sessionexporter.Config)
	cfg.GracePeriod = 20 * time.Millisecond
	cfg.SessionTimeout = time.Minute
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 50 * time.Millisecond
	return cfg
}

// fileRecords reads the file sink's records by session ID and revision.
func fileRecords(t *testing.T, path string) map[string]int {
	t.Helper()
	out := map[string]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		r, err := record.Encoded{JSON: sc.Bytes()}.Decode()
		require.NoError(t, err)
		out[fmt.Sprintf("%s/%d", r.SessionID, r.Revision)]++
	}
	require.NoError(t, sc.Err())
	return out
}

// TestSessionExporterIntoPostgres runs the whole exporter — factory, config,
// assembler, records queue, retry — with the postgres section: spans in, a
// session in the store out, and a late span revising it.
func TestSessionExporterIntoPostgres(t *testing.T) {
	srv := storesink.SharedServer()
	db := srv.NewDatabase(t)
	t.Setenv("CREWTRACE_TEST_PG_PASSWORD", srv.Password)
	cfg := testConfig(t)
	pg := cfg.Postgres.GetOrInsertDefault()
	pg.DSN = configopaque.String(srv.DSNWithoutPassword(db))
	pg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
	exp, _, shutdown := newExporter(t, cfg)
	ctx := context.Background()

	// The golden session one span at a time, out of order; 20 generated ones whole.
	for _, part := range testgen.Shuffle(testgen.Split(testgen.Golden()), 7) {
		require.NoError(t, exp.ConsumeTraces(ctx, part))
	}
	for i := 1; i <= 20; i++ {
		require.NoError(t, exp.ConsumeTraces(ctx, testgen.Session(i, 13)))
	}
	st, err := store.Open(ctx, srv.DSN(db), store.ReadOnly(), store.AllowUnavailable())
	require.NoError(t, err)
	defer st.Close()
	count := func() int64 { n, _ := st.CountSessions(ctx, store.Filter{}); return n }
	require.Eventually(t, func() bool { return count() == 21 }, 30*time.Second, 20*time.Millisecond)

	golden := testgen.SessionID(0)
	s, err := st.Session(ctx, golden)
	require.NoError(t, err)
	assert.Equal(t, []any{"triage", "Success", 0, int64(2), int64(2), int64(180)},
		[]any{s.Name, s.EndState, s.Traces[0].Revision, s.LLMCalls, s.ToolCalls, s.Tokens.Total})
	assert.Equal(t, "researcher=120 writer=60", agentTokens(s))

	// A span arriving after the session was stored revises it: revision 1
	// replaces revision 0, its agents included.
	late := ptrace.NewTraces()
	sp := late.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(testgen.TraceID(0))
	sp.SetSpanID(testgen.SpanID(0, 99))
	sp.SetParentSpanID(testgen.SpanID(0, 1)) // the researcher agent
	sp.SetName(semconv.ChatSpanName("gpt-4o"))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(testgen.Base.Add(4 * time.Second)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(testgen.Base.Add(4500 * time.Millisecond)))
	sp.Attributes().PutStr(string(semconv.SessionIDKey), golden)
	sp.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindLLM)
	sp.Attributes().PutStr(string(semconv.OperationNameKey), semconv.OperationChat)
	sp.Attributes().PutInt(string(semconv.InputTokensKey), 1000)
	sp.Attributes().PutInt(string(semconv.OutputTokensKey), 0)
	require.NoError(t, exp.ConsumeTraces(ctx, late))
	require.Eventually(t, func() bool {
		s, err := st.Session(ctx, golden)
		return err == nil && s.Traces[0].Revision == 1
	}, 30*time.Second, 20*time.Millisecond)
	s, err = st.Session(ctx, golden)
	require.NoError(t, err)
	assert.Equal(t, int64(1180), s.Tokens.Total)
	assert.Equal(t, "researcher=1120 writer=60", agentTokens(s))

	shutdown()
	assert.Equal(t, int64(21), count(), "one session each, revisions included")
}

func agentTokens(s *store.Session) string {
	var out string
	for _, a := range s.Agents {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s=%d", a.Name, a.Tokens.Total)
	}
	return out
}

// The default sinks of collector-config.yaml, the embedded store and the
// JSONL file, from one assembly: every record in each, once.
func TestSessionExporterIntoSQLiteAndFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, "sessions.jsonl")
	cfg.SQLite.GetOrInsertDefault().Path = filepath.Join(dir, "sessions.db")
	exp, tel, shutdown := newExporter(t, cfg)
	ctx := context.Background()
	const n = 30
	for i := range n {
		require.NoError(t, exp.ConsumeTraces(ctx, testgen.Session(i, 9)))
	}
	shutdown()

	recs := fileRecords(t, cfg.File.Get().Path)
	assert.Len(t, recs, n)
	st, err := store.Open(ctx, "sqlite:"+cfg.SQLite.Get().Path, store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	got, err := st.CountSessions(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int64(n), got)
	for i := range n {
		assert.Equal(t, 1, recs[testgen.SessionID(i)+"/0"])
	}
	assert.Equal(t, int64(n), sum(t, tel, metadata.MetricRecordsWritten, attribute.String("sink", "file")))
	assert.Equal(t, int64(n), sum(t, tel, metadata.MetricRecordsWritten, attribute.String("sink", "sqlite")))
	assert.Equal(t, int64(n), sum(t, tel, metadata.MetricSessionsEmitted), "assembled once, whatever the number of sinks")
}

// PostgreSQL down while the file sink works: the file gets every session as
// it is emitted (its own queue does not wait for PostgreSQL's), PostgreSQL
// gets every one once it is back, nothing twice; the failures are counted
// for the postgres sink only.
func TestPostgresDownWhileFileWrites(t *testing.T) {
	srv := storesink.SharedServer()
	db := srv.NewDatabase(t)
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, "sessions.jsonl")
	pg := cfg.Postgres.GetOrInsertDefault()
	pg.DSN = configopaque.String(srv.DSN(db) + "&connect_timeout=1")
	pg.Timeout = 2 * time.Second
	exp, tel, shutdown := newExporter(t, cfg)
	ctx := context.Background()
	require.NoError(t, exp.ConsumeTraces(ctx, testgen.Session(0, 5)))
	require.Eventually(t, func() bool {
		return sum(t, tel, metadata.MetricRecordsWritten, attribute.String("sink", "postgres")) == 1
	}, 30*time.Second, 10*time.Millisecond)

	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() })
	const n = 20
	for i := 1; i <= n; i++ {
		require.NoError(t, exp.ConsumeTraces(ctx, testgen.Session(i, 5)))
	}
	require.Eventually(t, func() bool { return len(fileRecords(t, cfg.File.Get().Path)) == n+1 },
		10*time.Second, 10*time.Millisecond, "the file gets every session while PostgreSQL is down")
	require.Eventually(t, func() bool {
		return sum(t, tel, metadata.MetricSinkFailures, attribute.String("sink", "postgres"), attribute.String("kind", "retryable")) >= 3
	}, 30*time.Second, 10*time.Millisecond, "PostgreSQL's queue retries")
	assert.Zero(t, sum(t, tel, metadata.MetricSinkFailures, attribute.String("sink", "file")))

	require.NoError(t, srv.Start())
	require.Eventually(t, func() bool {
		return sum(t, tel, metadata.MetricRecordsWritten, attribute.String("sink", "postgres")) == n+1
	}, 60*time.Second, 20*time.Millisecond, "PostgreSQL gets every session once it is back")
	shutdown()

	for id, times := range fileRecords(t, cfg.File.Get().Path) {
		assert.Equal(t, 1, times, "file: %s once", id)
	}
	st, err := store.Open(ctx, srv.DSN(db), store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	got, err := st.CountSessions(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int64(n+1), got)
	assert.Equal(t, int64(n+1), sum(t, tel, metadata.MetricRecordsWritten, attribute.String("sink", "file")))
}
