package dialect

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A reported cost: crewtrace's key, gen_ai.usage.cost, Langfuse's cost
// details (total, else the sum of the parts); nonsense is no cost.
func TestReadReportedCost(t *testing.T) {
	for _, c := range []struct {
		name  string
		attrs map[string]any
		want  float64
		has   bool
	}{
		{"crewtrace", map[string]any{"crewtrace.usage.cost": 0.0042}, 0.0042, true},
		{"crewtrace first", map[string]any{"crewtrace.usage.cost": 0.5, "gen_ai.usage.cost": 0.7}, 0.5, true},
		{"gen_ai", map[string]any{"gen_ai.usage.cost": 0.25}, 0.25, true},
		{"gen_ai as a string", map[string]any{"gen_ai.usage.cost": "0.125"}, 0.125, true},
		{"zero is a cost", map[string]any{"gen_ai.usage.cost": 0.0}, 0, true},
		{"langfuse total", map[string]any{"langfuse.observation.cost_details": `{"input":1,"total":0.0123}`}, 0.0123, true},
		{"langfuse parts", map[string]any{"langfuse.observation.cost_details": `{"input":0.5,"output":0.25}`}, 0.75, true},
		{"negative", map[string]any{"gen_ai.usage.cost": -1.0}, 0, false},
		{"absurd", map[string]any{"gen_ai.usage.cost": 1e300}, 0, false},
		{"not a number", map[string]any{"gen_ai.usage.cost": "free"}, 0, false},
		{"langfuse not json", map[string]any{"langfuse.observation.cost_details": `{`}, 0, false},
		{"langfuse negative part", map[string]any{"langfuse.observation.cost_details": `{"input":-1,"output":2}`}, 0, false},
		{"none", map[string]any{"gen_ai.usage.input_tokens": 3}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Read(span("chat m", c.attrs))
			assert.Equal(t, c.has, d.HasCost)
			assert.InDelta(t, c.want, d.CostUSD, 1e-15)
		})
	}
}

// The one-hour part of the cache writes is read from crewtrace's key and
// never exceeds the writes.
func TestReadCacheWrite1h(t *testing.T) {
	d := Read(span("chat m", map[string]any{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.cache_creation.input_tokens": 50,
		"crewtrace.usage.cache_creation_1h.input_tokens": 30}))
	assert.Equal(t, int64(30), d.Tokens.CacheWrite1h)
	d = Read(span("chat m", map[string]any{"gen_ai.usage.cache_creation.input_tokens": 5, "crewtrace.usage.cache_creation_1h.input_tokens": 30}))
	assert.Equal(t, int64(5), d.Tokens.CacheWrite1h)
}
