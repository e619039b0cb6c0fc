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
	"github.com/crewtrace/crewtrace/store"
)

// sinkPipeline returns a pipeline: the session exporter as in
// sessionPipeline, writing to the sinks named (file, sqlite) — one assembly
// for all of them. It returns the directory of the run's outputs.
func sinkPipeline(sinks ...string) pipeline {
	return func(tb testing.TB, w workload, dir string, run int) string {
		ctx := context.Background()
		out := filepath.Join(dir, fmt.Sprintf("run-%d", run))
		f := sessionexporter.NewFactory()
		cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
		for _, s := range sinks {
			switch s {
			case "file":
				cfg.File.GetOrInsertDefault().Path = filepath.Join(out, "sessions.jsonl")
			case "sqlite":
				cfg.SQLite.GetOrInsertDefault().Path = filepath.Join(out, "sessions.db")
			}
		}
		cfg.MaxSessions = 2 * w.sessions
		cfg.GracePeriod = time.Millisecond
		exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
		require.NoError(tb, err)
		require.NoError(tb, exp.Start(ctx, componenttest.NewNopHost()))
		w.feed(tb, exp)
		require.NoError(tb, exp.Shutdown(ctx)) // drains the buffer and every sink's queue
		return out
	}
}

// TestSinkPipelines checks, on a small workload, that each sink pipeline
// writes one record per session to each of its sinks.
func TestSinkPipelines(t *testing.T) {
	w := newWorkload(t, 30, spansPerSession)
	dir := sinkPipeline("file", "sqlite")(t, w, t.TempDir(), 0)
	require.Equal(t, w.sessions, countLines(t, filepath.Join(dir, "sessions.jsonl")))
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "sessions.db"), store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	n, err := st.CountSessions(context.Background(), store.Filter{})
	require.NoError(t, err)
	require.Equal(t, int64(w.sessions), n)
}

// BenchmarkSinks runs the session exporter with the file sink, the sqlite
// sink, and both, one after the other inside every iteration (rotating the
// order) so they share the machine's load, on the BenchmarkPipelines
// workload. It reports each one's spans/s over the run and, per pipeline,
// the median and the range over iterations of its time relative to the
// file sink's in the same iteration (x_vs_file: 1.0 = as fast as the file
// sink alone; 2.0 = takes twice as long), and the same for both sinks
// against the sqlite sink alone (x_vs_sqlite: what writing the file as well
// costs, with sessions assembled once).
func BenchmarkSinks(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	dir := b.TempDir()
	names := []string{"file", "sqlite", "file_sqlite"}
	pipes := []pipeline{sinkPipeline("file"), sinkPipeline("sqlite"), sinkPipeline("file", "sqlite")}
	elapsed := make([]time.Duration, len(pipes))
	ratios := make([][]float64, len(pipes))
	var both []float64 // file_sqlite / sqlite: what the file sink adds beside the store
	run := 0
	for b.Loop() {
		took := make([]time.Duration, len(pipes))
		for k := range pipes {
			p := (run + k) % len(pipes)
			start := time.Now()
			out := pipes[p](b, w, dir, run)
			took[p] = time.Since(start)
			elapsed[p] += took[p]
			b.StopTimer()
			_ = os.RemoveAll(out)
			b.StartTimer()
		}
		for p := range pipes {
			ratios[p] = append(ratios[p], float64(took[p])/float64(took[0]))
		}
		both = append(both, float64(took[2])/float64(took[1]))
		run++
	}
	spans := float64(w.spans) * float64(run)
	for p, name := range names {
		b.ReportMetric(spans/elapsed[p].Seconds(), name+"_spans/s")
		if p == 0 {
			continue
		}
		r := ratios[p]
		sort.Float64s(r)
		b.ReportMetric(r[len(r)/2], name+"_x_vs_file_median")
		b.ReportMetric(r[0], name+"_x_vs_file_min")
		b.ReportMetric(r[len(r)-1], name+"_x_vs_file_max")
	}
	sort.Float64s(both)
	b.ReportMetric(both[len(both)/2], "file_sqlite_x_vs_sqlite_median")
	b.ReportMetric(both[0], "file_sqlite_x_vs_sqlite_min")
	b.ReportMetric(both[len(both)-1], "file_sqlite_x_vs_sqlite_max")
}
