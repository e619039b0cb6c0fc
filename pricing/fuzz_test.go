package pricing

import (
	"strings"
	"testing"
	"time"
)

// FuzzMatch: any provider and model name (client-chosen strings) matches at
// most one entry, the same one every time (cached or not); a family match
// is the family's name followed by version suffixes only; a priced call
// never costs less than zero, NaN or infinity.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"anthropic", "claude-sonnet-4-5-20250929"}, {"openai", "gpt-4o-2024-08-06"}, {"openai", "gpt-5.5-pro"},
		{"", "claude-haiku-4-5"}, {"gemini", "models/gemini-2.5-pro-001"}, {"openai", "gpt-4-0613-0613"},
		{"anthropic", "claude-opus-4-@20250101"}, {"x", "-"}, {"openai", "gpt-5-mini-v1:0"}, {"\x00", "\xff"},
	} {
		f.Add(s[0], s[1], int64(1000), int64(100), int64(10), int64(5))
	}
	tab := Default()
	f.Fuzz(func(t *testing.T, provider, model string, in, out, cr, cw int64) {
		e1, ok1 := tab.Match(provider, model)
		e2 := tab.lookup(CanonicalProvider(provider), normaliseModel(model))
		if ok1 != (e2 != nil) || (ok1 && e1 != e2) {
			t.Fatalf("cached match %v differs from lookup %v", e1, e2)
		}
		if !ok1 {
			return
		}
		m := normaliseModel(model)
		if e1.Match == MatchFamily && (!strings.HasPrefix(m, e1.model) || !versionSuffix(m[len(e1.model):])) {
			t.Fatalf("%q matched family %q", model, e1.model)
		}
		usd, err := e1.Cost(Usage{Input: in, Output: out, CacheRead: cr, CacheWrite: cw}, time.Unix(0, 0))
		if err == nil && (usd < 0 || usd != usd || usd > 1e300) {
			t.Fatalf("cost %v", usd)
		}
	})
}
