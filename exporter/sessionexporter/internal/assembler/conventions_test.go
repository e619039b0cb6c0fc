package assembler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// sb builds the spans of one trace written by another convention.
type sb struct {
	td    ptrace.Traces
	spans ptrace.SpanSlice
	trace int
}

func newTrace(trace int, service string) *sb {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	return &sb{td: td, spans: rs.ScopeSpans().AppendEmpty().Spans(), trace: trace}
}

// add appends span j (parent p, -1 for none) from ms to ms+dur ms after
// testgen.Base, with attrs (string or int values).
func (b *sb) add(j, p int, name string, ms, dur int, attrs map[string]any) ptrace.Span {
	s := b.spans.AppendEmpty()
	s.SetTraceID(testgen.TraceID(b.trace))
	s.SetSpanID(testgen.SpanID(b.trace, j))
	if p >= 0 {
		s.SetParentSpanID(testgen.SpanID(b.trace, p))
	}
	s.SetName(name)
	start := testgen.Base.Add(time.Duration(ms) * time.Millisecond)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(dur) * time.Millisecond)))
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			s.Attributes().PutStr(k, v)
		case int:
			s.Attributes().PutInt(k, int64(v))
		}
	}
	return s
}

// genAIOnly is a session written by a client that speaks only the OTel
// GenAI conventions: a root invoke_workflow with gen_ai.conversation.id,
// two invoke_agent children, chat and execute_tool spans with tokens.
func genAIOnly(trace int, conv string, failTool bool) ptrace.Traces {
	b := newTrace(trace, "genai-client")
	b.add(0, -1, "invoke_workflow trip-planner", 0, 1000, map[string]any{
		"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "trip-planner", "gen_ai.conversation.id": conv,
	})
	b.add(1, 0, "invoke_agent flights", 10, 400, map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "flights", "gen_ai.agent.id": "asst_flights", "gen_ai.conversation.id": conv,
	})
	b.add(2, 1, "chat gpt-4o", 20, 100, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 64,
	})
	tool := b.add(3, 1, "execute_tool search_flights", 130, 50, map[string]any{
		"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_flights",
	})
	if failTool {
		tool.Status().SetCode(ptrace.StatusCodeError)
		tool.Status().SetMessage("upstream timeout")
	}
	b.add(4, 0, "invoke_agent hotels", 500, 400, map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "hotels",
	})
	b.add(5, 4, "chat claude", 510, 100, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.response.model": "claude-sonnet-4",
		"gen_ai.usage.input_tokens": 80, "gen_ai.usage.output_tokens": 20, "gen_ai.usage.reasoning.output_tokens": 5,
	})
	b.add(6, 4, "execute_tool book_hotel", 620, 50, map[string]any{
		"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "book_hotel",
	})
	return b.td
}

// A client that speaks only the GenAI conventions gets one correct record
// per session, read from its own keys.
func TestGenAIOnlySession(t *testing.T) {
	got, _ := run(t, testConfig(), []step{
		{at: 0, add: testgen.Split(genAIOnly(1, "conv-42", true))},
		{at: grace, tick: true},
	})
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	tid := testgen.TraceID(1).String()
	assert.Equal(t, record.Record{
		SchemaVersion: record.SchemaVersion, SessionID: "conv-42", TraceID: tid, Source: "otel_genai",
		Name: "trip-planner", Tags: []string{}, StartTime: testgen.Base, EndTime: testgen.Base.Add(time.Second), DurationMs: 1000,
		EndState: "Success", Complete: true, FlushReason: record.FlushGracePeriod, EmittedAt: t0.Add(grace),
		Resource: map[string]any{"service.name": "genai-client"}, SpanCount: 7,
		Counts: record.Counts{Agents: 2, LLMCalls: 2, ToolCalls: 2, Errors: 1},
		Tokens: record.Tokens{Input: 200, Output: 50, Total: 250, CacheRead: 64, Reasoning: 5},
		Agents: []record.Agent{
			{ID: "asst_flights", Name: "flights", SpanCount: 3, LLMCalls: 1, ToolCalls: 1, Errors: 1,
				Tokens: record.Tokens{Input: 120, Output: 30, Total: 150, CacheRead: 64}},
			{Name: "hotels", SpanCount: 3, LLMCalls: 1, ToolCalls: 1, Tokens: record.Tokens{Input: 80, Output: 20, Total: 100, Reasoning: 5}},
		},
		Models: []record.Model{
			{Provider: "openai", Model: "gpt-4o", LLMCalls: 1, Tokens: record.Tokens{Input: 120, Output: 30, Total: 150, CacheRead: 64}},
			{Provider: "anthropic", Model: "claude-sonnet-4", LLMCalls: 1, Tokens: record.Tokens{Input: 80, Output: 20, Total: 100, Reasoning: 5}},
		},
		Tools:    []record.Tool{{Name: "search_flights", Calls: 1, Errors: 1}, {Name: "book_hotel", Calls: 1}},
		Events:   []record.Event{},
		TraceURL: "http://jaeger:16686/trace/" + tid,
	}, r)
}

// Traces that share a session ID are one session: each trace is its own
// record (per-trace state only), all with that session ID.
func TestSessionOverSeveralTraces(t *testing.T) {
	var steps []step
	for turn := range 3 {
		steps = append(steps, step{at: time.Duration(turn) * time.Second, add: []ptrace.Traces{genAIOnly(10+turn, "chat-1", false)}})
	}
	steps = append(steps, step{at: 2*time.Second + grace, tick: true})
	got, a := run(t, testConfig(), steps)
	require.Len(t, got.Records, 3)
	traces := map[string]bool{}
	for _, r := range got.Records {
		assert.Equal(t, "chat-1", r.SessionID)
		assert.Equal(t, 0, r.Revision, "each trace has its own revisions")
		assert.True(t, r.Complete)
		traces[r.TraceID] = true
	}
	assert.Len(t, traces, 3)
	n, _ := a.Buffered()
	assert.Equal(t, 3, n, "one state per trace, retained for revisions")
}

// End state of a session another convention wrote: Fail when its root span
// or an agent span failed (the first agent to start), with that span's error
// as the reason; else Success. Errors of other spans count as errors only.
func TestForeignEndState(t *testing.T) {
	for _, tt := range []struct {
		name          string
		rootErr       string
		agentErr      [2]string
		state, reason string
	}{
		{"success", "", [2]string{}, "Success", ""},
		{"root failed", "budget exceeded", [2]string{"", "x"}, "Fail", "budget exceeded"},
		{"an agent failed", "", [2]string{"", "no rooms"}, "Fail", "agent hotels: no rooms"},
		{"the first agent to fail", "", [2]string{"no flights", "no rooms"}, "Fail", "agent flights: no flights"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			td := genAIOnly(2, "c", false)
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for i, msg := range []string{tt.rootErr, tt.agentErr[0], "", "", tt.agentErr[1]} {
				if msg != "" {
					spans.At(i).Status().SetCode(ptrace.StatusCodeError)
					spans.At(i).Status().SetMessage(msg)
				}
			}
			got, _ := run(t, testConfig(), []step{{at: 0, add: []ptrace.Traces{td}}, {at: grace, tick: true}})
			require.Len(t, got.Records, 1)
			assert.Equal(t, tt.state, got.Records[0].EndState)
			assert.Equal(t, tt.reason, got.Records[0].EndReason)
		})
	}
}

// A trace root in no convention is the session's root once any span makes
// the trace a session — also when that span comes after the root and after
// the grace period; a trace that never looks like a session is ignored and
// counted after the session timeout, as before.
func TestTraceRootBecomesSessionRoot(t *testing.T) {
	root := newTrace(3, "web")
	root.add(0, -1, "POST /chat", 0, 900, map[string]any{"http.method": "POST"})
	child := newTrace(3, "web")
	child.add(1, 0, "ai.generateText.doGenerate", 100, 500, map[string]any{
		"ai.operationId": "ai.generateText.doGenerate", "ai.usage.inputTokens": 10, "ai.usage.outputTokens": 2,
		"ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat",
	})
	noise := newTrace(4, "web")
	noise.add(0, -1, "GET /health", 0, 1, nil)

	got, _ := run(t, testConfig(), []step{
		{at: 0, add: []ptrace.Traces{root.td, noise.td}},
		{at: 2 * grace, tick: true},
		{at: 3 * grace, add: []ptrace.Traces{child.td}},
		{at: 4 * grace, tick: true},
		{at: timeout + time.Second, tick: true},
	})
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	assert.Equal(t, "POST /chat", r.Name)
	assert.True(t, r.Complete)
	assert.Equal(t, "vercel_ai", r.Source)
	assert.Equal(t, "Success", r.EndState)
	assert.Equal(t, testgen.TraceID(3).String(), r.SessionID, "no session ID: the trace ID")
	assert.Equal(t, []record.Model{{Provider: "openai", Model: "gpt-4o-mini", LLMCalls: 1, Tokens: record.Tokens{Input: 10, Output: 2, Total: 12}}}, r.Models)
	assert.Equal(t, 1, got.IgnoredTraces, "the health check")
	assert.Equal(t, 1, got.IgnoredSpans)
}

// The root's session ID wins when the spans of a trace disagree; a root
// without one takes the first a span carries.
func TestSessionIDFromRoot(t *testing.T) {
	b := newTrace(5, "x")
	b.add(1, 0, "child", 10, 10, map[string]any{"openinference.span.kind": "LLM", "session.id": "from-child"})
	b.add(0, -1, "root", 0, 100, map[string]any{"openinference.span.kind": "CHAIN", "session.id": "from-root"})
	b.add(2, 0, "child2", 20, 10, map[string]any{"openinference.span.kind": "TOOL", "session.id": "other"})
	c := newTrace(6, "x")
	c.add(1, 0, "child", 10, 10, map[string]any{"langfuse.observation.type": "tool", "session.id": "from-child"})
	c.add(0, -1, "root", 0, 100, map[string]any{"langfuse.observation.type": "span"})
	got, _ := run(t, testConfig(), []step{{at: 0, add: []ptrace.Traces{b.td, c.td}}, {at: grace, tick: true}})
	require.Len(t, got.Records, 2)
	ids := map[string]string{}
	for _, r := range got.Records {
		ids[r.TraceID] = r.SessionID
	}
	assert.Equal(t, "from-root", ids[testgen.TraceID(5).String()])
	assert.Equal(t, "from-child", ids[testgen.TraceID(6).String()])
}

// An agent at the root names the session; the models of a session are
// bounded (a client cannot grow the list without bound).
func TestAgentRootAndModelBound(t *testing.T) {
	b := newTrace(7, "x")
	b.add(0, -1, "invoke_agent concierge", 0, 5000, map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "concierge", "gen_ai.conversation.id": "c-7",
	})
	for j := 1; j <= maxModels+6; j++ {
		b.add(j, 0, "chat", j, 1, map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.request.model": "m" + string(rune('A'+j%26)) + string(rune('a'+j/26)),
			"gen_ai.usage.input_tokens": 1,
		})
	}
	got, _ := run(t, testConfig(), []step{{at: 0, add: []ptrace.Traces{b.td}}, {at: grace, tick: true}})
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	assert.Equal(t, "concierge", r.Name)
	assert.Equal(t, "c-7", r.SessionID)
	assert.Len(t, r.Models, maxModels)
	assert.Equal(t, maxModels+6, r.Counts.LLMCalls, "calls beyond the bound still count")
	assert.Equal(t, int64(maxModels+6), r.Tokens.Input)
	assert.Equal(t, []record.Agent{{Name: "concierge", SpanCount: maxModels + 7, LLMCalls: maxModels + 6,
		Tokens: record.Tokens{Input: maxModels + 6, Total: maxModels + 6}}}, r.Agents)
}
