package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
)

// priceTable is a test price table: gpt-test at in/out/cache-read dollars
// per million tokens.
func priceTable(t *testing.T, version string, in, out, cacheRead float64) *pricing.Table {
	t.Helper()
	doc := []byte(`{"version": "` + version + `", "models": [{"provider": "openai", "model": "gpt-test",
		"periods": [{"input": ` + ftoa(in) + `, "output": ` + ftoa(out) + `, "cache_read": ` + ftoa(cacheRead) + `}],
		"source": "https://example.com/test-prices", "checked": "2026-12-05"}]}`)
	tb, err := pricing.Parse(doc, version+".json")
	require.NoError(t, err)
	return tb
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// costed makes a record of one agent with three models, priced by table
// "A" (gpt-test at $2 / $8 / $0.5 per million): gpt-test 1000 input (400
// cache reads) and 100 output tokens, $0.0022; a reported model with
// $0.01; and an unknown model, unpriced.
func costed(r *record.Record) {
	const a = 0.0022
	r.Counts.LLMCalls = 4
	gpt := record.Tokens{Input: 1000, Output: 100, Total: 1100, CacheRead: 400}
	r.Models = []record.Model{
		{Provider: "openai", Model: "gpt-test", LLMCalls: 2, Tokens: gpt,
			Cost: &record.Cost{USD: a, PricedCalls: 2}},
		{Provider: "gateway", Model: "routed", LLMCalls: 1, Tokens: record.Tokens{Input: 10, Output: 10, Total: 20},
			Cost: &record.Cost{USD: 0.01, ReportedCalls: 1, ReportedUSD: 0.01}},
		{Provider: "acme", Model: "mystery-1", LLMCalls: 1, Tokens: record.Tokens{Input: 5, Output: 5, Total: 10},
			Cost: &record.Cost{UnpricedCalls: 1}},
	}
	r.Tokens = record.Tokens{Input: 1015, Output: 115, Total: 1130, CacheRead: 400}
	r.Agents[0].Tokens = r.Tokens
	r.Agents[0].LLMCalls = 4
	r.Agents[0].Cost = &record.Cost{USD: a + 0.01, PricedCalls: 2, ReportedCalls: 1, ReportedUSD: 0.01, UnpricedCalls: 1}
	r.Cost = &record.Cost{USD: a + 0.01, Currency: record.Currency, PriceTable: "A", PricedCalls: 2,
		ReportedCalls: 1, ReportedUSD: 0.01, UnpricedCalls: 1, UnpricedModels: []string{"acme/mystery-1"}}
}

func TestCostIsStoredAndTotalledPerSessionAgentAndModel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := "00000000-0000-4000-8000-00000000c051"
		// Two priced traces and one stored before pricing (no cost: unknown, not $0).
		e.write(t, rec(id, traceID(1), 1, costed), rec(id, traceID(2), 1, costed),
			rec(id, traceID(3), 1, func(r *record.Record) { r.StartTime = base.Add(time.Second) }))
		s := e.session(t, id)
		assert.InDelta(t, 2*0.0122, s.CostUSD, 1e-12)
		assert.Equal(t, int64(2), s.UnpricedCalls)
		assert.Equal(t, 2, s.CostedTraces)
		assert.Equal(t, 3, s.Summary.Traces)
		require.Len(t, s.Agents, 1)
		assert.InDelta(t, 2*0.0122, s.Agents[0].CostUSD, 1e-12)
		require.Len(t, s.Models, 3)
		// Most expensive first.
		assert.Equal(t, "gateway", s.Models[0].Provider)
		assert.InDelta(t, 0.02, s.Models[0].CostUSD, 1e-12)
		assert.Equal(t, int64(2), s.Models[0].ReportedCalls)
		assert.Equal(t, "gpt-test", s.Models[1].Model)
		assert.InDelta(t, 0.0044, s.Models[1].CostUSD, 1e-12)
		assert.Equal(t, record.Tokens{Input: 2000, Output: 200, Total: 2200, CacheRead: 800}, s.Models[1].Tokens)
		assert.Equal(t, int64(4), s.Models[1].PricedCalls)
		assert.Equal(t, "mystery-1", s.Models[2].Model)
		assert.Equal(t, int64(2), s.Models[2].UnpricedCalls)

		// A cheaper session sorts after it by cost.
		other := "00000000-0000-4000-8000-00000000c052"
		e.write(t, rec(other, traceID(4), 1, costed, func(r *record.Record) { r.Cost.USD = 0.001 }))
		page, err := e.s.ListSessions(ctx, ListQuery{Sort: SortCost})
		require.NoError(t, err)
		require.Len(t, page.Sessions, 2)
		assert.Equal(t, id, page.Sessions[0].SessionID)
		assert.InDelta(t, 0.001, page.Sessions[1].CostUSD, 1e-12)

		o, err := e.s.Overview(ctx, OverviewQuery{From: base.Add(-time.Minute), To: base.Add(time.Minute)})
		require.NoError(t, err)
		assert.InDelta(t, 2*0.0122+0.001, o.Totals.CostUSD, 1e-12)
		assert.Equal(t, int64(3), o.Totals.UnpricedCalls)

		// A new revision with fewer models leaves no stale model row.
		e.write(t, rec(other, traceID(4), 2, costed, func(r *record.Record) { r.Models = r.Models[:1] }))
		require.Len(t, e.session(t, other).Models, 1)
		assert.Equal(t, 1, one[int](t, e, "SELECT count(*) FROM crewtrace_trace_models WHERE trace_id = $1", traceID(4)))
	})
}

func TestRepriceRecomputesFromStoredTokensAndIsIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := "00000000-0000-4000-8000-00000000c053"
		early := "00000000-0000-4000-8000-00000000c054"
		unpricedOnly := "00000000-0000-4000-8000-00000000c055"
		e.write(t, rec(id, traceID(1), 1, costed),
			rec(early, traceID(2), 1, costed, func(r *record.Record) { r.StartTime = base.Add(-time.Hour) }),
			rec(unpricedOnly, traceID(3), 1))
		seqBefore := one[int64](t, e, "SELECT value FROM crewtrace_counters WHERE name = 'seq'")

		// Table B doubles gpt-test's prices: 600×4 + 400×1 + 100×16 per million.
		b := priceTable(t, "B", 4, 16, 1)
		const gptB = (600*4 + 400*1 + 100*16) / 1e6 // 0.0044
		res, err := e.s.Reprice(ctx, b, base.Add(-time.Minute))
		require.NoError(t, err)
		assert.Equal(t, RepriceResult{Traces: 1, Changed: 1}, res, "the early trace and the one without cost are not looked at")

		s := e.session(t, id)
		assert.InDelta(t, gptB+0.01, s.CostUSD, 1e-12, "the reported model keeps its cost")
		assert.Equal(t, int64(1), s.UnpricedCalls)
		assert.InDelta(t, gptB+0.01, s.Agents[0].CostUSD, 1e-12, "the agent's cost follows its trace's")
		require.Len(t, s.Models, 3)
		assert.InDelta(t, gptB, s.Models[1].CostUSD, 1e-12)
		// The stored record carries the new figures and the table's version.
		c := s.Traces[0].Record.Cost
		require.NotNil(t, c)
		assert.InDelta(t, gptB+0.01, c.USD, 1e-12)
		assert.Equal(t, "B", c.PriceTable)
		assert.Equal(t, []string{"acme/mystery-1"}, c.UnpricedModels)
		assert.InDelta(t, gptB, s.Traces[0].Record.Models[0].Cost.USD, 1e-12)
		assert.InDelta(t, gptB+0.01, s.Traces[0].Record.Agents[0].Cost.USD, 1e-12)
		assert.Equal(t, "done", s.Traces[0].Record.EndReason, "other fields are kept")

		// The early session is outside --since.
		assert.InDelta(t, 0.0122, e.session(t, early).CostUSD, 1e-12)
		seqAfter := one[int64](t, e, "SELECT value FROM crewtrace_counters WHERE name = 'seq'")
		assert.Greater(t, seqAfter, seqBefore, "readers following the tail see the change")

		// Idempotent: the same table again changes nothing, not even the tail.
		res, err = e.s.Reprice(ctx, b, base.Add(-time.Minute))
		require.NoError(t, err)
		assert.Equal(t, RepriceResult{Traces: 1}, res)
		assert.Equal(t, seqAfter, one[int64](t, e, "SELECT value FROM crewtrace_counters WHERE name = 'seq'"))

		// A table without gpt-test makes its calls unpriced, named in the record.
		none, err := pricing.Parse([]byte(`{"version": "C", "models": []}`), "C.json")
		require.NoError(t, err)
		res, err = e.s.Reprice(ctx, none, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Traces)
		s = e.session(t, id)
		assert.InDelta(t, 0.01, s.CostUSD, 1e-12)
		assert.Equal(t, int64(3), s.UnpricedCalls)
		// Equal costs sort by provider: acme, then openai.
		assert.Equal(t, "gpt-test", s.Models[2].Model)
		assert.Equal(t, int64(2), s.Models[2].UnpricedCalls)
		assert.Equal(t, int64(0), s.Models[2].PricedCalls)
		assert.Equal(t, 3, s.Traces[0].Record.Cost.UnpricedCalls)
		assert.Equal(t, []string{"acme/mystery-1", "openai/gpt-test"}, s.Traces[0].Record.Cost.UnpricedModels)
	})
}

func TestRepriceRefusesAReadOnlyStore(t *testing.T) {
	e := newEnv(t, SQLite)
	e.write(t, rec("00000000-0000-4000-8000-00000000c056", traceID(1), 1, costed))
	ro, err := Open(context.Background(), e.dsn, ReadOnly())
	require.NoError(t, err)
	defer ro.Close()
	_, err = ro.Reprice(context.Background(), priceTable(t, "B", 1, 1, 1), time.Time{})
	require.ErrorIs(t, err, ErrReadOnly)
}

func TestMigrationFromVersion2KeepsTracesWithUnknownCost(t *testing.T) {
	for _, d := range []Dialect{Postgres, SQLite} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := emptyDSN(t, d)
			// A database at version 2 holding one trace, written as version 2 wrote it.
			all := migrations
			migrations = migrations[:2]
			v2, err := Open(ctx, dsn)
			if err == nil {
				_, err = v2.migrate(ctx)
			}
			migrations = all
			require.NoError(t, err)
			id := "00000000-0000-4000-8000-00000000c057"
			doc := enc(t, rec(id, traceID(1), 1))[0].JSON
			err = v2.b.runTx(ctx, []stmt{{sql: `INSERT INTO crewtrace_traces (session_key, trace_id, session_id,
				revision, schema_version, name, name_key, start_us, end_us, duration_ms, end_state, end_reason,
				reason_key, complete, flush_reason, emitted_us, span_count, agent_count, llm_calls, tool_calls,
				event_count, action_count, error_count, events_recorded, events_refused, input_tokens,
				output_tokens, total_tokens, record, stored_us, seq)
				VALUES ($1, $2, $1, 1, 2, 'research-crew', 'research-crew', $3, $4, 2000, 'Success', 'done', 'done',
				1, 'grace_period', $4, 4, 1, 1, 1, 0, 0, 0, 0, 0, 10, 5, 15, $5, $4, 1)`,
				args: []any{id, traceID(1), base.UnixMicro(), base.Add(2 * time.Second).UnixMicro(), string(doc)}}})
			require.NoError(t, err)
			require.NoError(t, v2.Close())

			s, err := Open(ctx, dsn)
			require.NoError(t, err)
			defer s.Close()
			// A priced trace of the same session lands after the migration.
			require.NoError(t, s.Write(ctx, enc(t, rec(id, traceID(2), 1, costed))))
			got, err := s.Session(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, 2, got.Summary.Traces)
			assert.Equal(t, 1, got.CostedTraces, "the version-2 trace's cost is unknown")
			assert.InDelta(t, 0.0122, got.CostUSD, 1e-12)
			v, err := s.SchemaVersion(ctx)
			require.NoError(t, err)
			assert.Equal(t, SchemaVersion, v)
		})
	}
}
