package otelsession

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// EventKind is the kind of an event, as AgentOps distinguishes them.
type EventKind string

// The kinds of events.
const (
	// KindEvent is a plain event (AgentOps' Event). The zero Kind means KindEvent.
	KindEvent EventKind = semconv.EventKindEvent
	// KindAction is something an agent did (AgentOps' ActionEvent).
	KindAction EventKind = semconv.EventKindAction
	// KindError is an error (AgentOps' ErrorEvent); it is recorded as an
	// OpenTelemetry "exception" span event.
	KindError EventKind = semconv.EventKindError
)

// Event is an AgentOps-style event, recorded as a span event on the current
// agent span (or the session span).
type Event struct {
	// Type is the event type (AgentOps' event_type); required. It is the
	// span event's name, except for KindError ("exception").
	Type string
	// Kind is the kind of event; empty means KindEvent.
	Kind EventKind
	// Returns is the event's optional result, recorded as a string
	// (crewtrace.event.returns); nil records nothing.
	Returns any
	// Params are recorded as crewtrace.event.param.<name>. Values must be
	// string, bool, int, int64, float64 or a slice of one of those.
	Params map[string]any
}

// RecordEvent records ev on the current agent span of ctx, or on its session
// span when ctx holds no agent or the agent has ended.
//
// It returns ErrNoSession when ctx holds no session, ErrSessionEnded when the
// session has ended, and ErrInvalidEvent (wrapped with detail) for an empty
// Type, an unknown Kind or an unsupported Param value. Every refusal is
// counted on crewtrace.events.rejected; every recorded event on
// crewtrace.events.recorded.
func RecordEvent(ctx context.Context, ev Event) error {
	return record(ctx, ev, nil, nil)
}

// RecordAction records an action event (KindAction) of type actionType.
func RecordAction(ctx context.Context, actionType string, params map[string]any) error {
	return record(ctx, Event{Type: actionType, Kind: KindAction, Params: params}, nil, nil)
}

// RecordEventParams is RecordEvent with parameters given as typed Params,
// recorded like ev.Params (both may be given). It is the cheaper way to pass
// parameters, as slog.LogAttrs is to slog.Info: no map to build, no value
// boxed, and the params slice does not escape, so
//
//	otelsession.RecordEventParams(ctx, otelsession.Event{Type: "plan"},
//		otelsession.IntParam("steps", 3), otelsession.StringParam("goal", "triage"))
//
// allocates nothing for its parameters. When a name is given more than once
// (in params, or in params and ev.Params), the last params entry wins. A
// zero Param is refused as an unsupported value.
func RecordEventParams(ctx context.Context, ev Event, params ...Param) error {
	return record(ctx, ev, params, nil)
}

// RecordActionParams is RecordAction with typed Params (see
// RecordEventParams).
func RecordActionParams(ctx context.Context, actionType string, params ...Param) error {
	return record(ctx, Event{Type: actionType, Kind: KindAction}, params, nil)
}

// RecordError records an error event (KindError) of type errorType: one
// OpenTelemetry "exception" span event carrying exception.type and
// exception.message from err plus the crewtrace event attributes. err may be
// nil. It does not change the span's status: the agent may recover.
func RecordError(ctx context.Context, errorType string, err error) error {
	return record(ctx, Event{Type: errorType, Kind: KindError}, nil, err)
}

// record records ev with the typed params (which must not escape: callers'
// variadic slices stay on their stack) and, for KindError, err.
func record(ctx context.Context, ev Event, params []Param, err error) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return instrumentsFor(globalMeterProvider()).eventRejected(semconv.EventRejectNoSession, ErrNoSession)
	}
	s := sc.sess
	if ev.Type == "" {
		return s.refuse(semconv.EventRejectInvalidType, fmt.Errorf("%w: empty type", ErrInvalidEvent))
	}
	kind := ev.Kind
	if kind == "" {
		kind = KindEvent
	}
	if kind != KindEvent && kind != KindAction && kind != KindError {
		return s.refuse(semconv.EventRejectInvalidKind, fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, string(kind)))
	}

	n := 3 + len(ev.Params) + len(params)
	if kind == KindError && err == nil {
		n++
	}
	// The attributes go to a scratch buffer (see scratch) unless there are
	// too many; the scratch is returned to its pool on every path below.
	var sb *scratch
	var attrs []attribute.KeyValue
	if n <= scratchAttrs {
		sb = getScratch()
		attrs = sb.attrs[:0]
	} else {
		attrs = make([]attribute.KeyValue, 0, n)
	}
	attrs = append(attrs, semconv.EventKindKey.String(string(kind)), semconv.EventTypeKey.String(ev.Type))
	if ev.Returns != nil {
		attrs = append(attrs, semconv.EventReturnsKey.String(stringify(ev.Returns)))
	}
	if len(ev.Params) > 0 || len(params) > 0 {
		start := len(attrs)
		for k, v := range ev.Params {
			val, ok := paramValue(v)
			if !ok {
				if sb != nil {
					sb.put(len(attrs))
				}
				return s.refuse(semconv.EventRejectInvalidParam,
					fmt.Errorf("%w: param %q has unsupported type %T", ErrInvalidEvent, k, v))
			}
			attrs = append(attrs, attribute.KeyValue{Key: paramKey(k), Value: val})
		}
		for i := range params {
			p := &params[i]
			if p.value.Type() == attribute.INVALID {
				if sb != nil {
					sb.put(len(attrs))
				}
				return s.refuse(semconv.EventRejectInvalidParam,
					fmt.Errorf("%w: param %q has no value (zero Param)", ErrInvalidEvent, p.name))
			}
			attrs = append(attrs, attribute.KeyValue{Key: paramKey(p.name), Value: p.value})
		}
		kept := sortParams(attrs[start:], len(params) > 0)
		if sb != nil {
			clear(attrs[start+kept:])
		}
		attrs = attrs[:start+kept]
	}
	if kind == KindError && err == nil {
		attrs = append(attrs, semconv.ExceptionTypeKey.String(ev.Type))
	}
	var opts []trace.EventOption
	if sb != nil {
		opts = sb.eventOpts(len(attrs))
		defer sb.put(len(attrs))
	} else {
		opts = []trace.EventOption{trace.WithAttributes(attrs...)}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ended.Load() {
		// Too late for the session span's count: the metric has it.
		return s.inst.eventRejected(semconv.EventRejectSessionEnded, ErrSessionEnded)
	}
	span := sc.current()
	switch {
	case kind != KindError:
		span.AddEvent(ev.Type, opts...)
	case err != nil:
		recordException(span, err, opts...)
	default:
		span.AddEvent(semconv.ExceptionEventName, opts...)
	}
	s.inst.eventRecorded(kind)
	if s.sum != nil {
		switch kind {
		case KindAction:
			s.sum.add(&s.sum.actions)
		case KindError:
			s.sum.add(&s.sum.errors)
		}
	}
	return nil
}

// refuse counts an event refused in s, for the session span
// (crewtrace.session.events_refused) while the session is open and on
// crewtrace.events.rejected always, and returns err. The count is taken
// under the read lock End excludes, so End writes an exact figure: a
// refusal either precedes End or is too late for the span.
func (s *Session) refuse(reason string, err error) error {
	s.mu.RLock()
	if !s.ended.Load() {
		s.refused.Add(1)
	}
	s.mu.RUnlock()
	return s.inst.eventRejected(reason, err)
}

// sortParams sorts param attributes by key, in place, and returns how many
// are left after dropping repeated keys (the last of equal keys wins; only
// typed params, dups, can repeat one). Insertion sort for the handful of
// params events usually have: stable, no call through a comparison func;
// slices.SortStableFunc beyond.
func sortParams(kv []attribute.KeyValue, dups bool) int {
	if len(kv) > 12 {
		slices.SortStableFunc(kv, func(a, b attribute.KeyValue) int { return cmp.Compare(a.Key, b.Key) })
	} else {
		for i := 1; i < len(kv); i++ {
			for j := i; j > 0 && kv[j].Key < kv[j-1].Key; j-- {
				kv[j], kv[j-1] = kv[j-1], kv[j]
			}
		}
	}
	if !dups {
		return len(kv)
	}
	n := 0
	for i := range kv {
		if i+1 < len(kv) && kv[i+1].Key == kv[i].Key {
			continue // a later one with the same key follows
		}
		kv[n] = kv[i]
		n++
	}
	return n
}

// Param is one typed event parameter, for RecordEventParams and
// RecordActionParams: recorded as crewtrace.event.param.<name>. Make it with
// StringParam, IntParam, ...; the zero Param is invalid.
type Param struct {
	name  string
	value attribute.Value
}

// StringParam returns a string parameter.
func StringParam(name, v string) Param { return Param{name, attribute.StringValue(v)} }

// BoolParam returns a bool parameter.
func BoolParam(name string, v bool) Param { return Param{name, attribute.BoolValue(v)} }

// IntParam returns an int parameter.
func IntParam(name string, v int) Param { return Param{name, attribute.IntValue(v)} }

// Int64Param returns an int64 parameter.
func Int64Param(name string, v int64) Param { return Param{name, attribute.Int64Value(v)} }

// Float64Param returns a float64 parameter.
func Float64Param(name string, v float64) Param { return Param{name, attribute.Float64Value(v)} }

// StringSliceParam returns a []string parameter (the slice is copied).
func StringSliceParam(name string, v []string) Param {
	return Param{name, attribute.StringSliceValue(v)}
}

// BoolSliceParam returns a []bool parameter (the slice is copied).
func BoolSliceParam(name string, v []bool) Param { return Param{name, attribute.BoolSliceValue(v)} }

// IntSliceParam returns a []int parameter (the slice is copied).
func IntSliceParam(name string, v []int) Param { return Param{name, attribute.IntSliceValue(v)} }

// Int64SliceParam returns a []int64 parameter (the slice is copied).
func Int64SliceParam(name string, v []int64) Param {
	return Param{name, attribute.Int64SliceValue(v)}
}

// Float64SliceParam returns a []float64 parameter (the slice is copied).
func Float64SliceParam(name string, v []float64) Param {
	return Param{name, attribute.Float64SliceValue(v)}
}

// Name returns the parameter's name.
func (p Param) Name() string { return p.name }

// Value returns the parameter's value.
func (p Param) Value() attribute.Value { return p.value }

// paramValue converts a supported event parameter to an attribute value.
func paramValue(v any) (attribute.Value, bool) {
	switch x := v.(type) {
	case string:
		return attribute.StringValue(x), true
	case bool:
		return attribute.BoolValue(x), true
	case int:
		return attribute.IntValue(x), true
	case int64:
		return attribute.Int64Value(x), true
	case float64:
		return attribute.Float64Value(x), true
	case []string:
		return attribute.StringSliceValue(x), true
	case []bool:
		return attribute.BoolSliceValue(x), true
	case []int:
		return attribute.IntSliceValue(x), true
	case []int64:
		return attribute.Int64SliceValue(x), true
	case []float64:
		return attribute.Float64SliceValue(x), true
	}
	return attribute.Value{}, false
}

// stringify renders an event's Returns. fmt recovers from panicking String
// or Error methods (e.g. on nil pointers), so user values cannot panic here.
func stringify(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func paramKey(name string) attribute.Key {
	return attribute.Key(names.get(nameParamKey, "", name))
}
