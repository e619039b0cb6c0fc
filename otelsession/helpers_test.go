package otelsession_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/otelsession"
)

// env is an in-memory telemetry pipeline for one test.
type env struct {
	rec    *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{rec: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.rec))
	e.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() {
		_ = e.tp.Shutdown(context.Background())
		_ = e.mp.Shutdown(context.Background())
	})
	return e
}

// opts are the provider options plus extra ones.
func (e *env) opts(extra ...otelsession.Option) []otelsession.Option {
	return append([]otelsession.Option{otelsession.WithTracerProvider(e.tp), otelsession.WithMeterProvider(e.mp)}, extra...)
}

// byName indexes ended spans by name; names must be unique.
func (e *env) byName(t *testing.T) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	out := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range e.rec.Ended() {
		require.NotContains(t, out, s.Name(), "span names must be unique in this test")
		out[s.Name()] = s
	}
	return out
}

// attrs turns attributes into a map for whole-map comparisons.
func attrs(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// metrics collects the current metric values: name -> attribute set key -> value
// (int64 for sums, histogram count as uint64 for histograms).
func (e *env) metrics(t *testing.T) map[string]map[string]any {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, e.reader.Collect(context.Background(), &rm))
	out := map[string]map[string]any{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]any{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					vals[p.Attributes.Encoded(attribute.DefaultEncoder())] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					vals[p.Attributes.Encoded(attribute.DefaultEncoder())] = p.Count
				}
			default:
				t.Fatalf("unexpected metric type %T for %s", m.Data, m.Name)
			}
			out[m.Name] = vals
		}
	}
	return out
}
