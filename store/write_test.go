package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

func TestReplayOfLowerOrEqualRevisionChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		newer := rec("s1", traceID(1), 2, func(r *record.Record) {
			r.Name, r.SpanCount, r.Tokens.Total = "rev-2", 9, 99
		})
		older := rec("s1", traceID(1), 1, func(r *record.Record) {
			r.Name, r.SpanCount, r.Tokens.Total = "rev-1", 3, 33
			// The older revision had two agents: its replay must not add the second.
			r.Agents = append(r.Agents, record.Agent{ID: "a-2", Name: "writer"})
		})
		e.write(t, newer)
		seq := e.session(t, "s1").Seq
		e.write(t, older)
		e.write(t, newer) // equal revision: a replay
		got := e.session(t, "s1")
		assert.Equal(t, "rev-2", got.Name)
		assert.EqualValues(t, 9, got.Spans)
		assert.EqualValues(t, 99, got.Tokens.Total)
		require.Len(t, got.Traces, 1)
		assert.Equal(t, 2, got.Traces[0].Revision)
		require.Len(t, got.Agents, 1, "the stale revision's extra agent must not be stored")
		assert.Equal(t, seq, got.Seq, "a replay changes nothing, so the tail does not see the session again")
		assert.EqualValues(t, 1, one[int64](t, e, "SELECT count(*) FROM crewtrace_traces"))
		assert.EqualValues(t, 1, one[int64](t, e, "SELECT count(*) FROM crewtrace_trace_agents"))
		assert.EqualValues(t, 1, one[int64](t, e, "SELECT count(*) FROM crewtrace_sessions"))

		// A higher revision with fewer agents replaces them all.
		e.write(t, rec("s1", traceID(1), 3, func(r *record.Record) { r.Agents = nil; r.Counts.Agents = 0 }))
		assert.Empty(t, e.session(t, "s1").Agents)
		assert.EqualValues(t, 0, one[int64](t, e, "SELECT count(*) FROM crewtrace_trace_agents"))
	})
}

func TestRevisionsOutOfOrderInOneBatchKeepTheHighest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.write(t,
			rec("s1", traceID(1), 1, func(r *record.Record) { r.Name = "one" }),
			rec("s1", traceID(1), 3, func(r *record.Record) { r.Name = "three" }),
			rec("s1", traceID(1), 2, func(r *record.Record) { r.Name = "two" }),
		)
		got := e.session(t, "s1")
		assert.Equal(t, "three", got.Name)
		assert.Equal(t, 3, got.Traces[0].Revision)
	})
}

func TestTwoTracesOfOneSessionAggregate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		first := rec("chat", traceID(1), 0, func(r *record.Record) {
			r.Name, r.EndState, r.EndReason = "turn-1", "Fail", "timeout"
			r.Counts.Errors = 1
		})
		second := rec("chat", traceID(2), 4, func(r *record.Record) {
			r.Name = "turn-2"
			r.StartTime, r.EndTime, r.DurationMs = base.Add(10*time.Second), base.Add(11*time.Second), 1000
			r.SpanCount, r.Tokens = 6, record.Tokens{Input: 100, Output: 20, Total: 120}
			r.Agents = []record.Agent{{ID: "a-1", Name: "researcher", LLMCalls: 2, Tokens: r.Tokens}}
		})
		// The second trace arrives first: order of arrival does not matter.
		e.write(t, second)
		e.write(t, first, first) // and a replay in the same batch
		got := e.session(t, "chat")
		assert.Equal(t, 2, got.Summary.Traces)
		assert.Equal(t, base, got.Start)
		assert.Equal(t, base.Add(11*time.Second), got.End)
		assert.InDelta(t, 11000, got.DurationMs, 0.001)
		assert.Equal(t, "turn-1", got.Name, "the name of the first trace")
		assert.Equal(t, "Success", got.EndState, "the end state of the last trace")
		assert.Equal(t, "done", got.EndReason)
		assert.EqualValues(t, 10, got.Spans)
		assert.EqualValues(t, 1, got.Errors)
		assert.Equal(t, record.Tokens{Input: 110, Output: 25, Total: 135}, got.Tokens)
		require.Len(t, got.Traces, 2)
		assert.Equal(t, traceID(1), got.Traces[0].TraceID)
		assert.Equal(t, "turn-1", got.Traces[0].Record.Name)
		assert.Equal(t, traceID(2), got.Traces[1].TraceID)
		assert.Equal(t, 4, got.Traces[1].Revision)
		// The agent of both traces (same ID? no: different IDs) and their totals.
		require.Len(t, got.Agents, 2)
		assert.Equal(t, "00000000-0000-4000-8000-000000000001", got.Agents[0].ID)
		assert.Equal(t, "a-1", got.Agents[1].ID)
		assert.EqualValues(t, 120, got.Agents[1].Tokens.Total)

		n, err := e.s.CountSessions(context.Background(), Filter{})
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "two traces are one session")
	})
}

func TestSameAgentAcrossTracesIsTotalled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		e.write(t, rec("chat", traceID(1), 0), rec("chat", traceID(2), 0, func(r *record.Record) {
			r.StartTime = base.Add(time.Minute)
			r.EndTime = base.Add(time.Minute + time.Second)
		}))
		got := e.session(t, "chat")
		require.Len(t, got.Agents, 1)
		assert.Equal(t, 2, got.Agents[0].Traces)
		assert.EqualValues(t, 30, got.Agents[0].Tokens.Total)
		assert.EqualValues(t, 2, got.Agents[0].LLMCalls)
	})
}

func TestFragmentsOfOneTraceCountOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		// Collector A assembled part of the trace, collector B (after a
		// rebalance, re-reading the uncommitted spans) all of it.
		a := withJSON(t, enc(t, rec("s1", traceID(1), 3, func(r *record.Record) {
			r.SpanCount, r.Complete, r.Tokens.Total = 2, false, 7
		}))[0], `{"fragment":"collector-a"}`)
		b := withJSON(t, enc(t, rec("s1", traceID(1), 0, func(r *record.Record) {
			r.SpanCount, r.Tokens.Total = 5, 15
		}))[0], `{"fragment":"collector-b"}`)
		ctx := context.Background()
		require.NoError(t, e.s.Write(ctx, []record.Encoded{a}))
		got := e.session(t, "s1")
		assert.EqualValues(t, 2, got.Spans)
		require.NoError(t, e.s.Write(ctx, []record.Encoded{b}))
		got = e.session(t, "s1")
		assert.EqualValues(t, 5, got.Spans, "the fragment with most spans stands for the trace; nothing is summed twice")
		assert.EqualValues(t, 15, got.Tokens.Total)
		assert.Equal(t, 1, got.Summary.Traces)
		assert.True(t, got.Complete)
		require.Len(t, got.Traces, 1)
		assert.Equal(t, "collector-b", got.Traces[0].Fragment)
		assert.Len(t, got.Agents, 1, "the agents of one fragment only")
		assert.EqualValues(t, 2, one[int64](t, e, "SELECT count(*) FROM crewtrace_traces"), "both fragments are kept")
		// A's later revision with more spans takes over.
		a2 := withJSON(t, enc(t, rec("s1", traceID(1), 4, func(r *record.Record) { r.SpanCount = 8 }))[0], `{"fragment":"collector-a"}`)
		require.NoError(t, e.s.Write(ctx, []record.Encoded{a2}))
		got = e.session(t, "s1")
		assert.EqualValues(t, 8, got.Spans)
		assert.Equal(t, "collector-a", got.Traces[0].Fragment)
		assert.Greater(t, got.Seq, int64(0))
	})
}

func TestLongValuesAreStoredWholeAndIndexedBounded(t *testing.T) {
	for _, size := range []int{3 << 10, 1 << 20} {
		t.Run(strings.ReplaceAll(byteSize(size), " ", ""), func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, e *env) {
				long := func(c string) string { return strings.Repeat(c, size) }
				id, name, agent := long("i"), long("n"), long("a")
				// Same prefix, different tail: must stay two sessions.
				id2 := id[:len(id)-1] + "j"
				r := rec(id, traceID(1), 0, func(r *record.Record) {
					r.Name, r.EndReason, r.EndState = name, long("r"), long("s")
					r.Agents[0].Name = agent
					r.Tags = []string{long("t")}
				})
				ctx := context.Background()
				require.NoError(t, e.s.Write(ctx, enc(t, r, rec(id2, traceID(1), 0))))
				got := e.session(t, id)
				assert.Equal(t, id, got.SessionID)
				assert.Equal(t, name, got.Name)
				assert.Equal(t, agent, got.Agents[0].Name)
				assert.Equal(t, name, got.Traces[0].Record.Name, "the record keeps the whole value")
				assert.Equal(t, Bounded(long("s")), got.EndState)
				assert.Equal(t, id2, e.session(t, id2).SessionID)
				n, err := e.s.CountSessions(ctx, Filter{Text: "nnnn"})
				require.NoError(t, err)
				assert.EqualValues(t, 1, n)
				assert.LessOrEqual(t, one[int](t, e, "SELECT max(length(session_key)) FROM crewtrace_sessions"), 140)
				assert.LessOrEqual(t, one[int](t, e, "SELECT max(length(name_key)) FROM crewtrace_trace_agents"), 140)
			})
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return "1MB"
	}
	return "3KB"
}

func TestNULBytesBecomeReplacementCharacter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := rec("nul\x00id", traceID(1), 0, func(r *record.Record) {
			r.Name = "crew\x00name"
			r.Tags = []string{"t\x00ag"}
			r.Resource = map[string]any{"service.name": "svc\x00", "host\x00name": "h\x00"}
			r.Agents[0].Name = "agent\x00"
			r.Events = []record.Event{{Kind: "event", Type: "started", Time: base,
				Params: map[string]any{"p\x00": "v\x00alue", "n": 3}}}
		})
		ctx := context.Background()
		require.NoError(t, e.s.Write(ctx, enc(t, r)))
		got := e.session(t, "nul\x00id")
		assert.Equal(t, "nul\uFFFDid", got.SessionID)
		assert.Equal(t, "crew\uFFFDname", got.Name)
		assert.Equal(t, []string{"t\uFFFDag"}, got.Tags)
		assert.Equal(t, "svc\uFFFD", got.Service)
		assert.Equal(t, "agent\uFFFD", got.Agents[0].Name)
		stored := got.Traces[0].Record
		assert.Equal(t, "crew\uFFFDname", stored.Name)
		assert.Equal(t, map[string]any{"service.name": "svc\uFFFD", "host\uFFFDname": "h\uFFFD"}, stored.Resource)
		require.Len(t, stored.Events, 1)
		assert.Equal(t, map[string]any{"p\uFFFD": "v\uFFFDalue", "n": float64(3)}, stored.Events[0].Params,
			"the rest of the record is kept")
		assert.Equal(t, "started", stored.Events[0].Type)
	})
}

func TestBatchMixingGoodAndBadRecordsWritesTheGoodOnes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		long := strings.Repeat("x", 5000)
		batch := enc(t,
			rec("good-1", traceID(1), 0),
			// The database refuses it: a negative revision breaks a CHECK constraint.
			rec("bad-db-"+long, traceID(2), -1),
			rec("good-2", traceID(3), 0),
		)
		// A record that does not decode.
		batch = append(batch, record.Encoded{SessionID: "bad-json", JSON: []byte(`{"schema_version":1,`)})
		batch = append(batch, enc(t, rec("good-3", traceID(4), 0))...)
		err := e.s.Write(context.Background(), batch)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrPermanent)
		var rj *Rejected
		require.ErrorAs(t, err, &rj)
		assert.Equal(t, 5, rj.Total)
		require.Len(t, rj.Records, 2)
		assert.Equal(t, "bad-db-"+long, rj.Records[0].SessionID)
		assert.Equal(t, -1, rj.Records[0].Revision)
		assert.Equal(t, "bad-json", rj.Records[1].SessionID)
		assert.ErrorIs(t, rj.Records[1].Err, record.ErrInvalid)
		assert.Less(t, len(err.Error()), 1000, "long session IDs are truncated in messages: %s", ShortID(err.Error()))
		assert.Contains(t, err.Error(), "(5007 bytes)")
		n, err := e.s.CountSessions(context.Background(), Filter{})
		require.NoError(t, err)
		assert.EqualValues(t, 3, n)
		for _, id := range []string{"good-1", "good-2", "good-3"} {
			e.session(t, id)
		}
		// The bad record is refused again the same way: permanent, not flaky.
		err = e.s.Write(context.Background(), batch[1:2])
		assert.ErrorIs(t, err, ErrPermanent)
	})
}

func TestDatabaseDownThenUpIsRetryableAndLosesNothing(t *testing.T) {
	t.Run(string(Postgres), func(t *testing.T) {
		e := newEnv(t, Postgres, WithTimeout(3*time.Second))
		ctx := context.Background()
		e.write(t, rec("before", traceID(1), 0))
		require.NoError(t, srv.Stop())
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = srv.Start()
			}
		})
		batch := enc(t, rec("during-1", traceID(2), 0), rec("during-2", traceID(3), 0))
		err := e.s.Write(ctx, batch)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrPermanent, "a database that is down is retryable")
		var rj *Rejected
		assert.False(t, errors.As(err, &rj))
		require.NoError(t, srv.Start())
		restarted = true
		require.Eventually(t, func() bool { return e.s.Write(ctx, batch) == nil }, 30*time.Second, 200*time.Millisecond)
		require.NoError(t, e.s.Write(ctx, batch), "a second retry changes nothing")
		n, err := e.s.CountSessions(ctx, Filter{})
		require.NoError(t, err)
		assert.EqualValues(t, 3, n)
		assert.EqualValues(t, 3, one[int64](t, e, "SELECT count(*) FROM crewtrace_traces"))
	})
	t.Run(string(SQLite), func(t *testing.T) {
		// SQLite's "down": another process holds the write lock past the
		// busy timeout.
		e := newEnv(t, SQLite, WithBusyTimeout(50*time.Millisecond))
		ctx := context.Background()
		e.write(t, rec("before", traceID(1), 0))
		other, err := Open(ctx, e.dsn)
		require.NoError(t, err)
		defer other.Close()
		tx, err := other.b.(*sqliteBackend).writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the lock
		require.NoError(t, err)
		batch := enc(t, rec("during-1", traceID(2), 0), rec("during-2", traceID(3), 0))
		err = e.s.Write(ctx, batch)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrPermanent, "a locked database is retryable")
		require.NoError(t, tx.Rollback())
		require.NoError(t, e.s.Write(ctx, batch))
		n, err := e.s.CountSessions(ctx, Filter{})
		require.NoError(t, err)
		assert.EqualValues(t, 3, n)
	})
}

func TestACrewOfManyAgentsIsStoredWhole(t *testing.T) {
	defer func(n int) { maxAgentsPerStatement = n }(maxAgentsPerStatement)
	maxAgentsPerStatement = 4
	forEachDialect(t, func(t *testing.T, e *env) {
		r := rec("big", traceID(1), 0, func(r *record.Record) {
			r.Agents = nil
			for i := range maxAgentsPerStatement + 5 {
				r.Agents = append(r.Agents, record.Agent{ID: fmt.Sprintf("a-%d", i), Name: "worker", LLMCalls: 1})
			}
		})
		e.write(t, r)
		got := e.session(t, "big")
		assert.Len(t, got.Agents, maxAgentsPerStatement+5)
		assert.Equal(t, fmt.Sprintf("a-%d", maxAgentsPerStatement+4), got.Agents[len(got.Agents)-1].ID)
	})
}
