package otelsession

import (
	"reflect"
	"sync"
	"sync/atomic"

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
	m sync.Map
	n atomic.Int32
}

func (c *providerCache) get(p any, make func() any) any {
	if !isPointer(p) {
		return make()
	}
	if v, ok := c.m.Load(p); ok {
		return v
	}
	v := make()
	if c.n.Load() >= maxCached {
		return v
	}
	if actual, loaded := c.m.LoadOrStore(p, v); loaded {
		return actual
	}
	c.n.Add(1)
	return v
}

func isPointer(p any) bool {
	t := reflect.TypeOf(p)
	return t != nil && t.Kind() == reflect.Pointer
}

var tracers, meters providerCache

func tracerFor(tp trace.TracerProvider) trace.Tracer {
	return tracers.get(tp, func() any {
		return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))
	}).(trace.Tracer)
}

func instrumentsFor(mp metric.MeterProvider) *instruments {
	return meters.get(mp, func() any { return newInstruments(mp) }).(*instruments)
}
