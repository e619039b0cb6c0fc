package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/semconv"
)

// sessions is how many sessions the crew runs, all at once.
const sessions = 25

// TestCrewToRecordsAndJaeger runs the example crew with 25 concurrent
// sessions through the real collector into the real Jaeger and checks, per
// session, (a) the session record against the crew's ground truth, (b) the
// trace Jaeger serves (span tree and events) and (c) the record's trace_url.
func TestCrewToRecordsAndJaeger(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=1s",
			harness.EnvSessionTimeout + "=30s",
			harness.EnvLogLevel + "=debug",
		},
	})
	env.runCrew(t, ctx, stack,
		"-tasks", strconv.Itoa(sessions), "-concurrency", strconv.Itoa(sessions),
		"-seed", "20261126", "-truth", env.truthPath())

	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, sessions, "the crew's ground truth")

	// (a) one record per session, matching the truth.
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	for _, tr := range truth {
		t.Run("record/"+tr.Name, func(t *testing.T) {
			checkRecord(t, tr, records[tr.SessionID])
		})
	}

	// (b) every trace in Jaeger, with the session's span tree and events.
	for _, tr := range truth {
		t.Run("jaeger/"+tr.Name, func(t *testing.T) {
			trace := waitForTrace(t, ctx, stack.Query, tr)
			checkSpanTree(t, tr, trace)
			checkErrorCounts(t, tr, trace, records[tr.SessionID])
		})
	}

	// (c) every trace_url points at that trace in this Jaeger.
	for _, tr := range truth {
		t.Run("trace_url/"+tr.Name, func(t *testing.T) {
			checkTraceURL(t, ctx, stack, tr, records[tr.SessionID])
		})
	}

	// The collector stops cleanly on SIGTERM (it drains first) and writes no
	// second record for any session on the way out.
	require.NoError(t, stack.Stop())
	all, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	assert.Len(t, all, sessions, "records after shutdown: one per session, no revision, nothing else")
}

func waitForRecords(t *testing.T, ctx context.Context, path string, truth []harness.Truth) map[string]harness.Record {
	t.Helper()
	want := map[string]bool{}
	for _, tr := range truth {
		want[tr.SessionID] = true
	}
	var latest map[string]harness.Record
	err := harness.Poll(ctx, "a record for each of the crew's sessions", func(context.Context) (bool, string, error) {
		recs, err := harness.ReadRecords(path)
		if err != nil {
			return false, "", err
		}
		latest = harness.Latest(recs)
		have := 0
		for id := range want {
			if _, ok := latest[id]; ok {
				have++
			}
		}
		return have == len(want), fmt.Sprintf("%d of %d sessions have a record", have, len(want)), nil
	})
	require.NoError(t, err)
	for id, r := range latest {
		assert.True(t, want[id], "record for a session the crew did not run: %s (%s)", id, r.Name)
	}
	return latest
}

func checkRecord(t *testing.T, tr harness.Truth, r harness.Record) {
	assert.Equal(t, 2, r.SchemaVersion, "schema_version")
	assert.Equal(t, tr.SessionID, r.SessionID, "session_id")
	assert.Equal(t, tr.TraceID, r.TraceID, "trace_id")
	assert.Equal(t, tr.Name, r.Name, "name")
	assert.Equal(t, tr.EndState, r.EndState, "end_state")
	assert.Equal(t, tr.EndReason, r.EndReason, "end_reason")
	assert.True(t, r.Complete, "complete")
	assert.Equal(t, "grace_period", r.FlushReason, "flush_reason: emitted after its grace period, not at a limit or shutdown")
	assert.Equal(t, tr.SpanCount, r.SpanCount, "span_count")
	assert.Equal(t, tr.EventCount, len(r.Events), "events")
	assert.ElementsMatch(t, truthEvents(tr.Events), recordEvents(r.Events), "events (kind, type, agent)")
	assert.Equal(t, tr.LLMCalls, r.Counts.LLMCalls, "counts.llm_calls")
	assert.Equal(t, tr.ToolCalls, r.Counts.ToolCalls, "counts.tool_calls")
	assert.Equal(t, tr.ErrorCount, r.Counts.Errors, "counts.errors: as the crew's errors= line says")
	assert.ElementsMatch(t, tr.Tags, r.Tags, "tags")
	assert.Equal(t, tr.InputTokens, r.Tokens.Input, "input tokens")
	assert.Equal(t, tr.OutputTokens, r.Tokens.Output, "output tokens")
	assert.Equal(t, tr.InputTokens+tr.OutputTokens, r.Tokens.Total, "total tokens")
	assert.Positive(t, r.DurationMs, "duration_ms")

	require.Len(t, r.Agents, len(tr.Agents), "agents")
	got := map[string]harness.RecordAgent{}
	for _, a := range r.Agents {
		got[a.ID] = a
	}
	var llm, tools int
	for _, want := range tr.Agents {
		a, ok := got[want.ID]
		if !assert.True(t, ok, "agent %s (%s) missing from the record", want.Name, want.ID) {
			continue
		}
		assert.Equal(t, want.Name, a.Name, "agent %s name", want.ID)
		assert.Equal(t, want.LLMCalls, a.LLMCalls, "agent %s llm_calls", want.Name)
		assert.Equal(t, want.ToolCalls, a.ToolCalls, "agent %s tool_calls", want.Name)
		assert.Equal(t, want.InputTokens, a.Tokens.Input, "agent %s input tokens", want.Name)
		assert.Equal(t, want.OutputTokens, a.Tokens.Output, "agent %s output tokens", want.Name)
		// The crew's truth counts errors by the exporter's rule (error events
		// plus error spans without one), from what the crew did: exactly the
		// record's. checkErrorCounts also derives them from the trace.
		assert.Equal(t, want.Errors, a.Errors, "agent %s errors", want.Name)
		llm += want.LLMCalls
		tools += want.ToolCalls
	}
	assert.Equal(t, len(tr.Agents), r.Counts.Agents, "counts.agents")
	assert.Equal(t, llm, tr.LLMCalls, "the truth's own per-agent and session LLM counts agree")
	assert.Equal(t, tools, tr.ToolCalls, "the truth's own per-agent and session tool counts agree")
}

// eventKey is what identifies an event across the truth and the record.
type eventKey struct{ Kind, Type, AgentID string }

func truthEvents(evs []harness.TruthEvent) []eventKey {
	out := make([]eventKey, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventKey{e.Kind, e.Type, e.AgentID})
	}
	return out
}

func recordEvents(evs []harness.RecordEvent) []eventKey {
	out := make([]eventKey, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventKey{e.Kind, e.Type, e.AgentID})
	}
	return out
}

// waitForTrace polls Jaeger until it holds all the session's spans: spans
// reach Jaeger in batches, so a trace can be found before it is whole.
func waitForTrace(t *testing.T, ctx context.Context, q *harness.JaegerClient, tr harness.Truth) harness.JaegerTrace {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var trace harness.JaegerTrace
	err := harness.Poll(ctx, "trace "+tr.TraceID+" in Jaeger", func(ctx context.Context) (bool, string, error) {
		got, err := q.Trace(ctx, tr.TraceID)
		if err != nil {
			return false, err.Error(), nil
		}
		trace = got
		return len(got.Spans) >= tr.SpanCount, fmt.Sprintf("%d of %d spans", len(got.Spans), tr.SpanCount), nil
	})
	require.NoError(t, err)
	return trace
}

func checkSpanTree(t *testing.T, tr harness.Truth, trace harness.JaegerTrace) {
	require.Len(t, trace.Spans, tr.SpanCount, "spans in Jaeger")
	byID := map[string]harness.JaegerSpan{}
	for _, s := range trace.Spans {
		byID[s.SpanID] = s
	}

	// The session root: no parent, named after the session, carrying its ID and end state.
	var roots []harness.JaegerSpan
	for _, s := range trace.Spans {
		if s.ParentID() == "" {
			roots = append(roots, s)
		}
	}
	require.Len(t, roots, 1, "one root span")
	rootSpan := roots[0]
	assert.Equal(t, semconv.SessionSpanName(tr.Name), rootSpan.OperationName, "root span name")
	assert.Equal(t, semconv.SpanKindSession, rootSpan.TagString(string(semconv.SpanKindKey)))
	assert.Equal(t, tr.SessionID, rootSpan.TagString(string(semconv.SessionIDKey)))
	assert.Equal(t, tr.EndState, rootSpan.TagString(string(semconv.SessionEndStateKey)))

	// Agents are children of the root; LLM and tool spans descend from their agent.
	agents := map[string]harness.TruthAgent{}
	for _, a := range tr.Agents {
		agents[a.ID] = a
	}
	agentSpan := map[string]string{} // span ID -> agent ID
	for _, s := range trace.Spans {
		if s.TagString(string(semconv.SpanKindKey)) != semconv.SpanKindAgent {
			continue
		}
		id := s.TagString(string(semconv.AgentIDKey))
		a, ok := agents[id]
		if !assert.True(t, ok, "agent span %q with unknown %s %q", s.OperationName, semconv.AgentIDKey, id) {
			continue
		}
		assert.Equal(t, rootSpan.SpanID, s.ParentID(), "agent %s is a child of the session root", a.Name)
		assert.Equal(t, semconv.AgentSpanName(a.Name), s.OperationName, "agent span name")
		agentSpan[s.SpanID] = id
	}
	assert.Len(t, agentSpan, len(tr.Agents), "agent spans")

	llm := map[string]int{}
	tools := map[string]int{}
	for _, s := range trace.Spans {
		kind := s.TagString(string(semconv.SpanKindKey))
		if kind != semconv.SpanKindLLM && kind != semconv.SpanKindTool {
			continue
		}
		agentID := ancestorAgent(s, byID, agentSpan)
		if !assert.NotEmpty(t, agentID, "%s span %q has no agent span above it", kind, s.OperationName) {
			continue
		}
		if kind == semconv.SpanKindLLM {
			llm[agentID]++
			assert.True(t, strings.HasPrefix(s.OperationName, semconv.ChatSpanPrefix+" ") || s.TagString(string(semconv.OperationNameKey)) != "",
				"LLM span %q follows the GenAI naming", s.OperationName)
			assert.NotEmpty(t, s.TagString(string(semconv.RequestModelKey)), "LLM span %q carries the model", s.OperationName)
		} else {
			tools[agentID]++
			assert.Equal(t, semconv.ToolSpanName(s.TagString(string(semconv.ToolNameKey))), s.OperationName, "tool span name")
		}
	}
	for _, a := range tr.Agents {
		assert.Equal(t, a.LLMCalls, llm[a.ID], "LLM spans under agent %s", a.Name)
		assert.Equal(t, a.ToolCalls, tools[a.ID], "tool spans under agent %s", a.Name)
	}

	// Session events are span events (Jaeger logs) marked with the event kind.
	events := 0
	for _, s := range trace.Spans {
		for _, l := range s.Logs {
			if _, ok := l.Field(string(semconv.EventKindKey)); ok {
				events++
			}
		}
	}
	assert.Equal(t, tr.EventCount, events, "session events among the spans' logs")
}

// checkErrorCounts checks the record's error counts against the trace, by
// the exporter's documented rule: an error is an error event, or a span
// (other than the session root) with status Error that carries no error event.
// The crew's truth, which counts by the same rule, must equal both; the error
// events themselves are checked against the truth's events.
func checkErrorCounts(t *testing.T, tr harness.Truth, trace harness.JaegerTrace, r harness.Record) {
	byID := map[string]harness.JaegerSpan{}
	agentSpan := map[string]string{}
	for _, s := range trace.Spans {
		byID[s.SpanID] = s
		if s.TagString(string(semconv.SpanKindKey)) == semconv.SpanKindAgent {
			agentSpan[s.SpanID] = s.TagString(string(semconv.AgentIDKey))
		}
	}
	want := map[string]int{} // agent ID ("" for the session) -> errors
	errorEvents := map[string]int{}
	total := 0
	for _, s := range trace.Spans {
		agentID := agentSpan[s.SpanID]
		if agentID == "" {
			agentID = ancestorAgent(s, byID, agentSpan)
		}
		events := 0
		for _, l := range s.Logs {
			if v, _ := l.Field(string(semconv.EventKindKey)); v == semconv.EventKindError {
				events++
			}
		}
		errs := events
		if events == 0 && s.ParentID() != "" && s.TagString("otel.status_code") == "ERROR" {
			errs = 1
		}
		want[agentID] += errs
		errorEvents[agentID] += events
		total += errs
	}
	assert.Equal(t, total, r.Counts.Errors, "counts.errors")
	assert.Equal(t, tr.ErrorCount, r.Counts.Errors, "counts.errors: the crew's truth (and its errors= line) and the record agree")
	for _, a := range r.Agents {
		assert.Equal(t, want[a.ID], a.Errors, "agent %s errors, by the rule, from the trace", a.Name)
	}
	truthEvents := map[string]int{} // agent ID -> error events the crew recorded
	for _, ev := range tr.Events {
		if ev.Kind == semconv.EventKindError {
			truthEvents[ev.AgentID]++
		}
	}
	for _, a := range tr.Agents {
		assert.Equal(t, a.Errors, want[a.ID], "agent %s: the crew's errors, by the rule, from the trace", a.Name)
		assert.Equal(t, truthEvents[a.ID], errorEvents[a.ID], "agent %s: the crew's error events are in the trace", a.Name)
	}
}

// ancestorAgent returns the agent ID of the nearest agent span above s.
func ancestorAgent(s harness.JaegerSpan, byID map[string]harness.JaegerSpan, agentSpan map[string]string) string {
	for seen := 0; seen < len(byID); seen++ {
		parent, ok := byID[s.ParentID()]
		if !ok {
			return ""
		}
		if id, ok := agentSpan[parent.SpanID]; ok {
			return id
		}
		s = parent
	}
	return ""
}

func checkTraceURL(t *testing.T, ctx context.Context, stack *harness.Stack, tr harness.Truth, r harness.Record) {
	require.NotEmpty(t, r.TraceURL, "trace_url")
	u, err := url.Parse(r.TraceURL)
	require.NoError(t, err)
	base, err := url.Parse(stack.JaegerUI)
	require.NoError(t, err)
	assert.Equal(t, base.Scheme, u.Scheme, "trace_url scheme")
	assert.Equal(t, base.Host, u.Host, "trace_url points at this Jaeger")
	id, ok := strings.CutPrefix(u.Path, "/trace/")
	require.True(t, ok, "trace_url path %q is Jaeger's /trace/<id>", u.Path)
	assert.Equal(t, tr.TraceID, id, "trace_url names the session's trace")

	// The same ID through the query API behind that UI route gives this session's trace.
	trace, err := (&harness.JaegerClient{BaseURL: u.Scheme + "://" + u.Host}).Trace(ctx, id)
	require.NoError(t, err)
	found := false
	for _, s := range trace.Spans {
		if s.ParentID() == "" && s.TagString(string(semconv.SessionIDKey)) == tr.SessionID {
			found = true
		}
	}
	assert.True(t, found, "the trace at trace_url has the session's root span")
}
