package postgres

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

// readmeQueries returns the ```sql blocks of README.md that start with
// "-- query: <name>", by name.
func readmeQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	out := map[string]string{}
	parts := strings.Split(string(b), "```sql\n")
	for _, p := range parts[1:] {
		body, _, ok := strings.Cut(p, "```")
		require.True(t, ok, "unterminated sql block")
		first, _, _ := strings.Cut(body, "\n")
		if name, ok := strings.CutPrefix(first, "-- query: "); ok {
			out[name] = body
		}
	}
	return out
}

// plain turns numeric and date values into float64 and "YYYY-MM-DD".
func plain(t *testing.T, rs []map[string]any) []map[string]any {
	t.Helper()
	for _, r := range rs {
		for k, v := range r {
			switch v := v.(type) {
			case pgtype.Numeric:
				f, err := v.Float64Value()
				require.NoError(t, err)
				r[k] = f.Float64
			case time.Time:
				r[k] = v.Format(time.DateOnly)
			case float64:
				r[k] = math.Round(v*1000) / 1000
			}
		}
	}
	return rs
}

// TestReadmeQueries runs the README's queries, as written there, on a known
// data set written through the sink (revisions included: only the stored,
// highest revision of a session may count).
func TestReadmeQueries(t *testing.T) {
	queries := readmeQueries(t)
	require.Len(t, queries, 3)
	db, pool := newDB(t)
	s := startSink(t, testConfig(db), nil)

	day1, day2 := base, base.Add(24*time.Hour)
	type sess struct {
		name    string
		start   time.Time
		state   string
		durMs   float64
		done    bool
		agents  []record.Agent
		revised string // if set, revision 0 had this end state and other agents
	}
	researcher := func(in, out int64) record.Agent {
		return record.Agent{ID: "a-r", Name: "researcher", LLMCalls: 2, Tokens: record.Tokens{Input: in, Output: out, Total: in + out}}
	}
	writer := func(in, out int64) record.Agent {
		return record.Agent{ID: "a-w", Name: "writer", LLMCalls: 1, Tokens: record.Tokens{Input: in, Output: out, Total: in + out}}
	}
	data := []sess{
		// research-crew, day 1 (09:00 to 23:00 UTC): 3 of 4 succeed; durations 1..4 s.
		{"research-crew", day1, "Success", 1000, true, []record.Agent{researcher(100, 10), writer(50, 5)}, ""},
		{"research-crew", day1.Add(time.Hour), "Success", 2000, true, []record.Agent{researcher(200, 20)}, "Indeterminate"},
		{"research-crew", day1.Add(2 * time.Hour), "Fail", 3000, true, []record.Agent{writer(10, 1)}, "Success"},
		{"research-crew", day1.Add(14 * time.Hour), "Success", 4000, true, nil, ""},
		// research-crew, day 2: 1 of 2 succeeds; durations 5, 6 s.
		{"research-crew", day2, "Success", 5000, true, []record.Agent{researcher(300, 30)}, ""},
		{"research-crew", day2.Add(time.Minute), "Indeterminate", 6000, true, nil, ""},
		// support-crew, day 1: 2 of 2; durations 10, 20 s.
		{"support-crew", day1.Add(3 * time.Hour), "Success", 10000, true, []record.Agent{writer(1000, 100)}, ""},
		{"support-crew", day1.Add(4 * time.Hour), "Success", 20000, true, nil, ""},
		// orphan, day 2: never got its root; counts as a session, not in p95.
		{"orphan", day2.Add(time.Hour), "Indeterminate", 99000, false, nil, ""},
	}
	var batch []*record.Record
	for i, d := range data {
		mk := func(rev int, state string, agents []record.Agent) *record.Record {
			return rec(fmt.Sprintf("q-%d", i), rev, func(r *record.Record) {
				r.Name, r.StartTime, r.EndState, r.DurationMs, r.Complete = d.name, d.start, state, d.durMs, d.done
				r.EndTime = d.start.Add(time.Duration(d.durMs) * time.Millisecond)
				r.Agents = agents
			})
		}
		if d.revised != "" {
			// An earlier revision with other numbers, sent after the later one too.
			early := mk(0, d.revised, []record.Agent{researcher(5000, 5000)})
			batch = append(batch, early, mk(1, d.state, d.agents), early)
			continue
		}
		batch = append(batch, mk(0, d.state, d.agents))
	}
	require.NoError(t, s.Write(context.Background(), enc(t, batch...)))

	t.Run("success_rate_by_name_per_day", func(t *testing.T) {
		got := plain(t, rows(t, pool, queries["success_rate_by_name_per_day"]))
		assert.Equal(t, []map[string]any{
			{"name": "research-crew", "day": "2026-11-20", "sessions": int64(4), "succeeded": int64(3), "success_pct": 75.0},
			{"name": "support-crew", "day": "2026-11-20", "sessions": int64(2), "succeeded": int64(2), "success_pct": 100.0},
			{"name": "orphan", "day": "2026-11-21", "sessions": int64(1), "succeeded": int64(0), "success_pct": 0.0},
			{"name": "research-crew", "day": "2026-11-21", "sessions": int64(2), "succeeded": int64(1), "success_pct": 50.0},
		}, got)
	})
	t.Run("p95_duration_by_name", func(t *testing.T) {
		got := plain(t, rows(t, pool, queries["p95_duration_by_name"]))
		// percentile_cont interpolates: support 10000 + 0.95*(20000-10000);
		// research (1..6 s) position 0.95*5 = 4.75 → 5000 + 0.75*1000.
		assert.Equal(t, []map[string]any{
			{"name": "support-crew", "sessions": int64(2), "p95_ms": 19500.0, "max_ms": 20000.0},
			{"name": "research-crew", "sessions": int64(6), "p95_ms": 5750.0, "max_ms": 6000.0},
		}, got)
	})
	t.Run("tokens_per_agent_name", func(t *testing.T) {
		got := plain(t, rows(t, pool, queries["tokens_per_agent_name"]))
		// The revision-0 agents (5000/5000 tokens) were replaced and count nowhere.
		assert.Equal(t, []map[string]any{
			{"agent": "writer", "sessions": int64(3), "llm_calls": int64(3), "input_tokens": 1060.0, "output_tokens": 106.0, "total_tokens": 1166.0},
			{"agent": "researcher", "sessions": int64(3), "llm_calls": int64(6), "input_tokens": 600.0, "output_tokens": 60.0, "total_tokens": 660.0},
		}, got)
	})
}
