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
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/benchmarks/hotpath"
)

// hotPathLoad is bench-hotpath's load at a tenth of its size: sessions of
// 10 spans arriving as an SDK sends them (the children of a wave of 500
// sessions, then their roots, in requests of 1,000 spans), so most
// sessions' spans come in two requests.
func hotPathLoad(tb testing.TB) *hotpath.Load {
	l, err := hotpath.NewLoad(2000, 10, 1000, 500)
	require.NoError(tb, err)
	return l
}

// startFileExporter starts a session exporter writing to a file under dir.
func startFileExporter(tb testing.TB, dir string, sessions int, grace time.Duration) exporter.Traces {
	ctx := context.Background()
	f := sessionexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, "sessions.jsonl")
	cfg.MaxSessions = 2 * sessions
	cfg.GracePeriod = grace
	cfg.SessionTimeout = max(grace, time.Minute)
	exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(ctx, componenttest.NewNopHost()))
	return exp
}

// feedRequests decodes each request as the OTLP receiver does and hands it
// to the exporter.
func feedRequests(tb testing.TB, l *hotpath.Load, exp exporter.Traces) {
	for _, body := range l.Bodies() {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			tb.Fatal(err)
		}
		if err := exp.ConsumeTraces(context.Background(), req.Traces()); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkHotPath runs the session exporter (file sink) on bench-hotpath's
// load in-process: the paired benchmark for changes to the hot path.
//
//   - throughput: OTLP decode → exporter → file, grace_period 1ms (records
//     are emitted while spans arrive, Shutdown drains the rest), reporting
//     CPU-ns/span (process CPU, all threads, GC included) and B/span
//     allocated;
//   - held: the heap held per buffered span once the whole load is
//     buffered (grace_period 1h), after a garbage collection.
func BenchmarkHotPath(b *testing.B) {
	l := hotPathLoad(b)
	spans := float64(l.Spans())
	b.Run("throughput", func(b *testing.B) {
		dir := b.TempDir()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		alloc0, cpu0 := ms.TotalAlloc, processCPU()
		for b.Loop() {
			exp := startFileExporter(b, dir, l.Sessions, time.Millisecond)
			feedRequests(b, l, exp)
			require.NoError(b, exp.Shutdown(context.Background()))
		}
		runtime.ReadMemStats(&ms)
		n := spans * float64(b.N)
		b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/n, "CPU-ns/span")
		b.ReportMetric(float64(ms.TotalAlloc-alloc0)/n, "B/span")
	})
	b.Run("held", func(b *testing.B) {
		var held uint64
		var before, after runtime.MemStats
		for b.Loop() {
			exp := startFileExporter(b, b.TempDir(), l.Sessions, time.Hour)
			runtime.GC()
			runtime.ReadMemStats(&before)
			feedRequests(b, l, exp)
			runtime.GC()
			runtime.ReadMemStats(&after)
			held += after.HeapAlloc - before.HeapAlloc
			require.NoError(b, exp.Shutdown(context.Background()))
		}
		b.ReportMetric(float64(held)/(spans*float64(b.N)), "held_B/span")
	})
}
