package benchmarks

import (
	"bufio"
	"context"
	"encoding/json"
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

// benchPrices prices the workload's models (testgen's gpt-4o and
// gpt-4o-mini, which the default table does not hold), so that every call
// of the priced pipeline takes the whole pricing path: lookup, period,
// cost, and the sums per session, agent and model. The prices are the
// benchmark's own, not published ones.
const benchPrices = `{"version": "bench", "models": [
 {"provider": "openai", "model": "gpt-4o", "periods": [{"input": 2.5, "output": 10, "cache_read": 1.25}],
  "source": "https://example.com/benchmark-prices", "checked": "2026-12-05"},
 {"provider": "openai", "model": "gpt-4o-mini", "periods": [{"input": 0.15, "output": 0.6}],
  "source": "https://example.com/benchmark-prices", "checked": "2026-12-05"}]}`

// pricingPipeline returns the session exporter writing the file sink, with
// pricing on (over benchPrices) or off.
func pricingPipeline(on bool, prices string) pipeline {
	return func(tb testing.TB, w workload, dir string, run int) string {
		ctx := context.Background()
		out := filepath.Join(dir, fmt.Sprintf("run-%d-%t", run, on))
		f := sessionexporter.NewFactory()
		cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
		cfg.File.GetOrInsertDefault().Path = filepath.Join(out, "sessions.jsonl")
		cfg.Pricing.Enabled = on
		if on {
			cfg.Pricing.File = prices
		}
		cfg.MaxSessions = 2 * w.sessions
		cfg.GracePeriod = time.Millisecond
		exp, err := f.CreateTraces(ctx, exportertest.NewNopSettings(component.MustNewType("session")), cfg)
		require.NoError(tb, err)
		require.NoError(tb, exp.Start(ctx, componenttest.NewNopHost()))
		w.feed(tb, exp)
		require.NoError(tb, exp.Shutdown(ctx))
		return out
	}
}

// TestPricingPipelines checks, on a small workload, that the priced
// pipeline writes a cost for every session with every call priced, and the
// other none.
func TestPricingPipelines(t *testing.T) {
	w := newWorkload(t, 30, spansPerSession)
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.json")
	require.NoError(t, os.WriteFile(prices, []byte(benchPrices), 0o600))
	for _, on := range []bool{true, false} {
		out := pricingPipeline(on, prices)(t, w, dir, 0)
		f, err := os.Open(filepath.Join(out, "sessions.jsonl"))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		n := 0
		for sc.Scan() {
			var r struct {
				Cost *struct {
					USD           float64 `json:"usd"`
					PricedCalls   int     `json:"priced_calls"`
					UnpricedCalls int     `json:"unpriced_calls"`
				} `json:"cost"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
			if on {
				require.NotNil(t, r.Cost)
				require.Positive(t, r.Cost.USD)
				require.Positive(t, r.Cost.PricedCalls)
				require.Zero(t, r.Cost.UnpricedCalls)
			} else {
				require.Nil(t, r.Cost)
			}
			n++
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
		require.Equal(t, w.sessions, n)
	}
}

// BenchmarkPricing runs the session exporter (file sink) with pricing off
// and on, one after the other inside every iteration (alternating the
// order) so they share the machine's load, on the BenchmarkPipelines
// workload. It reports each one's spans/s over the run and the median and
// range over iterations of the priced run's time relative to the unpriced
// run's in the same iteration (priced_x_vs_off: 1.05 = 5% slower).
func BenchmarkPricing(b *testing.B) {
	w := newWorkload(b, benchSessions, spansPerSession)
	dir := b.TempDir()
	prices := filepath.Join(dir, "prices.json")
	require.NoError(b, os.WriteFile(prices, []byte(benchPrices), 0o600))
	pipes := []pipeline{pricingPipeline(false, prices), pricingPipeline(true, prices)}
	elapsed := make([]time.Duration, 2)
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
			_ = os.RemoveAll(out)
			b.StartTimer()
		}
		ratios = append(ratios, float64(took[1])/float64(took[0]))
		run++
	}
	spans := float64(w.spans) * float64(run)
	b.ReportMetric(spans/elapsed[0].Seconds(), "off_spans/s")
	b.ReportMetric(spans/elapsed[1].Seconds(), "priced_spans/s")
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "priced_x_vs_off_median")
	b.ReportMetric(ratios[0], "priced_x_vs_off_min")
	b.ReportMetric(ratios[len(ratios)-1], "priced_x_vs_off_max")
}
