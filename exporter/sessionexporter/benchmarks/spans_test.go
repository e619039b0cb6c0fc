package benchmarks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// spanListPipeline is sessionPipeline (file sink) with max_record_spans set
// to n: 0 writes records without a span list, the default lists every span
// of the workload's sessions.
func spanListPipeline(n int) pipeline {
	return func(tb testing.TB, w workload, dir string, run int) string {
		ctx := context.Background()
		f := sessionexporter.NewFactory()
		cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
		cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, fmt.Sprintf("spans-%d-%d.jsonl", n, run))
		cfg.MaxSessions = 2 * w.sessions
		cfg.GracePeriod = time.Millisecond
		cfg.MaxRecordSpans = n
		exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
		require.NoError(tb, err)
		require.NoError(tb, exp.Start(ctx, componenttest.NewNopHost()))
		w.feed(tb, exp)
		require.NoError(tb, exp.Shutdown(ctx))
		return cfg.File.Get().Path
	}
}

// TestSpanListPipelines checks the two pipelines BenchmarkRecordSpans
// compares: one record per session each, span lists only with the default.
func TestSpanListPipelines(t *testing.T) {
	w := newWorkload(t, 20, spansPerSession)
	dir := t.TempDir()
	without := spanListPipeline(0)(t, w, dir, 0)
	with := spanListPipeline(sessionexporter.NewFactory().CreateDefaultConfig().(*sessionexporter.Config).MaxRecordSpans)(t, w, dir, 0)
	require.Equal(t, w.sessions, countLines(t, without))
	require.Equal(t, w.sessions, countLines(t, with))
	b0, err := os.ReadFile(without)
	require.NoError(t, err)
	b1, err := os.ReadFile(with)
	require.NoError(t, err)
	require.NotContains(t, string(b0), `"spans":`)
	require.Contains(t, string(b1), `"spans":`)
}

// BenchmarkRecordSpans measures what the records' span list costs: the
// session exporter with the file sink, max_record_spans 0 (no list) and
// the default (every span of the workload's 20-span sessions listed), one
// after the other inside every iteration (alternating which goes first) so
// both share the machine's load. It reports each one's spans/s, the median
// and range over iterations of the time with the list relative to without
// (x_vs_none), and the record bytes per session of each.
func BenchmarkRecordSpans(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	dir := b.TempDir()
	def := sessionexporter.NewFactory().CreateDefaultConfig().(*sessionexporter.Config).MaxRecordSpans
	pipes := []pipeline{spanListPipeline(0), spanListPipeline(def)}
	elapsed := make([]time.Duration, 2)
	bytes := make([]int64, 2)
	var ratios []float64
	run := 0
	for b.Loop() {
		var took [2]time.Duration
		for k := range pipes {
			p := (run + k) % 2
			start := time.Now()
			out := pipes[p](b, w, dir, run)
			took[p] = time.Since(start)
			elapsed[p] += took[p]
			b.StopTimer()
			if fi, err := os.Stat(out); err == nil {
				bytes[p] = fi.Size()
			}
			_ = os.Remove(out)
			b.StartTimer()
		}
		ratios = append(ratios, float64(took[1])/float64(took[0]))
		run++
	}
	spans := float64(w.spans) * float64(run)
	b.ReportMetric(spans/elapsed[0].Seconds(), "none_spans/s")
	b.ReportMetric(spans/elapsed[1].Seconds(), "list_spans/s")
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "list_x_vs_none_median")
	b.ReportMetric(ratios[0], "list_x_vs_none_min")
	b.ReportMetric(ratios[len(ratios)-1], "list_x_vs_none_max")
	b.ReportMetric(float64(bytes[0])/float64(w.sessions), "none_B/record")
	b.ReportMetric(float64(bytes[1])/float64(w.sessions), "list_B/record")
}
