package store

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

// fixture writes n single-trace sessions s000..s(n-1) with varied states,
// durations, tokens, errors, names and services, and returns them.
func fixture(t *testing.T, e *env, n int) []*record.Record {
	t.Helper()
	var rs []*record.Record
	for i := range n {
		rs = append(rs, rec(fmt.Sprintf("s%03d", i), traceID(i), 0, func(r *record.Record) {
			r.StartTime = base.Add(time.Duration(i) * time.Minute)
			// Equal durations and tokens in pairs, so ties need the key.
			r.DurationMs = float64((i % 7) * 1000)
			r.EndTime = r.StartTime.Add(time.Duration(r.DurationMs) * time.Millisecond)
			r.Tokens.Total = int64((i / 2) * 10)
			r.Counts.Errors = i % 4
			r.Name = []string{"Research Crew", "writer-crew", "Triage_100%"}[i%3]
			r.Tags = []string{fmt.Sprintf("tag-%d", i%5)}
			r.Resource = map[string]any{"service.name": []string{"alpha", "beta"}[i%2]}
			switch i % 5 {
			case 0:
				r.EndState, r.EndReason = "Fail", "model quota exceeded"
			case 1:
				r.EndState, r.EndReason = "Indeterminate", "process exited"
			case 2:
				r.EndState, r.EndReason = "Fail", "tool crashed"
			}
		}))
	}
	// Two batches, so summaries of several transactions mix.
	e.write(t, rs[:n/2]...)
	e.write(t, rs[n/2:]...)
	return rs
}

// want computes, in Go, which fixture sessions a query selects, in order.
func want(rs []*record.Record, keep func(*record.Record) bool, less func(a, b *record.Record) bool) []string {
	var sel []*record.Record
	for _, r := range rs {
		if keep(r) {
			sel = append(sel, r)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return less(sel[i], sel[j]) })
	ids := make([]string, len(sel))
	for i, r := range sel {
		ids[i] = r.SessionID
	}
	return ids
}

// all pages through q and returns the session IDs in order.
func all(t *testing.T, e *env, q ListQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000)
		p, err := e.s.ListSessions(context.Background(), q)
		require.NoError(t, err)
		for _, s := range p.Sessions {
			ids = append(ids, s.SessionID)
		}
		if p.Next == "" {
			return ids
		}
		require.Len(t, p.Sessions, q.Limit, "only the last page may be short")
		q.After = p.Next
	}
}

func TestListSortsFiltersAndPagesLikeAFullSort(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		rs := fixture(t, e, 60)
		every := func(*record.Record) bool { return true }
		byKeyDesc := func(a, b *record.Record) bool { return a.SessionID > b.SessionID }
		cases := []struct {
			name string
			q    ListQuery
			keep func(*record.Record) bool
			less func(a, b *record.Record) bool
		}{
			{"newest first", ListQuery{}, every, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"oldest first", ListQuery{Ascending: true}, every, func(a, b *record.Record) bool { return a.StartTime.Before(b.StartTime) }},
			{"longest first, ties by key", ListQuery{Sort: SortDuration}, every, func(a, b *record.Record) bool {
				if a.DurationMs != b.DurationMs {
					return a.DurationMs > b.DurationMs
				}
				return byKeyDesc(a, b)
			}},
			{"fewest tokens first", ListQuery{Sort: SortTokens, Ascending: true}, every, func(a, b *record.Record) bool {
				if a.Tokens.Total != b.Tokens.Total {
					return a.Tokens.Total < b.Tokens.Total
				}
				return a.SessionID < b.SessionID
			}},
			{"most errors first", ListQuery{Sort: SortErrors}, every, func(a, b *record.Record) bool {
				if a.Counts.Errors != b.Counts.Errors {
					return a.Counts.Errors > b.Counts.Errors
				}
				return byKeyDesc(a, b)
			}},
			{"failed", ListQuery{Filter: Filter{EndStates: []string{"Fail"}}},
				func(r *record.Record) bool { return r.EndState == "Fail" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"failed or indeterminate", ListQuery{Filter: Filter{EndStates: []string{"Fail", "Indeterminate"}}},
				func(r *record.Record) bool { return r.EndState != "Success" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"text in name, any case", ListQuery{Filter: Filter{Text: "research"}},
				func(r *record.Record) bool { return r.Name == "Research Crew" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"text with LIKE wildcards is literal", ListQuery{Filter: Filter{Text: "_100%"}},
				func(r *record.Record) bool { return r.Name == "Triage_100%" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"text in tags", ListQuery{Filter: Filter{Text: "TAG-3"}},
				func(r *record.Record) bool { return r.Tags[0] == "tag-3" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"text in service", ListQuery{Filter: Filter{Text: "beta"}},
				func(r *record.Record) bool { return r.Resource["service.name"] == "beta" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"text in end reason", ListQuery{Filter: Filter{Text: "quota"}},
				func(r *record.Record) bool { return r.EndReason == "model quota exceeded" }, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"time range", ListQuery{Filter: Filter{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute)}},
				func(r *record.Record) bool {
					return !r.StartTime.Before(base.Add(10*time.Minute)) && r.StartTime.Before(base.Add(20*time.Minute))
				}, func(a, b *record.Record) bool { return a.StartTime.After(b.StartTime) }},
			{"has errors, by tokens", ListQuery{Sort: SortTokens, Filter: Filter{HasErrors: true}},
				func(r *record.Record) bool { return r.Counts.Errors > 0 }, func(a, b *record.Record) bool {
					if a.Tokens.Total != b.Tokens.Total {
						return a.Tokens.Total > b.Tokens.Total
					}
					return byKeyDesc(a, b)
				}},
		}
		for _, c := range cases {
			exp := want(rs, c.keep, c.less)
			require.NotEmpty(t, exp, c.name)
			for _, limit := range []int{7, 1000} {
				q := c.q
				q.Limit = limit
				assert.Equal(t, exp, all(t, e, q), "%s, pages of %d", c.name, limit)
			}
			n, err := e.s.CountSessions(context.Background(), c.q.Filter)
			require.NoError(t, err)
			assert.EqualValues(t, len(exp), n, c.name)
		}
	})
}

func TestPagesAreStableWhileNewSessionsLand(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		fixture(t, e, 20)
		ctx := context.Background()
		p1, err := e.s.ListSessions(ctx, ListQuery{Limit: 5})
		require.NoError(t, err)
		// A newer session lands between page 1 and page 2.
		e.write(t, rec("newest", traceID(999), 0, func(r *record.Record) { r.StartTime = base.Add(time.Hour) }))
		p2, err := e.s.ListSessions(ctx, ListQuery{Limit: 5, After: p1.Next})
		require.NoError(t, err)
		assert.Equal(t, "s014", p2.Sessions[0].SessionID, "page 2 continues where page 1 ended")
	})
}

func TestCursorOfAnotherSortIsRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		fixture(t, e, 10)
		ctx := context.Background()
		p, err := e.s.ListSessions(ctx, ListQuery{Limit: 2})
		require.NoError(t, err)
		_, err = e.s.ListSessions(ctx, ListQuery{Limit: 2, Sort: SortTokens, After: p.Next})
		assert.ErrorIs(t, err, ErrBadCursor)
		_, err = e.s.ListSessions(ctx, ListQuery{After: "not-a-cursor"})
		assert.ErrorIs(t, err, ErrBadCursor)
		_, err = e.s.ListSessions(ctx, ListQuery{Limit: MaxLimit + 1})
		assert.ErrorIs(t, err, ErrInvalidQuery)
		_, err = e.s.ListSessions(ctx, ListQuery{Sort: "name"})
		assert.ErrorIs(t, err, ErrInvalidQuery)
	})
}

func TestSessionNotFound(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		_, err := e.s.Session(context.Background(), "nope")
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestSessionsSinceFollowsEveryChangeOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.write(t, rec("old", traceID(1), 0))
		head, err := e.s.Head(ctx)
		require.NoError(t, err)
		ch, err := e.s.SessionsSince(ctx, head, 10)
		require.NoError(t, err)
		assert.Empty(t, ch.Sessions, "nothing landed after the head")
		assert.Equal(t, head, ch.Next)

		follow := func(pos string) ([]string, string) {
			var got []string
			for range 10 {
				ch, err := e.s.SessionsSince(ctx, pos, 2)
				require.NoError(t, err)
				for _, s := range ch.Sessions {
					got = append(got, s.SessionID)
				}
				pos = ch.Next
				if len(ch.Sessions) == 0 {
					break
				}
			}
			return got, pos
		}
		e.write(t, rec("a", traceID(2), 0), rec("b", traceID(3), 0), rec("c", traceID(4), 0))
		got, pos := follow(head)
		assert.Equal(t, []string{"a", "b", "c"}, got)
		e.write(t, rec("old", traceID(1), 0)) // a replay: no change
		e.write(t, rec("a", traceID(5), 0))   // a's second trace: a change
		got, pos = follow(pos)
		assert.Equal(t, []string{"a"}, got, "a again, at its new state; the replay is not a change")
		got, _ = follow(pos)
		assert.Empty(t, got)

		// A tail that reads after both of a's changes sees a once, at the last.
		got, _ = follow(head)
		assert.Equal(t, []string{"b", "c", "a"}, got)

		ch, err = e.s.SessionsSince(ctx, "", 100)
		require.NoError(t, err)
		assert.Equal(t, []string{"old", "b", "c", "a"}, ids(ch.Sessions), "from the start: each session at its last change")

		_, err = e.s.SessionsSince(ctx, "garbage", 10)
		assert.ErrorIs(t, err, ErrBadCursor)
	})
}

func ids(ss []Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.SessionID
	}
	return out
}
