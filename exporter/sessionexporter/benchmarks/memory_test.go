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

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// BenchmarkBufferedMemory reports the heap the session exporter holds per
// buffered span (held_B/span): the workload is fed into an exporter whose
// grace period does not pass during the run, and the live heap after a
// garbage collection is compared with the live heap before the feed.
func BenchmarkBufferedMemory(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	ctx := context.Background()
	var held uint64
	var before, after runtime.MemStats
	for b.Loop() {
		f := sessionexporter.NewFactory()
		cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
		cfg.File.GetOrInsertDefault().Path = filepath.Join(b.TempDir(), "sessions.jsonl")
		cfg.MaxSessions = 2 * w.sessions
		cfg.GracePeriod = time.Hour
		cfg.SessionTimeout = time.Hour
		exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
		require.NoError(b, err)
		require.NoError(b, exp.Start(ctx, componenttest.NewNopHost()))
		runtime.GC()
		runtime.ReadMemStats(&before)
		w.feed(b, exp)
		runtime.GC()
		runtime.ReadMemStats(&after)
		held += after.HeapAlloc - before.HeapAlloc
		require.NoError(b, exp.Shutdown(ctx))
	}
	b.ReportMetric(float64(held)/float64(w.spans*b.N), "held_B/span")
}
