// Package testgen builds session traces with pdata directly, following the
// crewtrace attribute contract (package semconv), for the exporter's tests
// and benchmarks. Everything is deterministic: IDs and times derive from the
// arguments.
package testgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/semconv"
)

// Base is the start time of every generated session.
var Base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TraceID returns the trace ID of generated session i.
func TraceID(i int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0xc0ffee)
	binary.BigEndian.PutUint64(id[8:], uint64(i)+1)
	return id
}

// SpanID returns span j of generated session i.
func SpanID(i, j int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint32(id[:4], uint32(i)+1)
	binary.BigEndian.PutUint32(id[4:], uint32(j)+1)
	return id
}

// SessionID returns the session.id of generated session i (a UUID v4 shape).
func SessionID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", i+1)
}

// AgentID returns the gen_ai.agent.id of agent a of session i.
func AgentID(i, a int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", a+1, i+1)
}

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(Base.Add(d)) }

func newTraces(service string) (ptrace.Traces, ptrace.SpanSlice) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/crewtrace/crewtrace/otelsession")
	return td, ss.Spans()
}

func newSpan(spans ptrace.SpanSlice, i, j, parent int, name string, start, end time.Duration) ptrace.Span {
	s := spans.AppendEmpty()
	s.SetTraceID(TraceID(i))
	s.SetSpanID(SpanID(i, j))
	if parent >= 0 {
		s.SetParentSpanID(SpanID(i, parent))
	}
	s.SetName(name)
	s.SetStartTimestamp(ts(start))
	s.SetEndTimestamp(ts(end))
	s.Attributes().PutStr(string(semconv.SessionIDKey), SessionID(i))
	return s
}

// Golden is the small, hand-shaped session the golden file and the exact-record
// tests use (session index 0, 8 spans):
//
//	session triage (Success, tags urgent,email; event "started" with params)
//	├─ invoke_agent researcher
//	│  ├─ chat gpt-4o (100 in / 20 out)
//	│  └─ execute_tool search (action "search" returns "3 hits")
//	├─ invoke_agent writer
//	│  ├─ chat gpt-4o-mini (50 in / 10 out)
//	│  │  └─ HTTP POST (no crewtrace attributes, no session.id)
//	│  └─ execute_tool send (status Error, error event)
func Golden() ptrace.Traces {
	td, spans := newTraces("triage-crew")
	const i = 0
	root := newSpan(spans, i, 0, -1, semconv.SessionSpanName("triage"), 0, 10*time.Second)
	a := root.Attributes()
	a.PutStr(string(semconv.SpanKindKey), semconv.SpanKindSession)
	a.PutStr(string(semconv.OperationNameKey), semconv.OperationInvokeWorkflow)
	a.PutStr(string(semconv.SessionNameKey), "triage")
	a.PutStr(string(semconv.WorkflowNameKey), "triage")
	tags := a.PutEmptySlice(string(semconv.SessionTagsKey))
	tags.AppendEmpty().SetStr("urgent")
	tags.AppendEmpty().SetStr("email")
	a.PutStr(string(semconv.SessionEndStateKey), semconv.EndStateSuccess)
	a.PutStr(string(semconv.SessionEndReasonKey), "all mail answered")
	a.PutInt(string(semconv.SessionEventsRefusedKey), 2)
	ev := root.Events().AppendEmpty()
	ev.SetName("started")
	ev.SetTimestamp(ts(100 * time.Millisecond))
	ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindEvent)
	ev.Attributes().PutStr(string(semconv.EventTypeKey), "started")
	ev.Attributes().PutStr(semconv.EventParamPrefix+"inbox", "support")
	ev.Attributes().PutInt(semconv.EventParamPrefix+"unread", 3)

	agent(spans, i, 1, 0, "researcher", 0, time.Second, 5*time.Second)
	llm(spans, i, 2, 1, "gpt-4o", 2*time.Second, 3*time.Second, 100, 20)
	t := tool(spans, i, 3, 1, "search", 3*time.Second, 4*time.Second)
	ev = t.Events().AppendEmpty()
	ev.SetName("search")
	ev.SetTimestamp(ts(3500 * time.Millisecond))
	ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindAction)
	ev.Attributes().PutStr(string(semconv.EventTypeKey), "search")
	ev.Attributes().PutStr(string(semconv.EventReturnsKey), "3 hits")

	agent(spans, i, 4, 0, "writer", 1, 5*time.Second, 9*time.Second)
	llm(spans, i, 5, 4, "gpt-4o-mini", 6*time.Second, 7*time.Second, 50, 10)
	http := spans.AppendEmpty()
	http.SetTraceID(TraceID(i))
	http.SetSpanID(SpanID(i, 6))
	http.SetParentSpanID(SpanID(i, 5))
	http.SetName("HTTP POST")
	http.SetStartTimestamp(ts(6100 * time.Millisecond))
	http.SetEndTimestamp(ts(6900 * time.Millisecond))
	t = tool(spans, i, 7, 4, "send", 7*time.Second, 8*time.Second)
	t.Status().SetCode(ptrace.StatusCodeError)
	t.Status().SetMessage("smtp: 550")
	ev = t.Events().AppendEmpty()
	ev.SetName(semconv.ExceptionEventName)
	ev.SetTimestamp(ts(7500 * time.Millisecond))
	ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindError)
	ev.Attributes().PutStr(string(semconv.EventTypeKey), "send_failed")
	ev.Attributes().PutStr(string(semconv.ExceptionTypeKey), "*smtp.Error")
	ev.Attributes().PutStr(string(semconv.ExceptionMessageKey), "550 mailbox unavailable")
	return td
}

func agent(spans ptrace.SpanSlice, i, j, parent int, name string, a int, start, end time.Duration) ptrace.Span {
	s := newSpan(spans, i, j, parent, semconv.AgentSpanName(name), start, end)
	s.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindAgent)
	s.Attributes().PutStr(string(semconv.OperationNameKey), semconv.OperationInvokeAgent)
	s.Attributes().PutStr(string(semconv.AgentNameKey), name)
	s.Attributes().PutStr(string(semconv.AgentIDKey), AgentID(i, a))
	return s
}

func llm(spans ptrace.SpanSlice, i, j, parent int, model string, start, end time.Duration, in, out int64) ptrace.Span {
	s := newSpan(spans, i, j, parent, semconv.ChatSpanName(model), start, end)
	s.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindLLM)
	s.Attributes().PutStr(string(semconv.OperationNameKey), semconv.OperationChat)
	s.Attributes().PutStr(string(semconv.RequestModelKey), model)
	s.Attributes().PutStr(string(semconv.ProviderNameKey), "openai")
	s.Attributes().PutInt(string(semconv.InputTokensKey), in)
	s.Attributes().PutInt(string(semconv.OutputTokensKey), out)
	return s
}

func tool(spans ptrace.SpanSlice, i, j, parent int, name string, start, end time.Duration) ptrace.Span {
	s := newSpan(spans, i, j, parent, semconv.ToolSpanName(name), start, end)
	s.Attributes().PutStr(string(semconv.SpanKindKey), semconv.SpanKindTool)
	s.Attributes().PutStr(string(semconv.OperationNameKey), semconv.OperationExecuteTool)
	s.Attributes().PutStr(string(semconv.ToolNameKey), name)
	return s
}

// Session builds generated session i with n spans (n >= 1): the root, then
// agents (one per 6 spans), each with alternating LLM and tool children; every
// tool call carries an action event. Span j starts j*10ms after Base+i*1ms.
func Session(i, n int) ptrace.Traces {
	td, spans := newTraces("bench-crew")
	spans.EnsureCapacity(n)
	off := time.Duration(i) * time.Millisecond
	step := 10 * time.Millisecond
	end := off + time.Duration(n+1)*step
	root := newSpan(spans, i, 0, -1, semconv.SessionSpanName("bench"), off, end)
	ra := root.Attributes()
	ra.PutStr(string(semconv.SpanKindKey), semconv.SpanKindSession)
	ra.PutStr(string(semconv.SessionNameKey), "bench")
	ra.PutStr(string(semconv.SessionEndStateKey), semconv.EndStateSuccess)
	agents := max(1, (n-1)/6)
	for a := 0; a < agents && 1+a < n; a++ {
		agent(spans, i, 1+a, 0, fmt.Sprintf("agent-%d", a), a, off+step, end-step)
	}
	for j := 1 + agents; j < n; j++ {
		parent := 1 + (j % agents)
		start := off + time.Duration(j)*step
		if j%2 == 0 {
			llm(spans, i, j, parent, "gpt-4o", start, start+step/2, 100, 20)
			continue
		}
		t := tool(spans, i, j, parent, "search", start, start+step/2)
		ev := t.Events().AppendEmpty()
		ev.SetName("lookup")
		ev.SetTimestamp(ts(start + step/4))
		ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindAction)
		ev.Attributes().PutStr(string(semconv.EventTypeKey), "lookup")
		ev.Attributes().PutStr(semconv.EventParamPrefix+"query", "q")
	}
	return td
}

// Foreign builds trace i (n spans) of unrelated traffic: no crewtrace
// attribute and no session.id.
func Foreign(i, n int) ptrace.Traces {
	td, spans := newTraces("other-service")
	for j := 0; j < n; j++ {
		s := spans.AppendEmpty()
		s.SetTraceID(TraceID(i))
		s.SetSpanID(SpanID(i, j))
		if j > 0 {
			s.SetParentSpanID(SpanID(i, 0))
		}
		s.SetName("GET /")
		s.SetStartTimestamp(ts(time.Duration(j) * time.Millisecond))
		s.SetEndTimestamp(ts(time.Duration(j+1) * time.Millisecond))
		s.Attributes().PutStr("http.request.method", "GET")
	}
	return td
}

// Split returns one Traces per span of td, each keeping its resource and scope.
func Split(td ptrace.Traces) []ptrace.Traces {
	var out []ptrace.Traces
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				ss.Spans().At(k).CopyTo(oss.Spans().AppendEmpty())
				out = append(out, one)
			}
		}
	}
	return out
}

// Merge puts the spans of all tds into one Traces (one resource per input).
func Merge(tds ...ptrace.Traces) ptrace.Traces {
	merged := ptrace.NewTraces()
	for _, td := range tds {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			td.ResourceSpans().At(i).CopyTo(merged.ResourceSpans().AppendEmpty())
		}
	}
	return merged
}

// Shuffle returns the parts in a pseudo-random order fixed by seed.
func Shuffle(parts []ptrace.Traces, seed uint64) []ptrace.Traces {
	out := append([]ptrace.Traces(nil), parts...)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

// Reverse returns the parts in reverse order.
func Reverse(parts []ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, len(parts))
	for i, p := range parts {
		out[len(parts)-1-i] = p
	}
	return out
}

// Hostile builds session i as a careless or hostile client may send it, 5
// spans: every string the exporter keeps is value (session ID, name, end
// state, end reason, tags, agent ID and name, event fields, a resource
// attribute), the root carries events session events, and two LLM spans
// each report math.MaxInt64 input and output tokens.
//
//	session <value> (end state <value>; events × events)
//	└─ invoke_agent <value>
//	   ├─ chat m (MaxInt64 / MaxInt64)
//	   ├─ chat m (MaxInt64 / MaxInt64)
//	   └─ execute_tool t (an error event with message <value>)
func Hostile(i int, value string, events int) ptrace.Traces {
	td, spans := newTraces("hostile")
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("hostile.resource", value)
	root := newSpan(spans, i, 0, -1, "session "+value, 0, 10*time.Second)
	a := root.Attributes()
	a.PutStr(string(semconv.SessionIDKey), value)
	a.PutStr(string(semconv.SpanKindKey), semconv.SpanKindSession)
	a.PutStr(string(semconv.SessionNameKey), value)
	a.PutStr(string(semconv.SessionEndStateKey), value)
	a.PutStr(string(semconv.SessionEndReasonKey), value)
	a.PutEmptySlice(string(semconv.SessionTagsKey)).AppendEmpty().SetStr(value)
	for e := 0; e < events; e++ {
		ev := root.Events().AppendEmpty()
		ev.SetName("hostile")
		ev.SetTimestamp(ts(time.Duration(e) * time.Millisecond))
		ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindEvent)
		ev.Attributes().PutStr(string(semconv.EventTypeKey), value)
		ev.Attributes().PutStr(string(semconv.EventReturnsKey), value)
		ev.Attributes().PutStr(semconv.EventParamPrefix+value, value)
	}
	ag := agent(spans, i, 1, 0, value, 0, time.Second, 9*time.Second)
	ag.Attributes().PutStr(string(semconv.AgentIDKey), value)
	for j := 2; j <= 3; j++ {
		s := llm(spans, i, j, 1, "m", time.Duration(j)*time.Second, time.Duration(j+1)*time.Second, math.MaxInt64, math.MaxInt64)
		s.Attributes().PutStr(string(semconv.SessionIDKey), value)
	}
	t := tool(spans, i, 4, 1, "t", 5*time.Second, 6*time.Second)
	ev := t.Events().AppendEmpty()
	ev.SetName(semconv.ExceptionEventName)
	ev.SetTimestamp(ts(5500 * time.Millisecond))
	ev.Attributes().PutStr(string(semconv.EventKindKey), semconv.EventKindError)
	ev.Attributes().PutStr(string(semconv.ExceptionMessageKey), value)
	for j := 1; j < spans.Len(); j++ {
		spans.At(j).Attributes().PutStr(string(semconv.SessionIDKey), value)
	}
	return td
}
