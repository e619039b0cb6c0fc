package store

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

func TestEveryMigrationFileIsUsed(t *testing.T) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	require.NoError(t, err)
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	assert.ElementsMatch(t, files, migrationFileNames())
	for i, m := range migrations {
		assert.Equal(t, i+1, m.version, "versions are 1..n without gaps")
	}
}

// v1Insert writes a row the way the first PostgreSQL sink did (schema
// version 1: one row per session, its agents beside it).
const v1Insert = `INSERT INTO crewtrace_sessions (session_id, revision, schema_version, trace_id, name, tags,
	start_time, end_time, duration_ms, end_state, end_reason, complete, flush_reason, emitted_at,
	span_count, agent_count, llm_calls, tool_calls, event_count, action_count, error_count,
	input_tokens, output_tokens, total_tokens, trace_url, record)
VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25::jsonb)`

const v1InsertAgent = `INSERT INTO crewtrace_session_agents (session_id, ordinal, agent_id, name, span_count,
	llm_calls, tool_calls, errors, input_tokens, output_tokens, total_tokens)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func TestMigrationFromVersion1KeepsEverySession(t *testing.T) {
	ctx := context.Background()
	dsn := emptyDSN(t, Postgres)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	// The database as the first sink left it: migration 1 applied, recorded
	// in its crewtrace_schema_migrations (applied_at timestamptz).
	v1SQL, err := migrationFiles.ReadFile("migrations/0001_sessions.postgres.sql")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE crewtrace_schema_migrations (version integer PRIMARY KEY,
		name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, string(v1SQL))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "INSERT INTO crewtrace_schema_migrations (version, name) VALUES (1, 'sessions')")
	require.NoError(t, err)

	const n = 1203 // more than two copy chunks
	var recs []*record.Record
	for i := range n {
		r := rec(sid(i), traceID(i), i%3, func(r *record.Record) {
			r.StartTime = base.Add(time.Duration(i) * time.Second)
			r.EndTime = r.StartTime.Add(2 * time.Second)
			r.Tokens.Total = int64(i)
			if i%4 == 0 {
				r.EndState, r.EndReason = "Fail", "boom"
			}
			r.Agents = append(r.Agents, record.Agent{ID: "a-2", Name: "writer", LLMCalls: i % 5})
			r.Counts.Agents = 2
		})
		recs = append(recs, r)
		e := enc(t, r)[0]
		_, err := conn.Exec(ctx, v1Insert, r.SessionID, r.Revision, r.TraceID, r.Name, r.Tags, r.StartTime,
			r.EndTime, r.DurationMs, r.EndState, r.EndReason, r.Complete, r.FlushReason, r.EmittedAt,
			r.SpanCount, r.Counts.Agents, r.Counts.LLMCalls, r.Counts.ToolCalls, r.Counts.Events,
			r.Counts.Actions, r.Counts.Errors, r.Tokens.Input, r.Tokens.Output, r.Tokens.Total, r.TraceURL, string(e.JSON))
		require.NoError(t, err)
		for k, a := range r.Agents {
			_, err := conn.Exec(ctx, v1InsertAgent, r.SessionID, k, a.ID, a.Name, a.SpanCount, a.LLMCalls,
				a.ToolCalls, a.Errors, a.Tokens.Input, a.Tokens.Output, a.Tokens.Total)
			require.NoError(t, err)
		}
	}

	s, err := Open(ctx, dsn)
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	count, err := s.CountSessions(ctx, Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, n, count, "every version-1 session is in the new tables")
	for _, i := range []int{0, 1, 499, 500, 1000, n - 1} {
		got, err := s.Session(ctx, sid(i))
		require.NoError(t, err)
		r := recs[i]
		assert.Equal(t, r.Name, got.Name)
		assert.Equal(t, r.StartTime, got.Start)
		assert.Equal(t, r.EndState, got.EndState)
		assert.Equal(t, r.Tokens, got.Tokens)
		require.Len(t, got.Traces, 1)
		assert.Equal(t, r.Revision, got.Traces[0].Revision)
		assert.Equal(t, r.TraceID, got.Traces[0].Record.TraceID)
		require.Len(t, got.Agents, 2)
		assert.Equal(t, "writer", got.Agents[1].Name)
		assert.EqualValues(t, i%5, got.Agents[1].LLMCalls)
	}
	var oldTables int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'crewtrace_v1_%'
		OR tablename = 'crewtrace_session_agents'`).Scan(&oldTables))
	assert.Zero(t, oldTables, "the version-1 tables are dropped once copied")
	// A revision the old sink had is still the one a replay must beat.
	require.NoError(t, s.Write(ctx, enc(t, rec(sid(2), traceID(2), 1, func(r *record.Record) { r.Name = "stale" }))))
	got, err := s.Session(ctx, sid(2))
	require.NoError(t, err)
	assert.Equal(t, "research-crew", got.Name)
}

func sid(i int) string { return "00000000-0000-4000-8000-" + traceID(i)[20:] }

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		// e's Open migrated; more processes opening at once change nothing.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				s, err := Open(context.Background(), e.dsn)
				if assert.NoError(t, err) {
					assert.NoError(t, s.Close())
				}
			})
		}
		wg.Wait()
		assert.Equal(t, SchemaVersion, one[int](t, e, "SELECT count(*) FROM crewtrace_schema_migrations"))
	})
	t.Run("fresh database, racing", func(t *testing.T) {
		for _, d := range []Dialect{Postgres, SQLite} {
			dsn := emptyDSN(t, d)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					s, err := Open(context.Background(), dsn)
					if assert.NoError(t, err, d) {
						v, err := s.SchemaVersion(context.Background())
						assert.NoError(t, err)
						assert.Equal(t, SchemaVersion, v)
						assert.NoError(t, s.Close())
					}
				})
			}
			wg.Wait()
		}
	})
}

func TestReadOnlyRefusesAMissingSchemaAndNeverWrites(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.write(t, rec("s1", traceID(1), 0))
		ro, err := Open(ctx, e.dsn, ReadOnly())
		require.NoError(t, err)
		defer ro.Close()
		_, err = ro.Session(ctx, "s1")
		require.NoError(t, err)
		assert.ErrorIs(t, ro.Write(ctx, enc(t, rec("s2", traceID(2), 0))), ErrReadOnly)
		_, err = ro.b.reader().ExecContext(ctx, "DELETE FROM crewtrace_sessions")
		assert.Error(t, err, "the database refuses writes on a read-only store's connections")
		n, err := e.s.CountSessions(ctx, Filter{})
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)

		_, err = Open(ctx, emptyDSN(t, e.dialect), ReadOnly())
		if e.dialect == SQLite {
			assert.ErrorContains(t, err, "no such file", "a missing SQLite file is not created by a reader")
		} else {
			assert.ErrorIs(t, err, ErrSchema)
		}
	})
}
