package otelsession

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/crewtrace/crewtrace/semconv"
)

// instruments are the package's metrics on one MeterProvider:
//
//	crewtrace.sessions.started  Counter {session}, by crewtrace.session.name
//	crewtrace.sessions.active   UpDownCounter {session}, by crewtrace.session.name
//	crewtrace.sessions.ended    Counter {session}, by crewtrace.session.name and .end_state
//	crewtrace.session.duration  Histogram s, by crewtrace.session.name and .end_state
//	crewtrace.agents.created    Counter {agent}
//	crewtrace.events.recorded   Counter {event}, by crewtrace.event.kind
//	crewtrace.events.rejected   Counter {event}, by error.type (the reason)
//
// The event-recording success rate is recorded / (recorded + rejected). The
// session name (WithName) is a label, so it must name the kind of task, as a
// span name does, never one task.
type instruments struct {
	started  metric.Int64Counter
	active   metric.Int64UpDownCounter
	ended    metric.Int64Counter
	duration metric.Float64Histogram
	agents   metric.Int64Counter
	recorded metric.Int64Counter
	rejected metric.Int64Counter
}

// durationBuckets suit crew tasks: sub-second to an hour.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

func newInstruments(mp metric.MeterProvider) *instruments {
	m := mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
	nm := noop.Meter{}
	var in instruments
	var err error
	if in.started, err = m.Int64Counter(semconv.MetricSessionsStarted,
		metric.WithDescription("Sessions started."), metric.WithUnit("{session}")); err != nil {
		otel.Handle(err)
		in.started, _ = nm.Int64Counter("")
	}
	if in.active, err = m.Int64UpDownCounter(semconv.MetricSessionsActive,
		metric.WithDescription("Sessions started and not yet ended."), metric.WithUnit("{session}")); err != nil {
		otel.Handle(err)
		in.active, _ = nm.Int64UpDownCounter("")
	}
	if in.ended, err = m.Int64Counter(semconv.MetricSessionsEnded,
		metric.WithDescription("Sessions ended, by end state."), metric.WithUnit("{session}")); err != nil {
		otel.Handle(err)
		in.ended, _ = nm.Int64Counter("")
	}
	if in.duration, err = m.Float64Histogram(semconv.MetricSessionDuration,
		metric.WithDescription("Duration of ended sessions, by end state."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		otel.Handle(err)
		in.duration, _ = nm.Float64Histogram("")
	}
	if in.agents, err = m.Int64Counter(semconv.MetricAgentsCreated,
		metric.WithDescription("Agents started."), metric.WithUnit("{agent}")); err != nil {
		otel.Handle(err)
		in.agents, _ = nm.Int64Counter("")
	}
	if in.recorded, err = m.Int64Counter(semconv.MetricEventsRecorded,
		metric.WithDescription("Events recorded, by kind."), metric.WithUnit("{event}")); err != nil {
		otel.Handle(err)
		in.recorded, _ = nm.Int64Counter("")
	}
	if in.rejected, err = m.Int64Counter(semconv.MetricEventsRejected,
		metric.WithDescription("Events refused, by reason (error.type)."), metric.WithUnit("{event}")); err != nil {
		otel.Handle(err)
		in.rejected, _ = nm.Int64Counter("")
	}
	return &in
}

// attrOpts holds a precomputed attribute set as Add and Record options, so
// recording a measurement allocates nothing.
type attrOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newAttrOpts(kvs ...attribute.KeyValue) attrOpts {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return attrOpts{add: []metric.AddOption{o}, record: []metric.RecordOption{o}}
}

// sessionAttrs are the attribute sets of a session's own measurements: its
// name alone (started, active) and its name with each end state (ended,
// duration). WithName builds them once per option, so a program that reuses
// its options pays nothing per session for the name label.
type sessionAttrs struct {
	name  attrOpts
	ended map[EndState]attrOpts
}

func newSessionAttrs(name string) *sessionAttrs {
	var kvs []attribute.KeyValue
	if name != "" {
		kvs = append(kvs, semconv.SessionNameKey.String(name))
	}
	a := &sessionAttrs{name: newAttrOpts(kvs...), ended: make(map[EndState]attrOpts, 3)}
	for _, st := range []EndState{Success, Fail, Indeterminate} {
		a.ended[st] = newAttrOpts(append(kvs[:len(kvs):len(kvs)], semconv.SessionEndStateKey.String(string(st)))...)
	}
	return a
}

var (
	// unnamedAttrs are the sets of a session without a name.
	unnamedAttrs = newSessionAttrs("")
	kindOpts     = [...]attrOpts{
		newAttrOpts(semconv.EventKindKey.String(semconv.EventKindEvent)),
		newAttrOpts(semconv.EventKindKey.String(semconv.EventKindAction)),
		newAttrOpts(semconv.EventKindKey.String(semconv.EventKindError)),
	}
	rejectOpts = map[string]attrOpts{}
)

func init() {
	for _, r := range []string{
		semconv.EventRejectNoSession, semconv.EventRejectSessionEnded, semconv.EventRejectInvalidType,
		semconv.EventRejectInvalidKind, semconv.EventRejectInvalidParam,
	} {
		rejectOpts[r] = newAttrOpts(semconv.ErrorTypeKey.String(r))
	}
}

func (in *instruments) sessionStarted(a *sessionAttrs) {
	ctx := context.Background()
	in.started.Add(ctx, 1, a.name.add...)
	in.active.Add(ctx, 1, a.name.add...)
}

func (in *instruments) sessionEnded(a *sessionAttrs, state EndState, d time.Duration) {
	ctx := context.Background()
	o := a.ended[state]
	in.active.Add(ctx, -1, a.name.add...)
	in.ended.Add(ctx, 1, o.add...)
	in.duration.Record(ctx, d.Seconds(), o.record...)
}

func (in *instruments) eventRecorded(kind EventKind) {
	var o attrOpts
	switch kind {
	case KindAction:
		o = kindOpts[1]
	case KindError:
		o = kindOpts[2]
	default:
		o = kindOpts[0]
	}
	in.recorded.Add(context.Background(), 1, o.add...)
}

// eventRejected counts a refused event and returns err, for one-line returns.
func (in *instruments) eventRejected(reason string, err error) error {
	in.rejected.Add(context.Background(), 1, rejectOpts[reason].add...)
	return err
}

// globalMeterProvider counts refusals that have no session, hence no provider.
func globalMeterProvider() metric.MeterProvider { return otel.GetMeterProvider() }
