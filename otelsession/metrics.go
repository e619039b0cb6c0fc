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
//	crewtrace.sessions.active   UpDownCounter {session}
//	crewtrace.sessions.ended    Counter {session}, by crewtrace.session.end_state
//	crewtrace.session.duration  Histogram s, by crewtrace.session.end_state
//	crewtrace.agents.created    Counter {agent}
//	crewtrace.events.recorded   Counter {event}, by crewtrace.event.kind
//	crewtrace.events.rejected   Counter {event}, by error.type (the reason)
//
// The event-recording success rate is recorded / (recorded + rejected).
type instruments struct {
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

func newAttrOpts(kv attribute.KeyValue) attrOpts {
	o := metric.WithAttributeSet(attribute.NewSet(kv))
	return attrOpts{add: []metric.AddOption{o}, record: []metric.RecordOption{o}}
}

var (
	endStateOpts = map[EndState]attrOpts{
		Success:       newAttrOpts(semconv.SessionEndStateKey.String(semconv.EndStateSuccess)),
		Fail:          newAttrOpts(semconv.SessionEndStateKey.String(semconv.EndStateFail)),
		Indeterminate: newAttrOpts(semconv.SessionEndStateKey.String(semconv.EndStateIndeterminate)),
	}
	kindOpts = [...]attrOpts{
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

func (in *instruments) sessionEnded(state EndState, d time.Duration) {
	ctx := context.Background()
	o := endStateOpts[state]
	in.active.Add(ctx, -1)
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
