package assembler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// The span list holds every span of the golden session, in order of start,
// whatever order the spans arrived in, with each span's events and agent.
func TestSpanListInAnyArrivalOrder(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecordSpans = 100
	want, _ := emitOne(t, cfg, testgen.Golden())
	require.Len(t, want.Spans, want.SpanCount)
	assert.Nil(t, want.Truncated)
	for i, sp := range want.Spans {
		if i > 0 {
			assert.GreaterOrEqual(t, sp.StartUs, want.Spans[i-1].StartUs)
		}
		for _, e := range sp.Events {
			ev := want.Events[e]
			if sp.Agent >= 0 {
				assert.Equal(t, want.Agents[sp.Agent].ID, ev.AgentID, "an event's agent is its span's")
			}
		}
	}
	assert.Equal(t, record.SpanSession, want.Spans[0].Kind)
	assert.Empty(t, want.Spans[0].ParentID)
	assert.Equal(t, []int{0}, want.Spans[0].Events)

	for seed := range uint64(5) {
		a := New(cfg)
		for _, p := range testgen.Shuffle(testgen.Split(testgen.Golden()), seed) {
			a.Add(p, t0)
		}
		got := a.Tick(t0.Add(grace)).Records
		require.Len(t, got, 1)
		assert.Equal(t, want.Spans, got[0].Spans, "seed %d", seed)
	}
}

// Beyond max_record_spans the root, the agents and the calls are kept
// before other spans, and the rest is counted in truncated.spans.
func TestSpanListCutKeepsRootAgentsAndCallsFirst(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecordSpans = 7 // the golden session has 8 spans, one of them "other" (HTTP POST)
	r, _ := emitOne(t, cfg, testgen.Golden())
	require.Len(t, r.Spans, 7)
	require.NotNil(t, r.Truncated)
	assert.Equal(t, record.Truncated{Spans: 1}, *r.Truncated)
	for _, sp := range r.Spans {
		assert.NotEqual(t, record.SpanOther, sp.Kind, "the other span is the one cut")
	}

	cfg.MaxRecordSpans = 1
	r, _ = emitOne(t, cfg, testgen.Golden())
	require.Len(t, r.Spans, 1)
	assert.Equal(t, record.SpanSession, r.Spans[0].Kind, "the root is kept first")
	assert.Equal(t, 7, r.Truncated.Spans)

	cfg.MaxRecordSpans = 0
	r, _ = emitOne(t, cfg, testgen.Golden())
	assert.Nil(t, r.Spans, "0 lists no span")
	assert.Nil(t, r.Truncated, "and cuts nothing")
}

// The span list carries what a waterfall shows of each kind: the LLM
// call's model and tokens, the tool's name, a failed span's message.
func TestSpanListFields(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecordSpans = 100
	r, _ := emitOne(t, cfg, testgen.Golden())
	byName := map[string]record.Span{}
	for _, sp := range r.Spans {
		byName[sp.Name] = sp
	}
	llm := byName["chat gpt-4o"]
	assert.Equal(t, record.SpanLLM, llm.Kind)
	assert.Equal(t, "gpt-4o", llm.Model)
	require.NotNil(t, llm.Tokens)
	assert.Equal(t, record.Tokens{Input: 100, Output: 20, Total: 120}, *llm.Tokens)
	assert.Equal(t, byName["invoke_agent researcher"].ID, llm.ParentID)
	assert.Equal(t, 0, llm.Agent)
	assert.Equal(t, int64(1_000_000), llm.DurationUs)

	send := byName["execute_tool send"]
	assert.Equal(t, "send", send.Tool)
	assert.True(t, send.Error)
	assert.Equal(t, "smtp: 550", send.Message)
	assert.Equal(t, 1, send.Agent)
	assert.Equal(t, -1, byName["session triage"].Agent)
	assert.Equal(t, int64(2), r.EventsRefused, "crewtrace.session.events_refused from the session span")
}
