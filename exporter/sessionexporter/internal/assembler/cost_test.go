package assembler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// costTrace is a crewtrace session of two agents and five LLM calls: priced,
// cached, unknown model, reported cost, and a call made after a price change.
func costTrace(start time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	tid := pcommon.TraceID{0xc0, 0x57}
	n := byte(0)
	add := func(parent pcommon.SpanID, name string, at time.Duration, attrs map[string]any) pcommon.SpanID {
		n++
		s := ss.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{n})
		s.SetParentSpanID(parent)
		s.SetName(name)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(at)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(at + time.Second)))
		for k, v := range attrs {
			switch v := v.(type) {
			case string:
				s.Attributes().PutStr(k, v)
			case int:
				s.Attributes().PutInt(k, int64(v))
			case float64:
				s.Attributes().PutDouble(k, v)
			}
		}
		return s.SpanID()
	}
	root := add(pcommon.SpanID{}, "session triage", 0, map[string]any{
		string(semconv.SpanKindKey): semconv.SpanKindSession, string(semconv.SessionIDKey): "s-cost",
		string(semconv.SessionEndStateKey): "Success",
	})
	agent := func(name string) pcommon.SpanID {
		return add(root, "invoke_agent "+name, 0, map[string]any{
			string(semconv.SpanKindKey): semconv.SpanKindAgent, string(semconv.AgentNameKey): name, string(semconv.AgentIDKey): name,
		})
	}
	llm := func(parent pcommon.SpanID, at time.Duration, provider, model string, attrs map[string]any) {
		attrs[string(semconv.SpanKindKey)] = semconv.SpanKindLLM
		attrs[string(semconv.ProviderNameKey)] = provider
		attrs[string(semconv.ResponseModelKey)] = model
		add(parent, "chat "+model, at, attrs)
	}
	a, b := agent("a"), agent("b")
	// 10,000 × $3 + 2,000 × $15 = $0.06
	llm(a, time.Second, "anthropic", "claude-sonnet-4-5-20250929", map[string]any{"gen_ai.usage.input_tokens": 10_000, "gen_ai.usage.output_tokens": 2_000})
	// 2,000 × $0.25 + 8,000 × $0.025 + 1,000 × $2 = $0.0027
	llm(a, 2*time.Second, "openai", "gpt-5-mini", map[string]any{"gen_ai.usage.input_tokens": 10_000,
		"gen_ai.usage.cache_read.input_tokens": 8_000, "gen_ai.usage.output_tokens": 1_000})
	llm(b, 3*time.Second, "openai", "gpt-9", map[string]any{"gen_ai.usage.input_tokens": 10})
	// The span's own cost wins over the table's $0.06.
	llm(b, 4*time.Second, "anthropic", "claude-sonnet-4-5", map[string]any{"gen_ai.usage.input_tokens": 10_000,
		"gen_ai.usage.output_tokens": 2_000, "gen_ai.usage.cost": 0.5})
	// gemini-3.8-flash: 1M × $0.75 + 100,000 × $3.75 before 2027, $1.50 / $7.50 after.
	llm(b, 5*time.Second, "gcp.gemini", "gemini-3.8-flash", map[string]any{"gen_ai.usage.input_tokens": 1_000_000,
		"gen_ai.usage.output_tokens": 100_000})
	return td
}

func costConfig() Config {
	cfg := testConfig()
	cfg.Prices = pricing.Default()
	return cfg
}

func costRecord(t *testing.T, cfg Config, start time.Time) record.Record {
	t.Helper()
	res, _ := run(t, cfg, []step{{add: []ptrace.Traces{costTrace(start)}}, {at: grace + time.Second, tick: true}})
	require.Len(t, res.Records, 1)
	return res.Records[0]
}

func TestCostPerCallAgentModelAndSession(t *testing.T) {
	r := costRecord(t, costConfig(), time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC))
	require.NotNil(t, r.Cost)
	assert.Equal(t, record.Currency, r.Cost.Currency)
	assert.Equal(t, pricing.Default().Version(), r.Cost.PriceTable)
	assert.InDelta(t, 0.06+0.0027+0.5+1.125, r.Cost.USD, 1e-9)
	assert.InDelta(t, 0.5, r.Cost.ReportedUSD, 1e-12)
	assert.Equal(t, 3, r.Cost.PricedCalls)
	assert.Equal(t, 1, r.Cost.ReportedCalls)
	assert.Equal(t, 1, r.Cost.UnpricedCalls)
	assert.Equal(t, []string{"openai/gpt-9"}, r.Cost.UnpricedModels)

	require.Len(t, r.Agents, 2)
	assert.InDelta(t, 0.0627, r.Agents[0].Cost.USD, 1e-12)
	assert.Equal(t, 2, r.Agents[0].Cost.PricedCalls)
	assert.InDelta(t, 1.625, r.Agents[1].Cost.USD, 1e-9)
	assert.Equal(t, record.Cost{USD: r.Agents[1].Cost.USD, PricedCalls: 1, ReportedCalls: 1, ReportedUSD: 0.5, UnpricedCalls: 1}, *r.Agents[1].Cost)

	byModel := map[string]*record.Cost{}
	for _, m := range r.Models {
		byModel[m.Model] = m.Cost
	}
	assert.InDelta(t, 0.06, byModel["claude-sonnet-4-5-20250929"].USD, 1e-12)
	assert.Equal(t, &record.Cost{USD: 0.5, ReportedCalls: 1, ReportedUSD: 0.5}, byModel["claude-sonnet-4-5"])
	assert.Equal(t, &record.Cost{UnpricedCalls: 1}, byModel["gpt-9"])
	assert.InDelta(t, 1.125, byModel["gemini-3.8-flash"].USD, 1e-12)
}

// The same call on the other side of a price change costs the new price.
func TestCostFollowsThePriceChange(t *testing.T) {
	r := costRecord(t, costConfig(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, m := range r.Models {
		if m.Model == "gemini-3.8-flash" {
			assert.InDelta(t, 2.25, m.Cost.USD, 1e-12)
		}
	}
}

// Pricing off: no cost anywhere in the record.
func TestNoPricesNoCost(t *testing.T) {
	r := costRecord(t, testConfig(), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	assert.Nil(t, r.Cost)
	for _, a := range r.Agents {
		assert.Nil(t, a.Cost)
	}
	for _, m := range r.Models {
		assert.Nil(t, m.Cost)
	}
}
