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

// maxCached bounds each provider cache, so a program that creates providers
// over and over (tests do) does not keep them all alive; past the bound the
// tracer or instruments are simply created per session.
const maxCached = 64

// providerCache maps a provider (pointer-typed only, so comparison is safe)
// to what the package made from it.
type providerCache struct {
	last atomic.Pointer[cacheEntry] // the latest hit: the common case is one provider
	m    sync.Map
	n    atomic.Int32
}

type cacheEntry struct{ p, v any }

// get returns what mk made from p, made once per cached provider. mk is a
// plain function (no closure) so a cache hit allocates nothing.
func (c *providerCache) get(p any, mk func(any) any) any {
	// Only pointer-typed providers are ever stored, so this comparison
	// cannot panic: equal dynamic types mean a pointer type.
	if e := c.last.Load(); e != nil && e.p == p {
		return e.v
	}
	if !isPointer(p) {
		return mk(p)
	}
	if v, ok := c.m.Load(p); ok {
		c.last.Store(&cacheEntry{p, v})
		return v
	}
	v := mk(p)
	if c.n.Load() >= maxCached {
		return v
	}
	if actual, loaded := c.m.LoadOrStore(p, v); loaded {
		return actual
	}
	c.n.Add(1)
	c.last.Store(&cacheEntry{p, v})
	return v
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

var tracers, meters providerCache

func tracerFor(tp trace.TracerProvider) trace.Tracer {
	return tracers.get(tp, newTracer).(trace.Tracer)
}

func newTracer(tp any) any {
	return tp.(trace.TracerProvider).Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))
}

func instrumentsFor(mp metric.MeterProvider) *instruments {
	return meters.get(mp, newInstrumentsAny).(*instruments)
}

func newInstrumentsAny(mp any) any { return newInstruments(mp.(metric.MeterProvider)) }

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
