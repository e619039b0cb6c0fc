package benchmarks

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// BenchmarkBufferedMemory reports the heap the session exporter holds per
// buffered span (held_B/span): the workload is fed into an exporter whose
// grace period does not pass during the run, and the live heap after a
// garbage collection is compared with the live heap before the feed. It
// also reports the bytes the exporter accounts per span
// (accounted_B/span, its bytes_buffered gauge: what max_bytes bounds) and
// the ratio of the two (heap/accounted), which converts max_bytes into
// heap.
func BenchmarkBufferedMemory(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	ctx := context.Background()
	var held, accounted uint64
	var before, after runtime.MemStats
	for b.Loop() {
		tel := componenttest.NewTelemetry()
		set := exportertest.NewNopSettings(component.MustNewType("session"))
		set.TelemetrySettings = tel.NewTelemetrySettings()
		f := sessionexporter.NewFactory()
		cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
		cfg.File.GetOrInsertDefault().Path = filepath.Join(b.TempDir(), "sessions.jsonl")
		cfg.MaxSessions = 2 * w.sessions
		cfg.GracePeriod = time.Hour
		cfg.SessionTimeout = time.Hour
		exp, err := f.CreateTraces(ctx, set, cfg)
		require.NoError(b, err)
		require.NoError(b, exp.Start(ctx, componenttest.NewNopHost()))
		runtime.GC()
		runtime.ReadMemStats(&before)
		w.feed(b, exp)
		runtime.GC()
		runtime.ReadMemStats(&after)
		held += after.HeapAlloc - before.HeapAlloc
		m, err := tel.GetMetric("otelcol_exporter_session_bytes_buffered")
		require.NoError(b, err)
		accounted += uint64(m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
		require.NoError(b, exp.Shutdown(ctx))
		require.NoError(b, tel.Shutdown(ctx))
	}
	b.ReportMetric(float64(held)/float64(w.spans*b.N), "held_B/span")
	b.ReportMetric(float64(accounted)/float64(w.spans*b.N), "accounted_B/span")
	b.ReportMetric(float64(held)/float64(accounted), "heap/accounted")
}
