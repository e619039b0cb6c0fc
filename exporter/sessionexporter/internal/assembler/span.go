package assembler

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/semconv"
)

// Span kinds in the session model.
const (
	kindOther uint8 = iota
	kindSession
	kindAgent
	kindLLM
	kindTool
)

// span is the compact summary the assembler keeps of one span: only what a
// session record needs, never the span itself. It holds no pdata references
// other than immutable strings.
type span struct {
	id, parent pcommon.SpanID
	kind       uint8
	statusErr  bool
	badTime    bool
	start, end int64 // unix nanoseconds; zero when the span's times are unusable
	agentID    string
	agentName  string
	inTokens   int64
	outTokens  int64
	events     []event
}

// event is a session event found on a span.
type event struct {
	time      int64
	kind      string
	typ       string
	returns   string
	errorType string
	message   string
	params    []param // a slice, not a map: most events have none or a few
}

// param is one crewtrace.event.param.<name> attribute.
type param struct {
	name  string
	value any
}

// root holds what only the session root span carries.
type root struct {
	name      string
	tags      []string
	endState  string
	endReason string
}

// maxSaneNanos bounds accepted timestamps (year 2200); later ones are absurd.
const maxSaneNanos = int64(7258118400) * 1e9

// summarise reads one span and its session.id, every kept value through rd
// (bounds.go). The root return is non-nil for a session root.
func summarise(s ptrace.Span, rd *reader) (sp span, sessionID string, rt *root) {
	sp = span{
		id:        s.SpanID(),
		parent:    s.ParentSpanID(),
		statusErr: s.Status().Code() == ptrace.StatusCodeError,
	}
	start, end := int64(s.StartTimestamp()), int64(s.EndTimestamp())
	if start <= 0 || end < start || end > maxSaneNanos {
		sp.badTime = true
	} else {
		sp.start, sp.end = start, end
	}

	var spanKind, operation, sessionName, workflowName, endState, endReason string
	var tags []string
	for k, v := range s.Attributes().All() {
		switch k {
		case string(semconv.SpanKindKey):
			spanKind = v.AsString()
		case string(semconv.OperationNameKey):
			operation = v.AsString()
		case string(semconv.SessionIDKey):
			sessionID = rd.id(v.AsString())
		case string(semconv.AgentIDKey):
			sp.agentID = rd.id(v.AsString())
		case string(semconv.AgentNameKey):
			sp.agentName = rd.str(v)
		case string(semconv.InputTokensKey):
			sp.inTokens = tokenCount(v)
		case string(semconv.OutputTokensKey):
			sp.outTokens = tokenCount(v)
		case string(semconv.SessionNameKey):
			sessionName = rd.str(v)
		case string(semconv.WorkflowNameKey):
			workflowName = rd.str(v)
		case string(semconv.SessionEndStateKey):
			endState = rd.str(v)
		case string(semconv.SessionEndReasonKey):
			endReason = rd.str(v)
		case string(semconv.SessionTagsKey):
			tags = stringSlice(v, rd)
		}
	}
	sp.kind = classify(spanKind, operation)

	evs := s.Events()
	for i := 0; i < evs.Len(); i++ {
		ev, ok := summariseEvent(evs.At(i), rd)
		switch {
		case !ok:
		case rd.maxEvents > 0 && len(sp.events) >= rd.maxEvents:
			rd.events++
		default:
			sp.events = append(sp.events, ev)
		}
	}

	if sp.kind != kindSession {
		return sp, sessionID, nil
	}
	name := sessionName
	if name == "" {
		name = workflowName
	}
	if name == "" {
		name = rd.text(strings.TrimPrefix(strings.TrimPrefix(s.Name(), semconv.SessionSpanPrefix), " "))
	}
	return sp, sessionID, &root{name: name, tags: tags, endState: endState, endReason: endReason}
}

// classify maps crewtrace.span.kind, or failing that gen_ai.operation.name,
// to a span kind. Only crewtrace.span.kind=session makes a session root.
func classify(spanKind, operation string) uint8 {
	switch spanKind {
	case semconv.SpanKindSession:
		return kindSession
	case semconv.SpanKindAgent:
		return kindAgent
	case semconv.SpanKindLLM:
		return kindLLM
	case semconv.SpanKindTool:
		return kindTool
	}
	switch operation {
	case semconv.OperationInvokeAgent:
		return kindAgent
	case semconv.OperationChat, semconv.OperationEmbeddings, semconv.OperationTextCompletion, semconv.OperationGenerateContent:
		return kindLLM
	case semconv.OperationExecuteTool:
		return kindTool
	}
	return kindOther
}

// summariseEvent reads a span event; ok is false for events that are not
// session events (no crewtrace.event.kind).
func summariseEvent(e ptrace.SpanEvent, rd *reader) (event, bool) {
	attrs := e.Attributes()
	kind, ok := attrs.Get(string(semconv.EventKindKey))
	if !ok {
		return event{}, false
	}
	ev := event{time: int64(e.Timestamp()), kind: rd.str(kind)}
	if ev.time < 0 || ev.time > maxSaneNanos {
		ev.time = 0
	}
	for k, v := range attrs.All() {
		switch k {
		case string(semconv.EventTypeKey):
			ev.typ = rd.str(v)
		case string(semconv.EventReturnsKey):
			ev.returns = rd.str(v)
		case string(semconv.ErrorTypeKey):
			ev.errorType = rd.str(v)
		case string(semconv.ExceptionTypeKey):
			if ev.errorType == "" {
				ev.errorType = rd.str(v)
			}
		case string(semconv.ExceptionMessageKey):
			ev.message = rd.str(v)
		default:
			if name, ok := strings.CutPrefix(k, semconv.EventParamPrefix); ok {
				ev.params = append(ev.params, param{name: rd.text(name), value: rd.raw(v)})
			}
		}
	}
	if ev.typ == "" && e.Name() != semconv.ExceptionEventName {
		ev.typ = rd.text(e.Name())
	}
	return ev, true
}

// stringSlice reads a string-slice attribute (a single string is one tag),
// each string through rd.
func stringSlice(v pcommon.Value, rd *reader) []string {
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		out := make([]string, 0, sl.Len())
		for i := 0; i < sl.Len(); i++ {
			out = append(out, rd.str(sl.At(i)))
		}
		return out
	case pcommon.ValueTypeStr:
		if v.Str() == "" {
			return nil
		}
		return []string{rd.text(v.Str())}
	default:
		return nil
	}
}
