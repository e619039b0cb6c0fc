package otelsession

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// scratchAttrs is how many attributes a scratch buffer holds; calls that need
// more build their own slice.
const scratchAttrs = 16

// scratch is a reusable buffer for the attributes and options of ONE call into
// the trace API: a span start (Tracer.Start) or an event (Span.AddEvent,
// Span.RecordError). Without it every such call allocates three times: the
// attribute slice, the boxed trace.WithAttributes option and the variadic
// option slice.
//
// What it buys: building the attributes and options afresh for every call
// (plain trace.WithAttributes) costs 7.9 % in BenchmarkSessionPaired
// (median-ratio 1.136 against 1.052, 249 against 212 allocs/op; both
// builds in one run, benchstat over -count 12 each:
// go test -run '^$' -bench '^BenchmarkSessionPaired$' -count 12 ./otelsession/).
//
// Lifetime: a scratch is taken from scratchPool right before the call and
// put back (cleared) right after it returns. That is safe because the trace
// API never keeps what options point to: options are opaque (their methods
// are unexported), a Tracer or Span can read them only through
// trace.NewSpanStartConfig / trace.NewEventConfig, and those copy the
// attributes into a slice of their own (attributeOption.applySpan/applyEvent
// append to the config's nil slice). So once the call has returned, nothing
// refers to the buffer's contents any more. Span.SetAttributes takes the
// attributes directly, not through an option, so it never gets a scratch.
type scratch struct {
	attrs [scratchAttrs]attribute.KeyValue
	// with[n] is trace.WithAttributes(attrs[:n]...), boxed once when the
	// scratch is made: the option refers to attrs, so at call time it
	// carries whatever attrs[:n] then holds.
	with  [scratchAttrs + 1]trace.SpanStartEventOption
	start [3]trace.SpanStartOption // variadic storage for Tracer.Start
	// event is the variadic storage for AddEvent / RecordError; its spare
	// capacity takes the exception attributes the SDK's RecordError appends.
	event [2]trace.EventOption
}

var scratchPool = sync.Pool{New: func() any {
	s := new(scratch)
	for n := range s.with {
		s.with[n] = trace.WithAttributes(s.attrs[:n]...)
	}
	return s
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// put clears what the scratch refers to (attrs[:n] are the attributes the
// caller wrote, so it keeps no user strings alive) and returns it to the pool.
func (s *scratch) put(n int) {
	clear(s.attrs[:n])
	s.start = [3]trace.SpanStartOption{}
	s.event = [2]trace.EventOption{}
	scratchPool.Put(s)
}

// spanOpts returns the options of a span start: attrs[:n] plus extra, in the
// scratch's own storage.
func (s *scratch) spanOpts(n int, extra ...trace.SpanStartOption) []trace.SpanStartOption {
	s.start[0] = s.with[n]
	k := 1 + copy(s.start[1:], extra)
	return s.start[:k]
}

// eventOpts returns the option of an event with attrs[:n].
func (s *scratch) eventOpts(n int) []trace.EventOption {
	s.event[0] = s.with[n]
	return s.event[:1]
}
