package otelsession_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/pricing"
)

// logLines decodes the JSON lines a slog.JSONHandler wrote.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(b)
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

// The summary's cost, worked out by hand from the embedded table's prices:
//
//	claude-haiku-4-5: 1,000 uncached × $1 + 4,000 5-minute writes × $1.25 + 500 × $5 = $0.0085
//	gpt-5-mini (dated name): 2,000 uncached × $0.25 + 8,000 cache reads × $0.025 + 1,000 × $2 = $0.0027
//	a gateway's reported cost: $0.01
//	acme/mystery-1: unpriced, named
//
// total $0.0212; tokens 5,500 + 11,000 + 150 + 15 = 16,665, of which 8,000 cache reads.
func TestSummaryLine(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	ctx, s := otelsession.Start(context.Background(), e.opts(otelsession.WithName("triage"),
		otelsession.WithSummary(slog.New(slog.NewJSONHandler(&buf, nil))),
		otelsession.WithTraceURL("http://localhost:16686/"))...)
	actx, agent, err := s.StartAgent(ctx, "triager")
	require.NoError(t, err)

	call := func(provider, model string, resp otelsession.LLMResponse) {
		_, c, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Provider: provider, Model: model})
		require.NoError(t, err)
		c.End(resp, nil)
	}
	call("anthropic", "claude-haiku-4-5", otelsession.LLMResponse{InputTokens: 5_000, CacheCreationInputTokens: 4_000, OutputTokens: 500})
	call("openai", "gpt-5-mini", otelsession.LLMResponse{ResponseModel: "gpt-5-mini-2025-08-07",
		InputTokens: 10_000, CacheReadInputTokens: 8_000, OutputTokens: 1_000})
	call("gateway", "routed", otelsession.LLMResponse{InputTokens: 100, OutputTokens: 50, CostUSD: 0.01})
	call("acme", "mystery-1", otelsession.LLMResponse{InputTokens: 10, OutputTokens: 5})

	for i, fail := range []error{nil, errors.New("timeout")} {
		_, tool, err := otelsession.StartToolCall(actx, "search")
		require.NoError(t, err, i)
		tool.End("", fail)
	}
	for range 3 {
		require.NoError(t, otelsession.RecordAction(actx, "click", nil))
	}
	require.NoError(t, otelsession.RecordError(actx, "parse", errors.New("bad json")))
	agent.End(nil)
	assert.Empty(t, buf.String(), "nothing is logged before End")
	require.NoError(t, s.End(otelsession.Success, "done"))

	lines := logLines(t, &buf)
	require.Len(t, lines, 1)
	msg, _ := lines[0]["msg"].(string)
	assert.Regexp(t, `^session triage: Success \| \d+\.\d\ds \| LLM 4 \| tools 2 \| actions 3 \| errors 2 \| `+
		`tokens 16,665 \(cached 8,000\) \| \$0\.0212 \+ 1 unpriced \(acme/mystery-1\) \| `+
		regexp.QuoteMeta("http://localhost:16686/trace/"+s.TraceID().String())+`$`, msg)
	assert.Equal(t, "INFO", lines[0]["level"])
	assert.Equal(t, s.ID(), lines[0]["session.id"])
	assert.InDelta(t, 0.0212, lines[0]["cost_usd"], 1e-12)
	assert.EqualValues(t, 1, lines[0]["unpriced_calls"])

	// Only the first End logs.
	require.ErrorIs(t, s.End(otelsession.Fail, "again"), otelsession.ErrSessionEnded)
	assert.Empty(t, buf.String())
}

func TestSummaryWithAnotherTableAndNoURL(t *testing.T) {
	e := newEnv(t)
	tab, err := pricing.Parse([]byte(`{"version": "ours", "models": [{"provider": "acme", "model": "mystery-1",
		"periods": [{"input": 1000, "output": 2000}], "source": "https://example.com/contract", "checked": "2026-12-05"}]}`), "ours.json")
	require.NoError(t, err)
	var buf bytes.Buffer
	ctx, s := otelsession.Start(context.Background(), e.opts(
		otelsession.WithSummary(slog.New(slog.NewJSONHandler(&buf, nil))), otelsession.WithPriceTable(tab))...)
	_, c, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Provider: "acme", Model: "mystery-1"})
	require.NoError(t, err)
	// 10 × $1,000 + 5 × $2,000 per million = $0.02; the call failed: an error.
	c.End(otelsession.LLMResponse{InputTokens: 10, OutputTokens: 5}, errors.New("overloaded"))
	require.NoError(t, s.End(otelsession.Fail, "overloaded"))
	lines := logLines(t, &buf)
	require.Len(t, lines, 1)
	assert.Regexp(t, `^session: Fail \| \d+\.\d\ds \| LLM 1 \| tools 0 \| actions 0 \| errors 1 \| tokens 15 \| \$0\.0200$`, lines[0]["msg"])
}

func TestNoSummaryWithoutTheOption(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer slog.SetDefault(prev)
	ctx, s := otelsession.Start(context.Background(), e.opts(otelsession.WithSummary(nil))...)
	_, c, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "gpt-5-mini"})
	require.NoError(t, err)
	c.End(otelsession.LLMResponse{InputTokens: 1}, nil)
	require.NoError(t, s.End(otelsession.Success, ""))
	assert.Empty(t, buf.String(), "the summary is opt-in and never goes to the default logger")
}

func TestSummaryNumberFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1_000: "1,000", 1_234_567: "1,234,567", -12_345: "-12,345"} {
		assert.Equal(t, want, otelsession.Thousands(n), n)
	}
	for usd, want := range map[float64]string{0: "$0", 0.0123: "$0.0123", 1.5: "$1.5000", 0.0000275: "$0.0000275", 0.002: "$0.002"} {
		assert.Equal(t, want, otelsession.Dollars(usd), usd)
	}
}
