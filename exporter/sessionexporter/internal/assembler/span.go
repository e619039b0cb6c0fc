package assembler

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/dialect"
	"github.com/crewtrace/crewtrace/semconv"
)

// Span kinds in the session model.
const (
	kindOther uint8 = iota
	kindSession
	kindAgent
	kindLLM
	kindTool
	// kindWorkflow is a span of another convention that declares a
	// workflow (invoke_workflow, an OpenLLMetry workflow): it makes its
	// trace a session but is counted as no call.
	kindWorkflow
)

// span is the compact summary the assembler keeps of one span: only what a
// session record needs, never the span itself. It holds no pdata references
// other than immutable strings.
type span struct {
	id, parent pcommon.SpanID
	kind       uint8
	source     dialect.Source
	statusErr  bool // status Error (or the convention's error level)
	badTime    bool
	model      int16 // index in the session's models; -1 for none
	start, end int64 // unix nanoseconds; zero when the span's times are unusable
	agentID    string
	name       string // the agent's name on an agent span, the tool's on a tool span
	spanName   string // the span's own name, for the record's span list
	tokens     dialect.Tokens
	cost       float64 // USD, for costPriced and costReported
	costKind   uint8
	events     []event
}

// Cost kinds of an LLM span: how its cost is known.
const (
	costNone     uint8 = iota // not an LLM span, or pricing off
	costPriced                // priced from the price table
	costReported              // the span reported its cost
	costUnpriced              // neither: unknown model or missing price
)

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

// root holds what only a session's root span says: a crewtrace session
// span, or a span without parent (the root of a trace another convention
// wrote).
type root struct {
	crewtrace bool // a crewtrace session span
	name      string
	tags      []string
	endState  string
	endReason string
	// eventsRefused is crewtrace.session.events_refused: the events the
	// library refused while the session was open.
	eventsRefused int64
}

// found is what summarise read beyond the span summary: what the session
// keeps once per trace rather than per span.
type found struct {
	sessionID       string
	root            *root // non-nil for a crewtrace session span or a parentless span
	provider, model string
	message         string // why a failed span failed
	reportedCost    float64
	hasCost         bool // the span reported reportedCost
}

// maxSaneNanos bounds accepted timestamps (year 2200); later ones are absurd.
const maxSaneNanos = int64(7258118400) * 1e9

// summarise reads one span: the normaliser (internal/dialect) says what it
// is in any convention; crewtrace's events are read here. Every string kept
// goes through rd (bounds.go), which cuts it to the configured size.
func summarise(s ptrace.Span, rd *reader) (sp span, f found) {
	d := dialect.Read(s)
	sp = span{
		spanName:  rd.text(s.Name()),
		id:        s.SpanID(),
		parent:    s.ParentSpanID(),
		kind:      kindOf(d.Kind, d.Source),
		source:    d.Source,
		statusErr: d.Failed,
		model:     -1,
		tokens:    d.Tokens,
	}
	start, end := int64(s.StartTimestamp()), int64(s.EndTimestamp())
	if start <= 0 || end < start || end > maxSaneNanos {
		sp.badTime = true
	} else {
		sp.start, sp.end = start, end
	}
	switch sp.kind {
	case kindAgent:
		sp.agentID, sp.name = rd.id(d.AgentID), rd.text(d.AgentName)
	case kindTool:
		sp.name = rd.text(d.ToolName)
	}
	f = found{sessionID: rd.id(d.SessionID), message: rd.text(d.Message)}
	if sp.kind == kindLLM {
		f.provider, f.model = rd.text(d.Provider), rd.text(d.Model())
		f.reportedCost, f.hasCost = d.CostUSD, d.HasCost
	}

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

	switch {
	case sp.kind == kindSession:
		name := d.Name
		if name == "" {
			name = strings.TrimPrefix(strings.TrimPrefix(s.Name(), semconv.SessionSpanPrefix), " ")
		}
		tags := d.Tags
		for i := range tags {
			tags[i] = rd.text(tags[i])
		}
		f.root = &root{crewtrace: true, name: rd.text(name), tags: tags, endState: rd.text(d.EndState), endReason: rd.text(d.EndReason)}
		if v, ok := s.Attributes().Get(string(semconv.SessionEventsRefusedKey)); ok {
			f.root.eventsRefused = tokenCount(v) // a count: clamped to [0, MaxInt64] as token counts are
		}
	case sp.parent.IsEmpty():
		name := d.Name
		if name == "" && sp.kind == kindAgent {
			name = d.AgentName
		}
		if name == "" {
			name = s.Name()
			if sp.kind == kindWorkflow {
				name = strings.TrimPrefix(name, semconv.OperationInvokeWorkflow+" ")
			}
		}
		f.root = &root{name: rd.text(name)}
	}
	return sp, f
}

// kindOf maps the normaliser's kind to the assembler's. Only crewtrace's
// session span is a session root by itself; another convention's workflow
// span is a workflow, and its trace's root span is the session's root.
func kindOf(k dialect.Kind, src dialect.Source) uint8 {
	switch k {
	case dialect.KindRoot:
		if src == dialect.SourceCrewtrace {
			return kindSession
		}
		return kindWorkflow
	case dialect.KindAgent:
		return kindAgent
	case dialect.KindLLM:
		return kindLLM
	case dialect.KindTool:
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
