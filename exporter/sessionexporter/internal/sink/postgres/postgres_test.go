package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/record"
)

func TestInsert(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	r := rec("s-1", 0, func(r *record.Record) {
		r.Tags = []string{"a", "b"}
		r.EndState, r.EndReason = "Fail", "tool crashed"
		r.Counts.Errors = 1
		r.TraceURL = "http://127.0.0.1:16686/trace/abc"
		r.Agents = append(r.Agents, record.Agent{ID: "00000000-0000-4000-8000-000000000002", Name: "writer",
			SpanCount: 2, LLMCalls: 2, Errors: 1, Tokens: record.Tokens{Input: 7, Output: 3, Total: 10}})
	})
	in := enc(t, r)
	require.NoError(t, s.Write(context.Background(), in))

	got := rows(t, pool, `SELECT session_id, revision, name, tags, start_time, end_time, duration_ms, end_state,
		end_reason, complete, span_count, llm_calls, tool_calls, error_count, total_tokens, trace_url FROM crewtrace_sessions`)
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{
		"session_id": "s-1", "revision": int32(0), "name": "research-crew", "tags": []any{"a", "b"},
		"start_time": base.Local(), "end_time": base.Add(2 * time.Second).Local(), "duration_ms": 2000.0,
		"end_state": "Fail", "end_reason": "tool crashed", "complete": true, "span_count": int32(4),
		"llm_calls": int32(1), "tool_calls": int32(1), "error_count": int32(1), "total_tokens": int64(15),
		"trace_url": "http://127.0.0.1:16686/trace/abc",
	}, normalizeTimes(got[0]))

	// The JSONB column holds the record as written.
	stored := one[[]byte](t, pool, "SELECT record FROM crewtrace_sessions WHERE session_id = 's-1'")
	var back record.Record
	require.NoError(t, json.Unmarshal(stored, &back))
	want, err := in[0].Decode()
	require.NoError(t, err)
	assert.Equal(t, want, back)

	agents := rows(t, pool, `SELECT ordinal, agent_id, name, llm_calls, errors, total_tokens
		FROM crewtrace_session_agents WHERE session_id = 's-1' ORDER BY ordinal`)
	assert.Equal(t, []map[string]any{
		{"ordinal": int32(0), "agent_id": "00000000-0000-4000-8000-000000000001", "name": "researcher",
			"llm_calls": int32(1), "errors": int32(0), "total_tokens": int64(15)},
		{"ordinal": int32(1), "agent_id": "00000000-0000-4000-8000-000000000002", "name": "writer",
			"llm_calls": int32(2), "errors": int32(1), "total_tokens": int64(10)},
	}, agents)
	assert.Equal(t, int64(1), s.Written())
	assert.Equal(t, int64(0), s.Rejected())
}

// normalizeTimes makes time values comparable with ==.
func normalizeTimes(m map[string]any) map[string]any {
	for k, v := range m {
		if tv, ok := v.(time.Time); ok {
			m[k] = tv.Local()
		}
	}
	return m
}

func TestRevisionUpsertReplacesRecordAndAgents(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()
	require.NoError(t, s.Write(ctx, enc(t, rec("s-1", 0))))
	later := rec("s-1", 1, func(r *record.Record) {
		r.EndState, r.SpanCount = "Fail", 9
		r.Agents = []record.Agent{
			{ID: "a-2", Name: "planner", LLMCalls: 3, Tokens: record.Tokens{Total: 30}},
			{ID: "a-3", Name: "critic", LLMCalls: 1, Tokens: record.Tokens{Total: 5}},
		}
	})
	require.NoError(t, s.Write(ctx, enc(t, later)))

	assert.Equal(t, []map[string]any{{"revision": int32(1), "end_state": "Fail", "span_count": int32(9)}},
		rows(t, pool, "SELECT revision, end_state, span_count FROM crewtrace_sessions"))
	assert.Equal(t, []map[string]any{{"name": "planner"}, {"name": "critic"}},
		rows(t, pool, "SELECT name FROM crewtrace_session_agents ORDER BY ordinal"))
	assert.Equal(t, int64(1), one[int64](t, pool, "SELECT (record->>'revision')::bigint FROM crewtrace_sessions"))
}

func TestStaleRevisionIgnored(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()
	newer := rec("s-1", 2, func(r *record.Record) { r.Agents[0].Name = "rev2-agent" })
	older := rec("s-1", 1, func(r *record.Record) { r.EndState = "Indeterminate"; r.Agents[0].Name = "rev1-agent" })
	oldest := rec("s-1", 0, func(r *record.Record) { r.Agents = nil })

	require.NoError(t, s.Write(ctx, enc(t, newer)))
	require.NoError(t, s.Write(ctx, enc(t, older)))
	// Out of order inside one batch too.
	require.NoError(t, s.Write(ctx, enc(t, oldest, older)))

	assert.Equal(t, []map[string]any{{"revision": int32(2), "end_state": "Success"}},
		rows(t, pool, "SELECT revision, end_state FROM crewtrace_sessions"))
	assert.Equal(t, []map[string]any{{"name": "rev2-agent"}},
		rows(t, pool, "SELECT name FROM crewtrace_session_agents"))
}

func TestReplayIsIdempotent(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()
	batch := enc(t, rec("s-1", 0), rec("s-2", 0), rec("s-1", 1), rec("s-3", 4))
	for range 3 {
		require.NoError(t, s.Write(ctx, batch))
	}
	// A retry of a batch whose records are mixed with its own duplicates.
	require.NoError(t, s.Write(ctx, append(append([]record.Encoded{}, batch...), batch...)))

	assert.Equal(t, []map[string]any{
		{"session_id": "s-1", "revision": int32(1)},
		{"session_id": "s-2", "revision": int32(0)},
		{"session_id": "s-3", "revision": int32(4)},
	}, rows(t, pool, "SELECT session_id, revision FROM crewtrace_sessions ORDER BY session_id"))
	assert.Equal(t, int64(3), one[int64](t, pool, "SELECT count(*) FROM crewtrace_session_agents"))
}

func TestConcurrentSessions(t *testing.T) {
	const sessions, revisions = 50, 20 // 1,000 records
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, sessions*revisions)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("session-%02d", i)
			// Every revision of the session, shuffled, in batches of 1 to 4:
			// arrival order must not matter.
			revs := rand.New(rand.NewPCG(uint64(i), 1)).Perm(revisions)
			for len(revs) > 0 {
				n := min(1+len(revs)%4, len(revs))
				var batch []*record.Record
				for _, rv := range revs[:n] {
					batch = append(batch, rec(id, rv, func(r *record.Record) {
						r.SpanCount = rv
						r.Agents = make([]record.Agent, rv%3+1)
						for k := range r.Agents {
							r.Agents[k] = record.Agent{ID: fmt.Sprintf("agent-%d", k), Name: fmt.Sprintf("rev-%d", rv)}
						}
					}))
				}
				revs = revs[n:]
				errs <- s.Write(ctx, enc(t, batch...))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	assert.Equal(t, int64(sessions*revisions), s.Written())
	assert.Equal(t, int64(sessions), one[int64](t, pool,
		"SELECT count(*) FROM crewtrace_sessions WHERE revision = $1 AND span_count = $1", revisions-1))
	assert.Equal(t, int64(sessions), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
	// Every session kept exactly the agents of its last revision: 19%3+1 = 2 each.
	assert.Equal(t, []map[string]any{{"name": fmt.Sprintf("rev-%d", revisions-1), "n": int64(2 * sessions)}},
		rows(t, pool, "SELECT name, count(*) AS n FROM crewtrace_session_agents GROUP BY name"))
}

func TestPermanentErrorsAreCountedLoggedAndDoNotBlockTheBatch(t *testing.T) {
	db, pool := newDB(t)
	core, logs := observer.New(zapcore.InfoLevel)
	s := startSink(t, testConfig(db), zap.New(core))
	ctx := context.Background()

	batch := enc(t,
		rec("good-1", 0),
		rec("nul-in-name", 0, func(r *record.Record) { r.Name = "bad\x00name" }), // 22021 / 22P05
		rec("good-2", 0),
		rec("negative-duration", 0, func(r *record.Record) { r.DurationMs = -1 }), // 23514
	)
	batch = append(batch, record.Encoded{SessionID: "not-json", Revision: 0, JSON: []byte("{")})

	err := s.Write(ctx, batch)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "rejected data must not be retried: %v", err)
	for _, id := range []string{"nul-in-name", "negative-duration", "not-json"} {
		assert.Contains(t, err.Error(), id)
	}
	assert.Equal(t, int64(3), s.Rejected())
	var rej *sink.Rejected
	require.ErrorAs(t, err, &rej, "the exporter counts only the records a sink.Rejected names")
	assert.ElementsMatch(t, []string{"nul-in-name", "negative-duration", "not-json"}, rej.SessionIDs)
	assert.Equal(t, []map[string]any{{"session_id": "good-1"}, {"session_id": "good-2"}},
		rows(t, pool, "SELECT session_id FROM crewtrace_sessions ORDER BY session_id"))

	rejected := logs.FilterMessage("session record rejected by the postgres sink; dropped").All()
	require.Len(t, rejected, 3)
	var ids []string
	for _, e := range rejected {
		assert.Equal(t, zapcore.ErrorLevel, e.Level)
		ids = append(ids, e.ContextMap()["session_id"].(string))
	}
	assert.ElementsMatch(t, []string{"nul-in-name", "negative-duration", "not-json"}, ids)

	// A batch of one bad record is permanent too.
	err = s.Write(ctx, enc(t, rec("", 0)))
	assert.True(t, consumererror.IsPermanent(err), "%v", err)
	assert.Equal(t, int64(4), s.Rejected())
}

func TestDatabaseDownThenUp(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()
	require.NoError(t, s.Write(ctx, enc(t, rec("before", 0))))

	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() }) // the other tests need the server
	err := s.Write(ctx, enc(t, rec("during", 0), rec("before", 1)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "a database that is down must be retried: %v", err)
	assert.NotContains(t, err.Error(), srv.Password)

	require.NoError(t, srv.Start())
	// The retry (as exporterhelper would do it) succeeds on the pool's fresh connections.
	require.NoError(t, s.Write(ctx, enc(t, rec("during", 0), rec("before", 1))))
	assert.Equal(t, []map[string]any{
		{"session_id": "before", "revision": int32(1)},
		{"session_id": "during", "revision": int32(0)},
	}, rows(t, pool, "SELECT session_id, revision FROM crewtrace_sessions ORDER BY session_id"))
	assert.Equal(t, int64(0), s.Rejected())
}

func TestStartWithDatabaseDownMigratesOnFirstWrite(t *testing.T) {
	db, pool := newDB(t)
	core, logs := observer.New(zapcore.InfoLevel)
	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() })

	s := New(testConfig(db), zap.New(core))
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
	assert.Equal(t, int64(1), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	db, pool := newDB(t)
	// Several collectors starting at once against an empty database.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := New(testConfig(db), nil)
			assert.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
			assert.True(t, s.schemaOK.Load())
			assert.NoError(t, s.Shutdown(context.Background()))
		}()
	}
	wg.Wait()
	ms, err := loadMigrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	assert.Equal(t, int64(len(ms)), one[int64](t, pool, "SELECT count(*) FROM crewtrace_schema_migrations"))
	assert.Equal(t, "sessions", one[string](t, pool, "SELECT name FROM crewtrace_schema_migrations WHERE version = 1"))

	// A database migrated by a newer exporter is used as it is.
	_, err = pool.Exec(context.Background(), "INSERT INTO crewtrace_schema_migrations (version, name) VALUES (999, 'future')")
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	s := startSink(t, testConfig(db), zap.New(core))
	assert.Equal(t, 1, logs.FilterMessageSnippet("schema is newer").Len())
	require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
}

func TestStartFailsOnNonTransientMigrationError(t *testing.T) {
	db, pool := newDB(t)
	// A table of ours that is not what the migration creates.
	_, err := pool.Exec(context.Background(), "CREATE TABLE crewtrace_sessions (id int)")
	require.NoError(t, err)
	s := New(testConfig(db), nil)
	err = s.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apply migration 1")
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestWriteIsAtomic(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	// The session row is valid; its agent is not (NUL byte): the upsert
	// runs before the agent insert fails, and must be rolled back with it.
	bad := rec("agent-nul", 0, func(r *record.Record) { r.Agents[0].Name = "bad\x00agent" })
	err := s.Write(context.Background(), enc(t, bad))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err), "%v", err)
	assert.Equal(t, int64(0), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
	assert.Equal(t, int64(0), one[int64](t, pool, "SELECT count(*) FROM crewtrace_session_agents"))

	// In a batch with good records, only the bad one is dropped.
	err = s.Write(context.Background(), enc(t, rec("good", 0), bad))
	assert.True(t, consumererror.IsPermanent(err), "%v", err)
	assert.Equal(t, []map[string]any{{"session_id": "good"}}, rows(t, pool, "SELECT session_id FROM crewtrace_sessions"))
	assert.Equal(t, int64(1), one[int64](t, pool, "SELECT count(*) FROM crewtrace_session_agents"))
}

func TestRejectionsCountedOnceAcrossRetries(t *testing.T) {
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)
	ctx := context.Background()
	batch := append(enc(t, rec("good", 0)), record.Encoded{SessionID: "not-json", JSON: []byte("{")})

	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() })
	err := s.Write(ctx, batch)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "the batch is retried while the database is down: %v", err)
	assert.Equal(t, int64(0), s.Rejected(), "the bad record is counted when the batch is settled, not per attempt")

	require.NoError(t, srv.Start())
	err = s.Write(ctx, batch)
	assert.True(t, consumererror.IsPermanent(err), "%v", err)
	assert.Equal(t, int64(1), s.Rejected())
	assert.Equal(t, int64(1), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
}
