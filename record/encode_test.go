package record

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The hand-written encoder must produce exactly what encoding/json produces.
func TestEncoderMatchesEncodingJSON(t *testing.T) {
	tricky := []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"ctl \x00\x01\x1f \b\f\n\r\t", "bad utf8 \xff\xfe end", "line sep \u2028 para \u2029",
		"unicode 日本語 🚀", "\x7f del",
	}
	ts := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	var recs []Record
	for i, s := range tricky {
		recs = append(recs, Record{
			SchemaVersion: SchemaVersion, SessionID: s, Revision: i, TraceID: s, Name: s,
			Tags: []string{s, "x"}, StartTime: ts, EndTime: ts.Add(time.Duration(i) * time.Hour),
			DurationMs: []float64{0, 1, -2.5, 1e-7, 1e21, 123456.789, 1e-6, math.MaxFloat64, 0.000001234}[i],
			EndState:   s, EndReason: s, Complete: i%2 == 0, FlushReason: s, EmittedAt: ts.In(time.FixedZone("x", 3600)),
			Resource: map[string]any{s: s, "b": true, "i": int64(-7), "f": 2.5, "nil": nil,
				"list": []any{s, int64(1), []any{}, map[string]any{"k": s}}, "bytes": []byte(s)},
			SpanCount: i, Counts: Counts{1, 2, 3, 4, 5, 6}, Tokens: Tokens{Input: 7, Output: 8, Total: 15, CacheRead: 2, CacheWrite: 1, Reasoning: 3}, Source: s,
			Agents: []Agent{{ID: s, Name: s, SpanCount: 1, LLMCalls: 2, ToolCalls: 3, Tokens: Tokens{Input: 1, Output: 2, Total: 3}, Errors: 4,
				Cost: &Cost{USD: 0.0123, PricedCalls: 1, ReportedCalls: 1, ReportedUSD: 1e-7}}, {}},
			Models: []Model{{Provider: s, Model: s, LLMCalls: 2, Tokens: Tokens{Input: 5, CacheRead: 4, CacheWrite: 3, CacheWrite1h: 2},
				Cost: &Cost{USD: 2.5, UnpricedCalls: 1}}, {}},
			Cost: []*Cost{nil, {USD: 1.5, Currency: Currency, PriceTable: s, PricedCalls: 2, UnpricedCalls: 1, UnpricedModels: []string{s, "openai/x"}},
				{}}[i%3],
			Tools: []Tool{{Name: s, Calls: 3, Errors: 1}},
			Events: []Event{
				{Kind: s, Type: s, Time: ts, AgentID: s, AgentName: s, Returns: s, Params: map[string]any{s: int(3), "z": s}, ErrorType: s, Message: s},
				{Kind: "event"},
			},
			EventsRefused: int64(i) - 3,
			Spans: []Span{
				{ID: s, ParentID: s, Kind: s, Name: s, StartUs: int64(i), DurationUs: -1, Error: true, Message: s, Agent: -1,
					Model: s, Tokens: &Tokens{Input: 1, Output: 2, Total: 3}, Tool: s, Events: []int{0, i}},
				{Agent: i},
			},
			TraceURL: s,
		})
		if i%2 == 1 {
			recs[len(recs)-1].Truncated = &Truncated{Values: i, Events: 2 * i, Spans: i % 3}
		}
		if i%3 == 0 {
			recs[len(recs)-1].Fragment = s
		}
	}
	recs = append(recs, Record{}) // nil slices and maps, zero times
	var e Encoder
	for _, r := range recs {
		want, err := json.Marshal(&r)
		require.NoError(t, err)
		got, err := e.Encode(&r)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

func TestEncoderErrors(t *testing.T) {
	var e Encoder
	_, err := e.Encode(&Record{DurationMs: math.NaN()})
	assert.ErrorContains(t, err, "unsupported float")
	_, err = e.Encode(&Record{StartTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	assert.ErrorContains(t, err, "year outside of range")
	_, err = e.Encode(&Record{Resource: map[string]any{"c": make(chan int)}})
	assert.Error(t, err)
	_, err = Encode(&Record{DurationMs: math.Inf(1)})
	assert.Error(t, err)
}
