package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store/storetest"
)

// The read benchmarks run on a store of benchSessions() sessions (100,000
// unless CREWTRACE_BENCH_SESSIONS says otherwise), generated once per
// dialect and process, outside the timer:
//
//	make bench-store
//	cd store && go test -run '^$' -bench BenchmarkRead -benchtime 100x -count 3
//
// Each op records its latency; the benchmark reports p50, p95 and p99 in
// milliseconds beside Go's mean (ns/op).

func benchSessions() int {
	if n, err := strconv.Atoi(os.Getenv("CREWTRACE_BENCH_SESSIONS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// benchEnd is the end of the generated week of sessions.
var benchEnd = storetest.End

// benchStore is a populated store and what the benchmarks need from it.
type benchStore struct {
	s        *Store
	ids      []string // every session ID
	multi    []string // sessions of several traces
	deep     string   // the list cursor 50% into the newest-first order
	sessions int
}

var (
	benchMu     sync.Mutex
	benchStores = map[Dialect]*benchStore{}
	benchDir    string
)

// cleanupBench removes what the benchmarks created (TestMain calls it).
func cleanupBench() {
	for _, b := range benchStores {
		_ = b.s.Close()
	}
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
}

// populated returns dialect d's benchmark store, building it the first time.
func populated(b *testing.B, d Dialect) *benchStore {
	benchMu.Lock()
	defer benchMu.Unlock()
	if bs, ok := benchStores[d]; ok {
		return bs
	}
	ctx := context.Background()
	var dsn string
	if d == Postgres {
		conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
		require.NoError(b, err)
		_, err = conn.Exec(ctx, "CREATE DATABASE bench_store")
		require.NoError(b, err)
		require.NoError(b, conn.Close(ctx))
		dsn = srv.DSN("bench_store")
	} else {
		var err error
		if benchDir == "" {
			benchDir, err = os.MkdirTemp("", "crewtrace-store-bench-")
			require.NoError(b, err)
		}
		dsn = benchDir + "/bench.db"
	}
	s, err := Open(ctx, dsn, WithTimeout(time.Minute))
	require.NoError(b, err)
	bs := &benchStore{s: s, sessions: benchSessions()}
	start := time.Now()
	gen := storetest.NewGenerator(1)
	var batch []record.Encoded
	flush := func() {
		require.NoError(b, s.Write(ctx, batch))
		batch = batch[:0]
	}
	for i := range bs.sessions {
		recs := gen.Session(i)
		bs.ids = append(bs.ids, recs[0].SessionID)
		if len(recs) > 1 {
			bs.multi = append(bs.multi, recs[0].SessionID)
		}
		for _, r := range recs {
			e, err := record.Encode(r)
			require.NoError(b, err)
			if gen.Rand().IntN(4) == 0 {
				e = withJSON(b, e, fmt.Sprintf(`{"events_refused":%d}`, gen.Rand().IntN(3)))
			}
			batch = append(batch, e)
		}
		if len(batch) >= 500 {
			flush()
		}
	}
	flush()
	if d == Postgres {
		// What autovacuum does soon after a bulk load; index-only scans
		// need the visibility map it sets.
		_, err = s.b.reader().ExecContext(ctx, "VACUUM ANALYZE")
	} else {
		_, err = s.b.(*sqliteBackend).writer.ExecContext(ctx, "ANALYZE")
	}
	require.NoError(b, err)
	// The cursor halfway down the list.
	q := ListQuery{Limit: MaxLimit}
	for range bs.sessions / 2 / MaxLimit {
		p, err := s.ListSessions(ctx, q)
		require.NoError(b, err)
		q.After = p.Next
	}
	bs.deep = q.After
	b.Logf("%s: %d sessions stored in %s", d, bs.sessions, time.Since(start).Round(time.Second))
	benchStores[d] = bs
	return bs
}

// latencies runs op b.N times, timing each, and reports p50/p95/p99 in ms.
func latencies(b *testing.B, op func() error) {
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p int) float64 { return float64(times[(len(times)*p+99)/100-1]) / 1e6 }
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(95), "p95-ms")
	b.ReportMetric(pct(99), "p99-ms")
}

// BenchmarkRead measures what the viewer's pages cost on a store of 100,000
// sessions: first list page, filtered pages, a deep keyset page, one
// session, and overviews of a day (1-minute buckets) and of the week
// (hourly buckets).
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	for _, d := range []Dialect{SQLite, Postgres} {
		b.Run(string(d), func(b *testing.B) {
			bs := populated(b, d)
			s := bs.s
			list := func(q ListQuery) func() error {
				return func() error {
					p, err := s.ListSessions(ctx, q)
					if err == nil && len(p.Sessions) == 0 {
						err = fmt.Errorf("empty page")
					}
					return err
				}
			}
			b.Run("list_first_page", func(b *testing.B) { latencies(b, list(ListQuery{})) })
			b.Run("list_filtered_fail", func(b *testing.B) {
				latencies(b, list(ListQuery{Filter: Filter{EndStates: []string{"Fail"}}}))
			})
			b.Run("list_filtered_text", func(b *testing.B) {
				latencies(b, list(ListQuery{Filter: Filter{Text: "triage"}}))
			})
			// A rare term: the page fills only after scanning most sessions.
			b.Run("list_filtered_text_rare", func(b *testing.B) {
				latencies(b, list(ListQuery{Filter: Filter{Text: "(code 38)"}}))
			})
			b.Run("list_filtered_errors_by_tokens", func(b *testing.B) {
				latencies(b, list(ListQuery{Sort: SortTokens, Filter: Filter{HasErrors: true}}))
			})
			b.Run("list_deep_page", func(b *testing.B) { latencies(b, list(ListQuery{After: bs.deep})) })
			b.Run("count_filtered_fail", func(b *testing.B) {
				latencies(b, func() error {
					_, err := s.CountSessions(ctx, Filter{EndStates: []string{"Fail"}})
					return err
				})
			})
			b.Run("session", func(b *testing.B) {
				i := 0
				latencies(b, func() error {
					i++
					ids := bs.ids
					if i%2 == 0 {
						ids = bs.multi
					}
					_, err := s.Session(ctx, ids[(i*7919)%len(ids)])
					return err
				})
			})
			b.Run("overview_day", func(b *testing.B) {
				latencies(b, func() error {
					_, err := s.Overview(ctx, OverviewQuery{From: benchEnd.Add(-24 * time.Hour), To: benchEnd})
					return err
				})
			})
			b.Run("overview_week", func(b *testing.B) {
				latencies(b, func() error {
					_, err := s.Overview(ctx, OverviewQuery{From: benchEnd.Add(-7 * 24 * time.Hour), To: benchEnd, Step: time.Hour})
					return err
				})
			})
		})
	}
}

var benchSeq int64

// BenchmarkWrite measures records/s written in batches of 100, each record
// a new session of one trace with two agents (as the postgres sink's own
// BenchmarkWrite, so that the figures compare).
func BenchmarkWrite(b *testing.B) {
	for _, d := range []Dialect{SQLite, Postgres} {
		b.Run(string(d)+"/batch_100", func(b *testing.B) {
			e := newEnv(b, d)
			ctx := context.Background()
			recs := make([]record.Encoded, b.N)
			for i := range recs {
				benchSeq++
				recs[i] = enc(b, rec(fmt.Sprintf("bench-%d", benchSeq), traceID(int(benchSeq)), 0, func(r *record.Record) {
					r.Agents = append(r.Agents, record.Agent{ID: "a-2", Name: "writer", LLMCalls: 1})
				}))[0]
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(recs); i += 100 {
				if err := e.s.Write(ctx, recs[i:min(i+100, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
