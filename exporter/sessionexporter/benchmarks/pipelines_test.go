package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbytraceprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

// Workload shape: sessions × spans per session, sent in OTLP batches of
// sessionsPerBatch whole sessions (as a batch processor upstream would).
const (
	benchSessions    = 1000
	spansPerSession  = 20
	sessionsPerBatch = 10
)

// workload is the input of every pipeline: OTLP/protobuf request bodies.
type workload struct {
	batches  [][]byte
	sessions int
	spans    int
}

func newWorkload(tb testing.TB, sessions, spansEach int) workload {
	tb.Helper()
	var m ptrace.ProtoMarshaler
	w := workload{sessions: sessions, spans: sessions * spansEach}
	for i := 0; i < sessions; i += sessionsPerBatch {
		var parts []ptrace.Traces
		for j := i; j < min(i+sessionsPerBatch, sessions); j++ {
			parts = append(parts, testgen.Session(j, spansEach))
		}
		b, err := m.MarshalTraces(testgen.Merge(parts...))
		require.NoError(tb, err)
		w.batches = append(w.batches, b)
	}
	return w
}

// feed decodes each batch, as the OTLP receiver does, and hands it on.
func (w workload) feed(tb testing.TB, next consumer.Traces) {
	var u ptrace.ProtoUnmarshaler
	ctx := context.Background()
	for _, b := range w.batches {
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			tb.Fatal(err)
		}
		if err := next.ConsumeTraces(ctx, td); err != nil {
			tb.Fatal(err)
		}
	}
}

// pipeline runs the whole workload once: build and start the components,
// feed, wait until everything is written, shut down. It returns the output file.
type pipeline func(tb testing.TB, w workload, dir string, run int) string

// ceiling: OTLP decode into a consumer that does nothing.
func ceiling(tb testing.TB, w workload, _ string, _ int) string {
	w.feed(tb, consumertest.NewNop())
	return ""
}

// sessionPipeline: the session exporter with its default file sink and
// grace_period 1ms, so its ticker (every 10ms) emits sessions while spans are
// still arriving, as in steady state; Shutdown drains whatever is pending at
// the end, so no run waits for a timer (the baseline's wait_duration is 1ns
// for the same reason).
func sessionPipeline(tb testing.TB, w workload, dir string, run int) string {
	ctx := context.Background()
	f := sessionexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, fmt.Sprintf("sessions-%d.jsonl", run))
	cfg.MaxSessions = 2 * w.sessions
	cfg.GracePeriod = time.Millisecond
	exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(ctx, componenttest.NewNopHost()))
	w.feed(tb, exp)
	require.NoError(tb, exp.Shutdown(ctx))
	return cfg.File.Get().Path
}

// groupByTracePipeline: contrib groupbytraceprocessor (whole traces, as the
// session exporter needs them) feeding contrib fileexporter (OTLP JSON lines).
func groupByTracePipeline(tb testing.TB, w workload, dir string, run int) string {
	ctx := context.Background()
	ff := fileexporter.NewFactory()
	fcfg := ff.CreateDefaultConfig().(*fileexporter.Config)
	fcfg.Path = filepath.Join(dir, fmt.Sprintf("traces-%d.jsonl", run))
	fexp, err := ff.CreateTraces(ctx, exportertest.NewNopSettings(ff.Type()), fcfg)
	require.NoError(tb, err)
	require.NoError(tb, fexp.Start(ctx, componenttest.NewNopHost()))

	var released atomic.Int64
	all := make(chan struct{})
	counting, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		n := td.SpanCount()
		err := fexp.ConsumeTraces(ctx, td)
		if released.Add(int64(n)) == int64(w.spans) {
			close(all)
		}
		return err
	})
	require.NoError(tb, err)

	gf := groupbytraceprocessor.NewFactory()
	gcfg := gf.CreateDefaultConfig().(*groupbytraceprocessor.Config)
	gcfg.WaitDuration = time.Nanosecond
	gcfg.NumTraces = 2 * w.sessions
	proc, err := gf.CreateTraces(ctx, processortest.NewNopSettings(gf.Type()), gcfg, counting)
	require.NoError(tb, err)
	require.NoError(tb, proc.Start(ctx, componenttest.NewNopHost()))
	w.feed(tb, proc)
	<-all // every span released and written (no busy wait: the baseline gets both cores)
	require.NoError(tb, proc.Shutdown(ctx))
	require.NoError(tb, fexp.Shutdown(ctx))
	return fcfg.Path
}

func countLines(tb testing.TB, path string) int {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	require.NoError(tb, sc.Err())
	return n
}

// TestPipelines checks, on a small workload, that each pipeline delivers
// what the benchmark assumes: one record per session, all spans released.
func TestPipelines(t *testing.T) {
	w := newWorkload(t, 30, spansPerSession)
	dir := t.TempDir()
	ceiling(t, w, dir, 0)
	require.Equal(t, w.sessions, countLines(t, sessionPipeline(t, w, dir, 0)), "one record per session")
	require.Positive(t, countLines(t, groupByTracePipeline(t, w, dir, 0)), "the baseline writes its traces")
}

func benchPipeline(b *testing.B, p pipeline) {
	w := newWorkload(b, benchSessions, spansPerSession)
	dir := b.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if out := p(b, w, dir, i); out != "" {
			b.StopTimer()
			_ = os.Remove(out)
			b.StartTimer()
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	spans := float64(w.spans) * float64(b.N)
	b.ReportMetric(spans/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/spans, "B/span")
}

// BenchmarkPipelines runs the three pipelines on the same workload
// (1,000 sessions × 20 spans, OTLP-decoded per run) in one run.
func BenchmarkPipelines(b *testing.B) {
	b.Run("otlp_decode_nop_ceiling", func(b *testing.B) { benchPipeline(b, ceiling) })
	b.Run("sessionexporter_file", func(b *testing.B) { benchPipeline(b, sessionPipeline) })
	b.Run("groupbytrace_fileexporter", func(b *testing.B) { benchPipeline(b, groupByTracePipeline) })
}

// processCPU is the user+system CPU time the process has used (all threads:
// pipeline goroutines, GC, the runtime), the load-independent cost measure.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInterleaved runs the three pipelines one after the other inside
// every iteration (rotating which goes first), so that all of them see the
// same machine load — on shared cores that matters more than anything else.
// It reports each pipeline's spans/s, B/span and CPU-ns/span (process CPU
// time, all threads) over the whole run, the median over iterations of the
// per-iteration throughput ratio, and the CPU-per-span ratio.
func BenchmarkInterleaved(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	dir := b.TempDir()
	names := []string{"ceiling", "session", "groupbytrace"}
	pipes := []pipeline{ceiling, sessionPipeline, groupByTracePipeline}
	elapsed := make([]time.Duration, len(pipes))
	cpu := make([]time.Duration, len(pipes))
	allocated := make([]uint64, len(pipes))
	var ratios []float64
	var ms runtime.MemStats
	run := 0
	for b.Loop() {
		var took [3]time.Duration
		for k := range pipes {
			p := (run + k) % len(pipes)
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			cpuBefore := processCPU()
			start := time.Now()
			out := pipes[p](b, w, dir, run)
			took[p] = time.Since(start)
			cpu[p] += processCPU() - cpuBefore
			runtime.ReadMemStats(&ms)
			allocated[p] += ms.TotalAlloc - before
			elapsed[p] += took[p]
			if out != "" {
				_ = os.Remove(out)
			}
		}
		ratios = append(ratios, float64(took[2])/float64(took[1]))
		run++
	}
	spans := float64(w.spans) * float64(run)
	for p, name := range names {
		b.ReportMetric(spans/elapsed[p].Seconds(), name+"_spans/s")
		b.ReportMetric(float64(allocated[p])/spans, name+"_B/span")
		b.ReportMetric(float64(cpu[p].Nanoseconds())/spans, name+"_cpu-ns/span")
	}
	b.ReportMetric(float64(cpu[2])/float64(cpu[1]), "cpu_per_span_ratio_x")
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median_throughput_x")
	b.ReportMetric(float64(allocated[1])/float64(allocated[2]), "bytes_per_span_ratio")
}
