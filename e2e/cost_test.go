package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/store"
)

// contractPrices is a pricing.file for the collector: a price for gpt-4o
// (which the embedded table does not hold) as a user's negotiated price
// would be — the test's own figures, not a published price.
const contractPrices = `{"version": "e2e-contract", "models": [{"provider": "openai", "model": "gpt-4o",
 "periods": [{"input": 1, "output": 2}], "source": "https://example.com/e2e-contract", "checked": "2026-12-05"}]}`

// TestCostThroughTheCollector runs the example crew through the collector
// with a pricing.file and checks every record's cost against the figure
// worked out from the crew's own per-model token counts:
//
//	claude-sonnet-4: input × $3 + output × $15 per million tokens
//	  (the embedded table, from Anthropic's pricing page; the crew's calls
//	  stay far below the 200K-token tier)
//	gpt-4o: input × $1 + output × $2 per million (the pricing.file)
//	gpt-4o-mini, claude-haiku-4: in no table — unpriced, counted and named
//
// and the session's cost in the embedded store.
func TestCostThroughTheCollector(t *testing.T) {
	ctx, env := newEnv(t)
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.json")
	require.NoError(t, os.WriteFile(prices, []byte(contractPrices), 0o600))
	overlay := filepath.Join(dir, "pricing.yaml")
	require.NoError(t, os.WriteFile(overlay, fmt.Appendf(nil, "exporters:\n  session:\n    pricing:\n      file: %q\n", prices), 0o600))
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorConfigs: []string{filepath.Join(env.root, "collector-config.yaml"), overlay},
		CollectorEnv:     []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	env.runCrew(t, ctx, stack, "-tasks", "10", "-concurrency", "5", "-seed", "14", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	require.NoError(t, stack.Stop())

	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(stack.SessionsDir, "sessions.db"), store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	var priced, unpricedAll int
	for _, tr := range truth {
		var want float64
		wantModel := map[string]float64{}
		var unpriced int
		var names []string
		for _, m := range tr.Models {
			key := m.Provider + "/" + m.Model
			switch key {
			case "anthropic/claude-sonnet-4":
				wantModel[key] = (float64(m.InputTokens)*3 + float64(m.OutputTokens)*15) / 1e6
			case "openai/gpt-4o":
				wantModel[key] = (float64(m.InputTokens)*1 + float64(m.OutputTokens)*2) / 1e6
			default:
				unpriced += m.LLMCalls
				names = append(names, key)
				continue
			}
			want += wantModel[key]
			priced += m.LLMCalls
		}
		slices.Sort(names)
		unpricedAll += unpriced

		r := records[tr.SessionID]
		require.NotNil(t, r.Cost, tr.Name)
		assert.InDelta(t, want, r.Cost.USD, 1e-12, tr.Name)
		assert.Equal(t, "USD", r.Cost.Currency)
		assert.Equal(t, pricing.Default().Version()+"+e2e-contract", r.Cost.PriceTable)
		assert.Equal(t, unpriced, r.Cost.UnpricedCalls, tr.Name)
		assert.Equal(t, tr.LLMCalls-unpriced, r.Cost.PricedCalls, tr.Name)
		if len(names) == 0 {
			assert.Empty(t, r.Cost.UnpricedModels, tr.Name)
		} else {
			assert.Equal(t, names, r.Cost.UnpricedModels, tr.Name)
		}
		require.Len(t, r.Models, len(tr.Models), tr.Name)
		for _, m := range r.Models {
			require.NotNil(t, m.Cost, m.Model)
			assert.InDelta(t, wantModel[m.Provider+"/"+m.Model], m.Cost.USD, 1e-12, "%s %s", tr.Name, m.Model)
		}
		var agents float64
		for _, a := range r.Agents {
			require.NotNil(t, a.Cost, a.Name)
			agents += a.Cost.USD
		}
		assert.InDelta(t, want, agents, 1e-12, "the agents' costs add up to the session's: %s", tr.Name)

		s, err := st.Session(context.Background(), tr.SessionID)
		require.NoError(t, err, tr.Name)
		assert.InDelta(t, want, s.CostUSD, 1e-12, tr.Name)
		assert.Equal(t, int64(unpriced), s.UnpricedCalls, tr.Name)
		assert.Equal(t, 1, s.CostedTraces, tr.Name)
	}
	assert.Positive(t, priced, "the seed prices some calls")
	assert.Positive(t, unpricedAll, "and leaves some unpriced")
}
