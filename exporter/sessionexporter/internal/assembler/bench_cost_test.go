package assembler

import (
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
)

// benchTable is the default table with testgen's models (gpt-4o,
// gpt-4o-mini) priced, so that every LLM call of the workload takes the
// whole pricing path. The prices are the benchmark's own.
func benchTable(tb testing.TB) *pricing.Table {
	over, err := pricing.Parse([]byte(`{"version": "bench", "models": [
		{"provider": "openai", "model": "gpt-4o", "periods": [{"input": 2.5, "output": 10}], "source": "https://example.com/bench", "checked": "2026-12-05"},
		{"provider": "openai", "model": "gpt-4o-mini", "periods": [{"input": 0.15, "output": 0.6}], "source": "https://example.com/bench", "checked": "2026-12-05"}]}`), "bench.json")
	if err != nil {
		tb.Fatal(err)
	}
	return pricing.Default().Merge(over)
}

// BenchmarkPricingInterleaved assembles the same sessions (testgen.Session,
// 500 sessions of 20 spans: what the pipeline benchmarks send) and encodes
// their records, with pricing off and on, one after the other in every
// iteration (alternating which goes first) so both see the same machine
// load. It reports each one's ns/span and the median ratio (on/off) with
// its spread (p10, p90): what pricing costs the exporter's own work, without
// the collector's queues and the sink's I/O around it.
//
//	go test -run '^$' -bench BenchmarkPricingInterleaved -benchtime 100x ./internal/assembler/
func BenchmarkPricingInterleaved(b *testing.B) {
	const sessions, spansEach = 500, 20
	var parts []ptrace.Traces
	for i := range sessions {
		parts = append(parts, testgen.Session(i, spansEach))
	}
	td := testgen.Merge(parts...)
	off := testConfig()
	off.MaxSessions, off.MaxSpans = 2*sessions, 2*sessions*spansEach
	on := off
	on.Prices = benchTable(b)
	cfgs := [2]Config{off, on}
	now := testgen.Base.Add(time.Hour)
	check := func(res Result, priced bool) {
		if len(res.Records) != sessions {
			b.Fatalf("%d records, want %d", len(res.Records), sessions)
		}
		if c := res.Records[0].Cost; (c != nil) != priced || (priced && (c.PricedCalls == 0 || c.UnpricedCalls != 0)) {
			b.Fatalf("pricing %v: cost %+v", priced, c)
		}
	}
	var total [2]time.Duration
	var ratios []float64
	i := 0
	for b.Loop() {
		var took [2]time.Duration
		for k := range 2 {
			p := (i + k) % 2
			start := time.Now()
			a := New(cfgs[p])
			a.Add(td, now)
			res := a.Drain(now)
			for _, r := range res.Records {
				e, err := record.Encode(&r)
				if err != nil {
					b.Fatal(err)
				}
				benchSink += len(e.JSON)
			}
			took[p] = time.Since(start)
			total[p] += took[p]
			if i == 0 {
				check(res, p == 1)
			}
		}
		ratios = append(ratios, float64(took[1])/float64(took[0]))
		i++
	}
	n := float64(i * sessions * spansEach)
	b.ReportMetric(float64(total[0].Nanoseconds())/n, "off_ns/span")
	b.ReportMetric(float64(total[1].Nanoseconds())/n, "priced_ns/span")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(ratios[len(ratios)/10], "ratio_p10")
	b.ReportMetric(ratios[len(ratios)*9/10], "ratio_p90")
	b.ReportMetric(0, "ns/op")
}
