package otelsession

import (
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// tracerOptions are made once: the options would allocate on every call.
var tracerOptions = []trace.TracerOption{trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL)}

// tracerFor returns the package's tracer of tp. The SDK's
// TracerProvider.Tracer looks its tracers up itself; a cache here made no
// difference beyond noise in BenchmarkSessionPaired (0.6 %, or none), so
// there is none.
func tracerFor(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName, tracerOptions...)
}

// instrumentsFor returns the package's instruments on mp, made once per
// MeterProvider: making the six instruments for every session instead costs
// 7.1 % in BenchmarkSessionPaired (median-ratio 1.127 against 1.052; both
// builds in one run, benchstat over -count 12:
// go test -run '^$' -bench '^BenchmarkSessionPaired$' -count 12 ./otelsession/).
func instrumentsFor(mp metric.MeterProvider) *instruments {
	// Only pointer-typed providers are ever stored, so this comparison
	// cannot panic: equal dynamic types mean a pointer type.
	if e := instrumentCache.last.Load(); e != nil && e.mp == mp {
		return e.in
	}
	if !isPointer(mp) {
		return newInstruments(mp)
	}
	if in, ok := instrumentCache.m.Load(mp); ok {
		instrumentCache.last.Store(&cachedInstruments{mp, in.(*instruments)})
		return in.(*instruments)
	}
	in := newInstruments(mp)
	if instrumentCache.n.Load() >= maxCached {
		return in
	}
	if actual, loaded := instrumentCache.m.LoadOrStore(mp, in); loaded {
		return actual.(*instruments)
	}
	instrumentCache.n.Add(1)
	instrumentCache.last.Store(&cachedInstruments{mp, in})
	return in
}

// maxCached bounds the instrument cache, so a program that creates
// MeterProviders over and over (tests do) does not keep them all alive; past
// the bound the instruments are made per session.
const maxCached = 64

// instrumentCache maps a MeterProvider (pointer-typed only, so comparison
// is safe) to its instruments; last is the latest hit, the common case
// being one provider.
var instrumentCache struct {
	last atomic.Pointer[cachedInstruments]
	m    sync.Map
	n    atomic.Int32
}

type cachedInstruments struct {
	mp metric.MeterProvider
	in *instruments
}

// isNil reports whether p is nil or a nil pointer, which would panic when used.
func isNil(p any) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func isPointer(p any) bool {
	t := reflect.TypeOf(p)
	return t != nil && t.Kind() == reflect.Pointer
}

// warnedNoop is set once ErrNoopTracerProvider was reported.
var warnedNoop atomic.Bool

// warnNoopTracerProvider reports ErrNoopTracerProvider to otel.Handle, once
// per process, unless OTEL_SDK_DISABLED=true says that no export is what
// the program wants.
func warnNoopTracerProvider() {
	if warnedNoop.Load() || !warnedNoop.CompareAndSwap(false, true) {
		return
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return
	}
	otel.Handle(ErrNoopTracerProvider)
}
