package store

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

// readmeQueries returns the README's example queries by name.
func readmeQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)```sql\n-- query: ([a-z_0-9]+)\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// rowsAsText runs a query and returns its rows with numbers in one form,
// whatever type the driver returns (PostgreSQL's sums are numeric).
func rowsAsText(t *testing.T, e *env, query string) [][]string {
	t.Helper()
	rows, err := e.raw.QueryContext(context.Background(), query)
	require.NoError(t, err, query)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			var s string
			switch x := v.(type) {
			case int64:
				s = strconv.FormatInt(x, 10)
			case float64:
				s = strconv.FormatFloat(x, 'f', -1, 64)
			case []byte:
				s = string(x)
			default:
				s = fmt.Sprint(x)
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				s = strconv.FormatFloat(f, 'f', -1, 64)
			}
			row[i] = s
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestReadmeQueriesRunOnBothDialects(t *testing.T) {
	qs := readmeQueries(t)
	require.Len(t, qs, 3)
	day0 := strconv.FormatInt(base.Unix()/86400, 10)
	day1 := strconv.FormatInt(base.Unix()/86400+1, 10)
	want := map[string][][]string{
		"success_rate_per_day": {
			{"alpha", day0, "3", "2", "66.7"},
			{"beta", day0, "2", "1", "50"},
			{"alpha", day1, "1", "1", "100"},
		},
		"p95_duration_by_name": {{"beta", "1", "6000"}, {"alpha", "4", "5000"}},
		"tokens_per_agent_name": {
			{"writer", "2", "2", "80", "20", "200"},
			{"researcher", "6", "6", "60", "30", "90"},
		},
	}
	forEachDialect(t, func(t *testing.T, e *env) {
		mk := func(id, name string, day int, state string, ms int, complete bool, writer bool) *record.Record {
			return rec(id, traceID(len(id)), 0, func(r *record.Record) {
				r.Name, r.EndState, r.Complete, r.DurationMs = name, state, complete, float64(ms)
				r.StartTime = base.Add(time.Duration(day) * 24 * time.Hour)
				r.EndTime = r.StartTime.Add(time.Duration(ms) * time.Millisecond)
				if writer {
					r.Agents = append(r.Agents, record.Agent{ID: "w", Name: "writer", LLMCalls: 1,
						Tokens: record.Tokens{Input: 40, Output: 10, Total: 100}})
				}
			})
		}
		e.write(t,
			mk("a1", "alpha", 0, "Success", 1000, true, false),
			mk("a22", "alpha", 0, "Fail", 3000, true, false),
			mk("a333", "alpha", 0, "Success", 2000, true, false),
			mk("a4444", "alpha", 1, "Success", 5000, true, false),
			mk("b55555", "beta", 0, "Indeterminate", 4000, false, true),
			mk("b666666", "beta", 0, "Success", 6000, true, true),
		)
		for name, q := range qs {
			assert.Equal(t, want[name], rowsAsText(t, e, q), name)
		}
	})
}
