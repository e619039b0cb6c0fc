package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

const repriceSession = "00000000-0000-4000-8000-0000000000c1"

// storeWithPricedTrace writes one trace of one gpt-5-mini call (10,000
// input tokens of which 8,000 cache reads, 1,000 output), priced at $1 by
// an older table, into a new SQLite store.
func storeWithPricedTrace(t *testing.T) string {
	t.Helper()
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tok := record.Tokens{Input: 10_000, Output: 1_000, Total: 11_000, CacheRead: 8_000}
	cost := func() *record.Cost { return &record.Cost{USD: 1, PricedCalls: 1} }
	r := &record.Record{
		SchemaVersion: record.SchemaVersion, SessionID: repriceSession, Revision: 1,
		TraceID: "0000000000000000000000000000c001", Name: "triage", Tags: []string{},
		StartTime: start, EndTime: start.Add(time.Second), DurationMs: 1000, EndState: "Success",
		Complete: true, FlushReason: record.FlushGracePeriod, EmittedAt: start.Add(time.Minute),
		Resource: map[string]any{}, SpanCount: 3, Counts: record.Counts{Agents: 1, LLMCalls: 1}, Tokens: tok,
		Cost: &record.Cost{USD: 1, Currency: record.Currency, PriceTable: "old", PricedCalls: 1},
		Agents: []record.Agent{{ID: "00000000-0000-4000-8000-0000000000a1", Name: "triager", SpanCount: 2,
			LLMCalls: 1, Tokens: tok, Cost: cost()}},
		Models: []record.Model{{Provider: "openai", Model: "gpt-5-mini-2025-08-07", LLMCalls: 1, Tokens: tok, Cost: cost()}},
		Events: []record.Event{},
	}
	e, err := record.Encode(r)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := store.Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, s.Write(context.Background(), []record.Encoded{e}))
	require.NoError(t, s.Close())
	return path
}

func storedCost(t *testing.T, path string) (float64, string) {
	t.Helper()
	s, err := store.Open(context.Background(), path, store.ReadOnly())
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Session(context.Background(), repriceSession)
	require.NoError(t, err)
	return got.CostUSD, got.Traces[0].Record.Cost.PriceTable
}

func TestRepriceWithTheEmbeddedTableAndAnOverride(t *testing.T) {
	path := storeWithPricedTrace(t)
	ctx := context.Background()

	// gpt-5-mini in the embedded table: 2,000 uncached × $0.25 + 8,000
	// cache reads × $0.025 + 1,000 output × $2.00 = $0.0005 + $0.0002 + $0.002.
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"reprice", "--store", path}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "1 priced traces looked at, 1 changed")
	cost, version := storedCost(t, path)
	assert.InDelta(t, 0.0027, cost, 1e-12)
	assert.Equal(t, pricing.Default().Version(), version)

	// Again: nothing changes.
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"reprice", "--store", path}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "1 priced traces looked at, 0 changed")

	// An override doubling the input prices: 2,000 × $0.50 + 8,000 × $0.05 + 1,000 × $2.
	file := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"version": "ours-1", "models": [{"provider": "openai",
		"model": "gpt-5-mini", "periods": [{"input": 0.5, "output": 2, "cache_read": 0.05}],
		"source": "https://example.com/our-contract", "checked": "2026-12-05"}]}`), 0o600))
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"reprice", "--store", path, "--prices", file, "--since", "2026-12-01"}, &out, &errOut), errOut.String())
	cost, version = storedCost(t, path)
	assert.InDelta(t, 0.0034, cost, 1e-12)
	assert.Equal(t, pricing.Default().Version()+"+ours-1", version)

	// --since after the trace: not looked at.
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"reprice", "--store", path, "--since", "2026-12-02T00:00:00Z"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "0 priced traces looked at, 0 changed")
	cost, _ = storedCost(t, path)
	assert.InDelta(t, 0.0034, cost, 1e-12)
}

func TestRepriceRefusesBadArguments(t *testing.T) {
	path := storeWithPricedTrace(t)
	bad := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version": "x", "models": [{"provider": "openai",
		"model": "gpt-x", "periods": [{"input": -1, "output": 2}], "source": "https://example.com", "checked": "2026-12-05"}]}`), 0o600))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"reprice"}, 2, "--store is required"},
		{[]string{"reprice", "--store", path, "--since", "yesterday"}, 2, `--since "yesterday" is neither`},
		{[]string{"reprice", "--store", path, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"reprice", "--store", path, "--prices", bad}, 1, `models[0] (provider "openai", model "gpt-x")`},
	} {
		var errOut bytes.Buffer
		assert.Equal(t, c.code, run(context.Background(), c.args, &bytes.Buffer{}, &errOut), c.args)
		assert.Contains(t, errOut.String(), c.msg)
	}
	// Nothing was changed by the refused runs.
	cost, version := storedCost(t, path)
	assert.Equal(t, 1.0, cost)
	assert.Equal(t, "old", version)
}
