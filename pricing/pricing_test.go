package pricing

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var day = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// Golden cases, worked out by hand from the published prices in
// default.json (each entry names its page). Prices are $ per million tokens.
func TestGoldenCosts(t *testing.T) {
	tab := Default()
	for _, c := range []struct {
		name, provider, model string
		at                    time.Time
		u                     Usage
		want                  float64
	}{
		// 10,000 × $3 + 2,000 × $15 = $0.03 + $0.03
		{"uncached", "anthropic", "claude-sonnet-4-5", day, Usage{Input: 10_000, Output: 2_000}, 0.06},
		// 2,000 uncached × $0.25 + 8,000 cache reads × $0.025 + 1,000 × $2.00
		// = $0.0005 + $0.0002 + $0.002
		{"cache read (OpenAI: part of input)", "openai", "gpt-5-mini", day,
			Usage{Input: 10_000, CacheRead: 8_000, Output: 1_000}, 0.0027},
		// 1,000 uncached × $1 + 4,000 5-minute writes × $1.25 + 500 × $5
		// = $0.001 + $0.005 + $0.0025
		{"cache write, 5 minutes", "anthropic", "claude-haiku-4-5", day,
			Usage{Input: 5_000, CacheWrite: 4_000, Output: 500}, 0.0085},
		// 1,000 × $1 + 4,000 one-hour writes × $2 + 500 × $5
		{"cache write, 1 hour", "anthropic", "claude-haiku-4-5", day,
			Usage{Input: 5_000, CacheWrite: 4_000, CacheWrite1h: 4_000, Output: 500}, 0.0115},
		// 1,000 uncached × $3 + 2,000 reads × $0.30 + 1,000 5m writes × $3.75
		// + 1,000 1h writes × $6 + 400 × $15
		// = 0.003 + 0.0006 + 0.00375 + 0.006 + 0.006
		{"reads and both writes", "anthropic", "claude-sonnet-4-5-20250929", day,
			Usage{Input: 5_000, CacheRead: 2_000, CacheWrite: 2_000, CacheWrite1h: 1_000, Output: 400}, 0.01935},
		// Reasoning is output at the output price: 1,000 × $0.05 + 3,000 × $0.40
		{"reasoning billed as output", "openai", "gpt-5-nano", day,
			Usage{Input: 1_000, Output: 3_000, Reasoning: 2_500}, 0.00125},
		// 300,000 × $2.50 + 1,000 × $15 (the whole call in the > 200K tier)
		{"long-context tier", "gcp.gemini", "gemini-2.5-pro", day, Usage{Input: 300_000, Output: 1_000}, 0.765},
		// 200,000 is not above 200K: 200,000 × $1.25 + 1,000 × $10
		{"long-context threshold itself", "gcp.gemini", "gemini-2.5-pro", day, Usage{Input: 200_000, Output: 1_000}, 0.26},
		// 200,000 uncached × $6 + 50,000 reads × $0.30 + 2,000 × $22.50
		{"long-context tier with cache reads", "anthropic", "claude-sonnet-4-20250514", day,
			Usage{Input: 250_000, CacheRead: 50_000, Output: 2_000}, 1.26},
		// 1M × $0.75 + 100,000 × $3.75 before the change ...
		{"before a price change", "gcp.gemini", "gemini-3.8-flash", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
			Usage{Input: 1_000_000, Output: 100_000}, 1.125},
		// ... and 1M × $1.50 + 100,000 × $7.50 from 2027-01-01.
		{"after a price change", "gcp.gemini", "gemini-3.8-flash", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			Usage{Input: 1_000_000, Output: 100_000}, 2.25},
		// Dated names price as their family: 1,000 × $0.25 + 1,000 × $2.
		{"dated OpenAI name", "openai", "gpt-5-mini-2025-08-07", day, Usage{Input: 1_000, Output: 1_000}, 0.00225},
		// Claude Haiku 5.5 up to 100,000 prompt tokens: 80,000 uncached ×
		// $0.10 + 20,000 5-minute writes × $0.125 + 1,000 × $0.50
		// = $0.008 + $0.0025 + $0.0005
		{"prompt-length tier, below", "anthropic", "claude-haiku-5-5", day,
			Usage{Input: 100_000, CacheWrite: 20_000, Output: 1_000}, 0.011},
		// Over 100,000: every token at the tier's prices, 150,000 × $0.50 + 1,000 × $2.50.
		{"prompt-length tier, above", "anthropic", "claude-haiku-5-5", day,
			Usage{Input: 150_000, Output: 1_000}, 0.0775},
		// A dated Anthropic name: 1,000 × $5 + 1,000 × $25.
		{"dated Anthropic name", "anthropic", "claude-opus-4-7-20260416", day, Usage{Input: 1_000, Output: 1_000}, 0.03},
		// DeepSeek's cache hit: 600 × $0.27 + 400 × $0.07 + 100 × $1.10
		{"deepseek cache hit", "deepseek", "deepseek-chat", day, Usage{Input: 1_000, CacheRead: 400, Output: 100}, 0.0003},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := tab.Price(c.provider, c.model, c.at, c.u)
			require.NoError(t, err)
			assert.InDelta(t, c.want, got, 1e-12)
		})
	}
}

func TestUnpriced(t *testing.T) {
	tab := Default()
	_, err := tab.Price("openai", "gpt-9-ultra", day, Usage{Input: 10})
	assert.ErrorIs(t, err, ErrUnknownModel)
	assert.ErrorContains(t, err, "gpt-9-ultra")
	// An entry without a cache-read price does not price cache reads at $0.
	_, err = tab.Price("openai", "gpt-5.5-pro", day, Usage{Input: 10, CacheRead: 5})
	assert.ErrorIs(t, err, ErrMissingPrice)
	assert.ErrorContains(t, err, "cache-read")
	// Without cache reads it is priced.
	got, err := tab.Price("openai", "gpt-5.5-pro", day, Usage{Input: 1_000, Output: 1_000})
	require.NoError(t, err)
	assert.InDelta(t, 0.21, got, 1e-12) // 1,000 × $30 + 1,000 × $180
	_, err = tab.Price("deepseek", "deepseek-chat", day, Usage{Input: 10, CacheWrite: 5})
	assert.ErrorIs(t, err, ErrMissingPrice)
}

func TestMatchFamilies(t *testing.T) {
	tab := Default()
	for model, want := range map[string]string{
		"claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
		"claude-sonnet-4-20250514":   "claude-sonnet-4",
		"claude-sonnet-4":            "claude-sonnet-4",
		"claude-3-7-sonnet-latest":   "claude-3-7-sonnet",
		"claude-opus-4-1-20250805":   "claude-opus-4-1",
		"CLAUDE-HAIKU-4-5":           "claude-haiku-4-5",
		"claude-opus-4-7":            "claude-opus-4-7", // not its neighbour claude-opus-4
		"claude-opus-4-9":            "",                // a model the table lacks is not its neighbour
		"claude-sonnet-4-5-extended": "",
	} {
		e, ok := tab.Match("anthropic", model)
		if want == "" {
			assert.False(t, ok, model)
			continue
		}
		require.True(t, ok, model)
		assert.Equal(t, want, e.Model, model)
	}
	for model, want := range map[string]string{
		"gpt-4-0613":         "gpt-4",
		"gpt-5.5":            "gpt-5.5",
		"gpt-5.5-2026-04-23": "gpt-5.5",
		"gpt-5.5-pro":        "gpt-5.5-pro",
		"gpt-5.4-mini":       "gpt-5.4-mini",
		"gpt-4o":             "",
		"gpt-4.1":            "",
	} {
		e, ok := tab.Match("openai", model)
		if want == "" {
			assert.False(t, ok, model)
			continue
		}
		require.True(t, ok, model)
		assert.Equal(t, want, e.Model, model)
	}
	// The Gemini API's resource name and the other spellings of the provider.
	for _, p := range []string{"gcp.gemini", "gemini", "Google"} {
		e, ok := tab.Match(p, "models/gemini-2.5-flash-001")
		require.True(t, ok, p)
		assert.Equal(t, "gemini-2.5-flash", e.Model)
	}
	// Clouds and resellers that price apart match nothing of the defaults.
	for _, p := range []string{"azure.ai.openai", "aws.bedrock", "gcp.vertex_ai", "openrouter"} {
		_, ok := tab.Match(p, "gpt-5-mini")
		assert.False(t, ok, p)
	}
	// Without a provider, a model only one provider has.
	e, ok := tab.Match("", "claude-haiku-4-5")
	require.True(t, ok)
	assert.Equal(t, "anthropic", e.Provider)
}

func TestPatternAndExact(t *testing.T) {
	tab, err := Parse([]byte(`{"version":"t1","models":[
		{"provider":"x","model":"acme-*-chat","match":"pattern","periods":[{"input":1,"output":2}],"source":"s","checked":"2026-12-01"},
		{"provider":"x","model":"acme-large","match":"exact","periods":[{"input":3,"output":4}],"source":"s","checked":"2026-12-01"}]}`), "t")
	require.NoError(t, err)
	e, ok := tab.Match("x", "acme-7b-chat")
	require.True(t, ok)
	assert.Equal(t, "acme-*-chat", e.Model)
	_, ok = tab.Match("x", "acme-large-20250101") // exact: no family
	assert.False(t, ok)
	_, ok = tab.Match("x", "acme-large")
	assert.True(t, ok)
}

func TestReasoningBilledApart(t *testing.T) {
	tab, err := Parse([]byte(`{"version":"t1","models":[
		{"provider":"x","model":"thinker","periods":[{"input":1,"output":2,"reasoning":8}],"source":"s"}]}`), "t")
	require.NoError(t, err)
	// 1,000 × $1 + 500 text × $2 + 1,500 reasoning × $8
	got, err := tab.Price("x", "thinker", day, Usage{Input: 1_000, Output: 2_000, Reasoning: 1_500})
	require.NoError(t, err)
	assert.InDelta(t, 0.014, got, 1e-12)
}

func TestMergeOverrides(t *testing.T) {
	over, err := Parse([]byte(`{"version":"acme-1","models":[
		{"provider":"openai","model":"gpt-5-mini","periods":[{"input":0.2,"output":1.6,"cache_read":0.02}],"source":"contract"},
		{"provider":"azure.ai.openai","model":"gpt-5-mini","periods":[{"input":0.3,"output":2.5}],"source":"contract"}]}`), "over")
	require.NoError(t, err)
	m := Default().Merge(over)
	assert.Equal(t, Default().Version()+"+acme-1", m.Version())
	got, err := m.Price("openai", "gpt-5-mini", day, Usage{Input: 1_000_000})
	require.NoError(t, err)
	assert.InDelta(t, 0.2, got, 1e-12)
	got, err = m.Price("azure.ai.openai", "gpt-5-mini-2025-08-07", day, Usage{Output: 1_000_000})
	require.NoError(t, err)
	assert.InDelta(t, 2.5, got, 1e-12)
	// The defaults stay in.
	_, err = m.Price("anthropic", "claude-haiku-4-5", day, Usage{Input: 1})
	assert.NoError(t, err)
	// The default table is unchanged.
	got, _ = Default().Price("openai", "gpt-5-mini", day, Usage{Input: 1_000_000})
	assert.InDelta(t, 0.25, got, 1e-12)
}

func TestBadTablesNameTheEntry(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"version":"v","models":[{"provider":"p","model":"m","periods":[{"input":1}],"source":"s"}]}`, `models[0] (provider "p", model "m"): periods[0]: input and output prices are required`},
		{`{"version":"v","models":[{"provider":"p","model":"ok","periods":[{"input":1,"output":1}]},{"provider":"p","model":"m2","periods":[{"input":-1,"output":1}]}]}`, `models[1] (provider "p", model "m2"): periods[0]: input price -1`},
		{`{"version":"v","models":[{"provider":"p","model":"m","periods":[{"input":1,"output":1},{"from":"2026-13-01","input":1,"output":1}]}]}`, `from "2026-13-01"`},
		{`{"version":"v","models":[{"provider":"p","model":"m","periods":[{"from":"2026-02-01","input":1,"output":1},{"from":"2026-01-01","input":1,"output":1}]}]}`, `not after the previous`},
		{`{"version":"v","models":[{"provider":"p","model":"m","match":"regex","periods":[{"input":1,"output":1}]}]}`, `match "regex"`},
		{`{"version":"v","models":[{"provider":"p","model":"[","match":"pattern","periods":[{"input":1,"output":1}]}]}`, `pattern`},
		{`{"version":"v","models":[{"provider":"","model":"m","periods":[{"input":1,"output":1}]}]}`, `provider is empty`},
		{`{"version":"v","models":[{"provider":"p","model":"m","periods":[{"input":1,"output":1,"tiers":[{"above_input_tokens":0,"input":2}]}]}]}`, `above_input_tokens 0`},
		{`{"version":"v","models":[{"provider":"p","model":"m","prices":{}}]}`, `models[0] (provider "p", model "m"): json: unknown field "prices"`},
		{`{"version":"v","models":[{"provider":"p","model":"m","periods":[{"input":1,"ouptut":1}]}]}`, `models[0] (provider "p", model "m"): json: unknown field "ouptut"`},
		{`{"models":[]}`, `version is empty`},
		{`not json`, `invalid character`},
	} {
		_, err := Parse([]byte(c.doc), "prices.json")
		require.Error(t, err, c.doc)
		assert.ErrorIs(t, err, ErrInvalidTable)
		assert.ErrorContains(t, err, c.want)
		assert.ErrorContains(t, err, "prices.json")
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, ErrInvalidTable)
}

func TestLoadFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"version":"mine","models":[{"provider":"p","model":"m","periods":[{"input":1,"output":1}],"source":"s"}]}`), 0o600))
	tab, err := Load(f)
	require.NoError(t, err)
	assert.Equal(t, "mine", tab.Version())
}

// The embedded table: every entry has a source page and a check date, and
// there is one entry per provider and model.
func TestDefaultTableDocumented(t *testing.T) {
	tab := Default()
	assert.NotEmpty(t, tab.Version())
	providers := map[string]int{}
	for _, e := range tab.Entries() {
		assert.True(t, strings.HasPrefix(e.Source, "https://"), "%s: source %q", e.Model, e.Source)
		_, err := time.Parse(time.DateOnly, e.Checked)
		assert.NoError(t, err, "%s: checked", e.Model)
		providers[e.Provider]++
	}
	assert.GreaterOrEqual(t, len(tab.Entries()), 40)
	for _, p := range []string{"openai", "anthropic", "gcp.gemini", "deepseek"} {
		assert.Positive(t, providers[p], p)
	}
	var d document
	require.NoError(t, json.Unmarshal(DefaultJSON(), &d))
	assert.Len(t, d.Models, len(tab.Entries()), "duplicate entries in default.json")
}

func TestCleanUsage(t *testing.T) {
	tab := Default()
	// Parts larger than their whole are cut to it, negatives are 0: never
	// a negative cost.
	got, err := tab.Price("openai", "gpt-5-mini", day, Usage{Input: 100, CacheRead: 500, Output: -5, Reasoning: 9})
	require.NoError(t, err)
	assert.InDelta(t, 100*0.025/1e6, got, 1e-15)
	got, err = tab.Price("anthropic", "claude-haiku-4-5", day, Usage{Input: math.MaxInt64, CacheWrite: math.MaxInt64, CacheWrite1h: 5})
	require.NoError(t, err)
	assert.False(t, math.IsInf(got, 0) || math.IsNaN(got) || got < 0)
}

func TestErrorsAreDistinct(t *testing.T) {
	assert.False(t, errors.Is(ErrUnknownModel, ErrMissingPrice))
}

// CostOfCalls prices summed usage with the tier of the average call:
// two calls of 300,000 input tokens each to gemini-2.5-pro are both in the
// > 200K tier: 600,000 × $2.50 + 2,000 × $15 = $1.53; two of 100,000 are
// not: 200,000 × $1.25 + 2,000 × $10 = $0.27.
func TestCostOfCallsUsesTheAverageCallsTier(t *testing.T) {
	e, ok := Default().Match("gcp.gemini", "gemini-2.5-pro")
	require.True(t, ok)
	got, err := e.CostOfCalls(Usage{Input: 600_000, Output: 2_000}, 2, day)
	require.NoError(t, err)
	assert.InDelta(t, 1.53, got, 1e-12)
	got, err = e.CostOfCalls(Usage{Input: 200_000, Output: 2_000}, 2, day)
	require.NoError(t, err)
	assert.InDelta(t, 0.27, got, 1e-12)
	one, err := e.CostOfCalls(Usage{Input: 300_000, Output: 1_000}, 1, day)
	require.NoError(t, err)
	assert.InDelta(t, 0.765, one, 1e-12)
}
