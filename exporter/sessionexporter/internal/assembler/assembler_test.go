package assembler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/dialect"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

const (
	grace   = 5 * time.Second
	timeout = time.Minute
)

// t0 is the arrival clock's origin (unrelated to span times).
var t0 = time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{
		GracePeriod:    grace,
		SessionTimeout: timeout,
		MaxSessions:    100,
		MaxSpans:       10_000,
		TraceURLBase:   "http://jaeger:16686/",
	}
}

// goldenRecord is the exact record of testgen.Golden.
func goldenRecord(revision int, reason string, emitted time.Duration) record.Record {
	base := testgen.Base
	researcher, writer := testgen.AgentID(0, 0), testgen.AgentID(0, 1)
	return record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     "00000000-0000-4000-8000-000000000001",
		Revision:      revision,
		TraceID:       "0000000000c0ffee0000000000000001",
		Source:        "crewtrace",
		Name:          "triage",
		Tags:          []string{"urgent", "email"},
		StartTime:     base,
		EndTime:       base.Add(10 * time.Second),
		DurationMs:    10000,
		EndState:      "Success",
		EndReason:     "all mail answered",
		EventsRefused: 2,
		Complete:      true,
		FlushReason:   reason,
		EmittedAt:     t0.Add(emitted),
		Resource:      map[string]any{"service.name": "triage-crew"},
		SpanCount:     8,
		Counts:        record.Counts{Agents: 2, LLMCalls: 2, ToolCalls: 2, Events: 1, Actions: 1, Errors: 1},
		Tokens:        record.Tokens{Input: 150, Output: 30, Total: 180},
		Agents: []record.Agent{
			{ID: researcher, Name: "researcher", SpanCount: 3, LLMCalls: 1, ToolCalls: 1, Tokens: record.Tokens{Input: 100, Output: 20, Total: 120}},
			{ID: writer, Name: "writer", SpanCount: 4, LLMCalls: 1, ToolCalls: 1, Tokens: record.Tokens{Input: 50, Output: 10, Total: 60}, Errors: 1},
		},
		Models: []record.Model{
			{Provider: "openai", Model: "gpt-4o", LLMCalls: 1, Tokens: record.Tokens{Input: 100, Output: 20, Total: 120}},
			{Provider: "openai", Model: "gpt-4o-mini", LLMCalls: 1, Tokens: record.Tokens{Input: 50, Output: 10, Total: 60}},
		},
		Tools: []record.Tool{{Name: "search", Calls: 1}, {Name: "send", Calls: 1, Errors: 1}},
		Events: []record.Event{
			{Kind: "event", Type: "started", Time: base.Add(100 * time.Millisecond), Params: map[string]any{"inbox": "support", "unread": int64(3)}},
			{Kind: "action", Type: "search", Time: base.Add(3500 * time.Millisecond), AgentID: researcher, AgentName: "researcher", Returns: "3 hits"},
			{Kind: "error", Type: "send_failed", Time: base.Add(7500 * time.Millisecond), AgentID: writer, AgentName: "writer", ErrorType: "*smtp.Error", Message: "550 mailbox unavailable"},
		},
		TraceURL: "http://jaeger:16686/trace/0000000000c0ffee0000000000000001",
	}
}

// rootless is the record of testgen.Golden without its root span.
func rootless(reason string, emitted time.Duration) record.Record {
	r := goldenRecord(0, reason, emitted)
	r.Name, r.Tags = "", []string{}
	r.Complete = false
	r.EndState, r.EndReason = "Indeterminate", "session root span not received"
	r.EventsRefused = 0 // stated on the session span only
	r.StartTime = testgen.Base.Add(time.Second)
	r.EndTime = testgen.Base.Add(9 * time.Second)
	r.DurationMs = 8000
	r.SpanCount = 7
	r.Counts.Events = 0
	r.Events = r.Events[1:]
	return r
}

// step is one call on the assembler at t0+at.
type step struct {
	at    time.Duration
	add   []ptrace.Traces
	tick  bool
	drain bool
}

func run(t *testing.T, cfg Config, steps []step) (Result, *Assembler) {
	t.Helper()
	a := New(cfg)
	var total Result
	merge := func(r Result) {
		total.Records = append(total.Records, r.Records...)
		total.IgnoredTraces += r.IgnoredTraces
		total.IgnoredSpans += r.IgnoredSpans
		total.DuplicateSpans += r.DuplicateSpans
		total.MalformedSpans += r.MalformedSpans
		total.BadTimestamps += r.BadTimestamps
		total.LateSpans += r.LateSpans
		total.ReleasedRetained += r.ReleasedRetained
		total.TruncatedValues += r.TruncatedValues
		total.DroppedEvents += r.DroppedEvents
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		for _, td := range s.add {
			merge(a.Add(td, now))
		}
		if s.tick {
			merge(a.Tick(now))
		}
		if s.drain {
			merge(a.Drain(now))
		}
	}
	return total, a
}

func parts() []ptrace.Traces { return testgen.Split(testgen.Golden()) }

func without(ps []ptrace.Traces, idx ...int) []ptrace.Traces {
	drop := map[int]bool{}
	for _, i := range idx {
		drop[i] = true
	}
	var out []ptrace.Traces
	for i, p := range ps {
		if !drop[i] {
			out = append(out, p)
		}
	}
	return out
}

func TestAssembler(t *testing.T) {
	ps := parts()
	lateChild := ps[6] // the HTTP span, no crewtrace attributes
	limited := testConfig()
	limited.MaxSessions = 2
	spanLimited := testConfig()
	spanLimited.MaxSpans = 10
	withRootless := testConfig()
	withRootless.IncludeRootless = true

	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  Result
	}{
		{
			name: "in order, one batch",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: []ptrace.Traces{testgen.Golden()}},
				{at: grace - time.Nanosecond, tick: true},
				{at: grace, tick: true},
			},
			want: Result{Records: []record.Record{goldenRecord(0, record.FlushGracePeriod, grace)}},
		},
		{
			name: "in order, span by span over time: grace counts from the last span",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: ps[:4]},
				{at: 3 * time.Second, tick: true},
				{at: 4 * time.Second, add: ps[4:]},
				{at: 4*time.Second + grace - time.Nanosecond, tick: true},
				{at: 4*time.Second + grace, tick: true},
			},
			want: Result{Records: []record.Record{goldenRecord(0, record.FlushGracePeriod, 4*time.Second+grace)}},
		},
		{
			name: "reversed",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: testgen.Reverse(ps)},
				{at: grace, tick: true},
			},
			want: Result{Records: []record.Record{goldenRecord(0, record.FlushGracePeriod, grace)}},
		},
		{
			name: "shuffled",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: testgen.Shuffle(ps, 42)},
				{at: grace, tick: true},
			},
			want: Result{Records: []record.Record{goldenRecord(0, record.FlushGracePeriod, grace)}},
		},
		{
			name: "duplicated spans are counted once",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: append(append([]ptrace.Traces{}, ps...), testgen.Shuffle(ps, 7)...)},
				{at: time.Second, add: []ptrace.Traces{testgen.Golden()}},
				{at: time.Second + grace, tick: true},
			},
			want: Result{
				Records:        []record.Record{goldenRecord(0, record.FlushGracePeriod, time.Second+grace)},
				DuplicateSpans: 16,
			},
		},
		{
			name: "root missing: incomplete record after session_timeout",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: ps[1:]},
				{at: grace, tick: true},
				{at: timeout - time.Nanosecond, tick: true},
				{at: timeout, tick: true},
			},
			want: Result{Records: []record.Record{rootless(record.FlushSessionTimeout, timeout)}},
		},
		{
			name: "late root revises an incomplete record",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: ps[1:]},
				{at: timeout, tick: true},
				{at: timeout + time.Second, add: ps[:1]},
				{at: timeout + time.Second + grace, tick: true},
			},
			want: Result{Records: []record.Record{
				rootless(record.FlushSessionTimeout, timeout),
				goldenRecord(1, record.FlushGracePeriod, timeout+time.Second+grace),
			}},
		},
		{
			name: "late span after emit: revision 1 of the same session, duplicates do not revise",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: without(ps, 6)},
				{at: grace, tick: true},
				{at: 10 * time.Second, add: []ptrace.Traces{lateChild, ps[0]}},
				{at: 10*time.Second + grace, tick: true},
				{at: 20 * time.Second, add: []ptrace.Traces{lateChild}},
				{at: 30 * time.Second, tick: true},
			},
			want: Result{
				Records: []record.Record{
					func() record.Record {
						r := goldenRecord(0, record.FlushGracePeriod, grace)
						r.SpanCount, r.Agents[1].SpanCount = 7, 3
						return r
					}(),
					goldenRecord(1, record.FlushGracePeriod, 10*time.Second+grace),
				},
				DuplicateSpans: 2,
			},
		},
		{
			name: "late span after the retention window is dropped and counted",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: without(ps, 6)},
				{at: grace, tick: true},
				{at: grace + timeout - time.Nanosecond, tick: true},
				{at: grace + timeout, tick: true},
				{at: grace + timeout + time.Second, add: []ptrace.Traces{lateChild}},
				{at: 3 * timeout, tick: true},
			},
			want: Result{
				Records: []record.Record{func() record.Record {
					r := goldenRecord(0, record.FlushGracePeriod, grace)
					r.SpanCount, r.Agents[1].SpanCount = 7, 3
					return r
				}()},
				LateSpans: 1,
			},
		},
		{
			name: "max_sessions reached: oldest flushed as partial, its late spans counted",
			cfg:  limited,
			steps: []step{
				{at: 0, add: without(ps, 6)},
				{at: time.Second, add: []ptrace.Traces{testgen.Session(1, 3)}},
				{at: 2 * time.Second, add: []ptrace.Traces{testgen.Foreign(2, 2)}},
				{at: 3 * time.Second, add: []ptrace.Traces{lateChild}},
			},
			want: Result{
				Records: []record.Record{func() record.Record {
					r := goldenRecord(0, record.FlushLimit, 2*time.Second)
					r.SpanCount, r.Agents[1].SpanCount = 7, 3
					return r
				}()},
				LateSpans: 1,
			},
		},
		{
			name: "max_spans reached: retained sessions released first, then the oldest flushed",
			cfg:  spanLimited,
			steps: []step{
				{at: 0, add: []ptrace.Traces{testgen.Golden()}},
				{at: grace, tick: true},
				{at: grace, add: []ptrace.Traces{testgen.Session(1, 6)}},
				{at: grace + time.Second, add: []ptrace.Traces{testgen.Session(2, 6)}},
			},
			want: Result{
				Records: []record.Record{
					goldenRecord(0, record.FlushGracePeriod, grace),
					sessionRecord(1, 6, record.FlushLimit, grace+time.Second),
				},
				ReleasedRetained: 1,
			},
		},
		{
			name: "foreign trace ignored and counted",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: []ptrace.Traces{testgen.Foreign(3, 4)}},
				{at: timeout, tick: true},
			},
			want: Result{IgnoredTraces: 1, IgnoredSpans: 4},
		},
		{
			name: "foreign trace emitted with include_rootless",
			cfg:  withRootless,
			steps: []step{
				{at: 0, add: []ptrace.Traces{testgen.Foreign(3, 2)}},
				{at: timeout, tick: true},
			},
			want: Result{Records: []record.Record{{
				SchemaVersion: record.SchemaVersion, SessionID: "0000000000c0ffee0000000000000004", TraceID: "0000000000c0ffee0000000000000004",
				Tags: []string{}, StartTime: testgen.Base, EndTime: testgen.Base.Add(2 * time.Millisecond), DurationMs: 2,
				EndState: "Indeterminate", EndReason: "session root span not received", FlushReason: record.FlushSessionTimeout,
				EmittedAt: t0.Add(timeout), Resource: map[string]any{"service.name": "other-service"}, SpanCount: 2,
				Agents: []record.Agent{}, Models: []record.Model{}, Tools: []record.Tool{}, Events: []record.Event{},
				TraceURL: "http://jaeger:16686/trace/0000000000c0ffee0000000000000004",
			}}},
		},
		{
			name: "shutdown drains pending sessions as partial, ignores foreign ones",
			cfg:  testConfig(),
			steps: []step{
				{at: 0, add: []ptrace.Traces{testgen.Golden(), testgen.Foreign(3, 1)}},
				{at: time.Second, drain: true},
			},
			want: Result{
				Records:       []record.Record{goldenRecord(0, record.FlushShutdown, time.Second)},
				IgnoredTraces: 1, IgnoredSpans: 1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := run(t, tt.cfg, tt.steps)
			assert.Equal(t, tt.want, got)
		})
	}
}

// sessionRecord is the exact record of testgen.Session(i, n) for n == 6.
func sessionRecord(i, n int, reason string, emitted time.Duration) record.Record {
	require := func(b bool) {
		if !b {
			panic("sessionRecord supports n == 6 only")
		}
	}
	require(n == 6)
	off := time.Duration(i) * time.Millisecond
	base := testgen.Base.Add(off)
	agentID := testgen.AgentID(i, 0)
	tid := testgen.TraceID(i)
	return record.Record{
		SchemaVersion: record.SchemaVersion, SessionID: testgen.SessionID(i), TraceID: tid.String(), Source: "crewtrace", Name: "bench", Tags: []string{},
		StartTime: base, EndTime: base.Add(70 * time.Millisecond), DurationMs: 70,
		EndState: "Success", Complete: true, FlushReason: reason, EmittedAt: t0.Add(emitted),
		Resource: map[string]any{"service.name": "bench-crew"}, SpanCount: 6,
		Counts: record.Counts{Agents: 1, LLMCalls: 2, ToolCalls: 2, Actions: 2},
		Tokens: record.Tokens{Input: 200, Output: 40, Total: 240},
		Agents: []record.Agent{{ID: agentID, Name: "agent-0", SpanCount: 5, LLMCalls: 2, ToolCalls: 2, Tokens: record.Tokens{Input: 200, Output: 40, Total: 240}}},
		Models: []record.Model{{Provider: "openai", Model: "gpt-4o", LLMCalls: 2, Tokens: record.Tokens{Input: 200, Output: 40, Total: 240}}},
		Tools:  []record.Tool{{Name: "search", Calls: 2}},
		Events: []record.Event{
			{Kind: "action", Type: "lookup", Time: base.Add(32500 * time.Microsecond), AgentID: agentID, AgentName: "agent-0", Params: map[string]any{"query": "q"}},
			{Kind: "action", Type: "lookup", Time: base.Add(52500 * time.Microsecond), AgentID: agentID, AgentName: "agent-0", Params: map[string]any{"query": "q"}},
		},
		TraceURL: "http://jaeger:16686/trace/" + tid.String(),
	}
}

func TestGeneratedSession(t *testing.T) {
	got, _ := run(t, testConfig(), []step{
		{at: 0, add: []ptrace.Traces{testgen.Session(5, 6)}},
		{at: grace, tick: true},
	})
	assert.Equal(t, Result{Records: []record.Record{sessionRecord(5, 6, record.FlushGracePeriod, grace)}}, got)
}

func TestBuffered(t *testing.T) {
	a := New(testConfig())
	a.Add(testgen.Golden(), t0)
	a.Add(testgen.Foreign(1, 3), t0)
	sessions, spans := a.Buffered()
	assert.Equal(t, 2, sessions)
	assert.Equal(t, 11, spans)
	a.Tick(t0.Add(grace)) // golden emitted, retained
	sessions, spans = a.Buffered()
	assert.Equal(t, 2, sessions)
	assert.Equal(t, 11, spans)
	a.Tick(t0.Add(timeout)) // foreign ignored
	sessions, spans = a.Buffered()
	assert.Equal(t, 1, sessions)
	assert.Equal(t, 8, spans)
	a.Tick(t0.Add(grace + timeout)) // golden released after its retention window
	sessions, spans = a.Buffered()
	assert.Zero(t, sessions)
	assert.Zero(t, spans)
}

// Malformed input is counted, never a crash.
func TestMalformedSpans(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	spans.AppendEmpty() // no IDs at all
	noSpanID := spans.AppendEmpty()
	noSpanID.SetTraceID(testgen.TraceID(9))
	backwards := spans.AppendEmpty()
	backwards.SetTraceID(testgen.TraceID(9))
	backwards.SetSpanID(testgen.SpanID(9, 1))
	backwards.SetStartTimestamp(pcommon.NewTimestampFromTime(testgen.Base.Add(time.Second)))
	backwards.SetEndTimestamp(pcommon.NewTimestampFromTime(testgen.Base))
	backwards.Attributes().PutStr(string(semconv.SessionIDKey), "s-9")
	absurd := spans.AppendEmpty()
	absurd.SetTraceID(testgen.TraceID(9))
	absurd.SetSpanID(testgen.SpanID(9, 2))
	absurd.SetParentSpanID(testgen.SpanID(9, 2)) // its own parent
	absurd.SetStartTimestamp(1)
	absurd.SetEndTimestamp(pcommon.Timestamp(^uint64(0)))
	absurd.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindSession)
	absurd.Attributes().PutInt(string(semconv.InputTokensKey), -5)
	absurd.Attributes().PutStr(string(semconv.SessionTagsKey), "solo")
	ev := absurd.Events().AppendEmpty()
	ev.SetTimestamp(pcommon.Timestamp(^uint64(0)))
	ev.Attributes().PutStr(string(semconv.EventKindKey), "bogus")

	got, a := run(t, testConfig(), []step{{at: 0, add: []ptrace.Traces{td}}, {at: grace, tick: true}})
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	assert.Equal(t, 2, got.MalformedSpans)
	assert.Equal(t, 2, got.BadTimestamps)
	assert.Equal(t, "s-9", r.SessionID)
	assert.True(t, r.Complete)
	assert.Equal(t, []string{"solo"}, r.Tags)
	assert.True(t, r.StartTime.IsZero(), "no usable time: zero start")
	assert.Zero(t, r.DurationMs)
	require.Len(t, r.Events, 1)
	assert.True(t, r.Events[0].Time.IsZero())
	sessions, _ := a.Buffered()
	assert.Equal(t, 1, sessions, "emitted session is retained for revisions")
}

// A cycle in parent links must not hang agent attribution.
func TestParentCycle(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for j := 0; j < 3; j++ {
		s := spans.AppendEmpty()
		s.SetTraceID(testgen.TraceID(1))
		s.SetSpanID(testgen.SpanID(1, j))
		s.SetParentSpanID(testgen.SpanID(1, (j+1)%3))
		s.Attributes().PutStr(string(semconv.SessionIDKey), "cyc")
	}
	got, _ := run(t, testConfig(), []step{{at: 0, add: []ptrace.Traces{td}}, {at: timeout, tick: true}})
	require.Len(t, got.Records, 1)
	assert.Equal(t, 3, got.Records[0].SpanCount)
	assert.Empty(t, got.Records[0].Agents)
}

// Many spans in one session switch dedup from a scan to an index.
func TestLargeSessionDedup(t *testing.T) {
	td := testgen.Session(1, 200)
	got, _ := run(t, testConfig(), []step{
		{at: 0, add: []ptrace.Traces{td, td}},
		{at: grace, tick: true},
	})
	require.Len(t, got.Records, 1)
	assert.Equal(t, 200, got.Records[0].SpanCount)
	assert.Equal(t, 200, got.DuplicateSpans)
}

// The normaliser's kinds map to the assembler's: only crewtrace's session
// span is a session root by itself; another convention's workflow span makes
// its trace a session without being its root.
func TestKindOf(t *testing.T) {
	for _, tt := range []struct {
		kind dialect.Kind
		src  dialect.Source
		want uint8
	}{
		{dialect.KindRoot, dialect.SourceCrewtrace, kindSession},
		{dialect.KindRoot, dialect.SourceGenAI, kindWorkflow},
		{dialect.KindRoot, dialect.SourceOpenLLMetry, kindWorkflow},
		{dialect.KindAgent, dialect.SourceOpenInference, kindAgent},
		{dialect.KindLLM, dialect.SourceVercelAI, kindLLM},
		{dialect.KindTool, dialect.SourceLangfuse, kindTool},
		{dialect.KindOther, dialect.SourceNone, kindOther},
	} {
		assert.Equal(t, tt.want, kindOf(tt.kind, tt.src), "%v / %v", tt.kind, tt.src)
	}
}

// A request holding several processes' spans (one ResourceSpans each) gives
// each session the resource of the ResourceSpans its spans came in, and a
// resource value cut to MaxValueBytes counts as cut in every session that
// keeps it, however many share the read.
func TestResourcePerResourceSpans(t *testing.T) {
	cfg := testConfig()
	cfg.MaxValueBytes = MinValueBytes
	long := strings.Repeat("r", 2*MinValueBytes)
	var parts []ptrace.Traces
	for i := range 4 {
		td := testgen.Session(i, 3)
		attrs := td.ResourceSpans().At(0).Resource().Attributes()
		attrs.PutStr("service.name", fmt.Sprintf("crew-%d", i%2))
		if i%2 == 1 {
			attrs.PutStr("host.name", long)
		}
		parts = append(parts, td)
	}
	// Sessions 0 and 2 in one ResourceSpans, 1 and 3 in another.
	td := ptrace.NewTraces()
	for _, pair := range [][2]int{{0, 2}, {1, 3}} {
		rs := td.ResourceSpans().AppendEmpty()
		parts[pair[0]].ResourceSpans().At(0).CopyTo(rs)
		parts[pair[1]].ResourceSpans().At(0).ScopeSpans().MoveAndAppendTo(rs.ScopeSpans())
	}
	a := New(cfg)
	res := a.Add(td, t0)
	assert.Equal(t, 2, res.TruncatedValues, "the cut host.name, once per session keeping it")
	out := a.Tick(t0.Add(grace))
	require.Len(t, out.Records, 4)
	for _, r := range out.Records {
		var i int
		_, err := fmt.Sscanf(r.SessionID[len(r.SessionID)-12:], "%x", &i)
		require.NoError(t, err)
		i--
		assert.Equal(t, fmt.Sprintf("crew-%d", i%2), r.Resource["service.name"], r.SessionID)
		if i%2 == 1 {
			require.NotNil(t, r.Truncated, r.SessionID)
			assert.Equal(t, 1, r.Truncated.Values, r.SessionID)
			assert.Len(t, r.Resource["host.name"], MinValueBytes, r.SessionID)
		} else {
			assert.Nil(t, r.Truncated, r.SessionID)
			assert.NotContains(t, r.Resource, "host.name", r.SessionID)
		}
	}
}
