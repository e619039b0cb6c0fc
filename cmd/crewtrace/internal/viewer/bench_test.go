package viewer

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/pgtest"
	"github.com/crewtrace/crewtrace/store/storetest"
)

// The benchmarks serve the viewer's pages and API over a store of
// benchSessions() generated sessions (100,000 unless
// CREWTRACE_BENCH_SESSIONS says otherwise; the store package's generator,
// a week of them), built once per dialect and process outside the timer:
//
//	make bench-viewer
//	cd cmd/crewtrace/internal/viewer && go test -run '^$' -bench . -benchtime 100x -count 3
//
// Each iteration times the page through the viewer's handler (store query,
// template, escaping: the server time of a request) and, interleaved, the
// store call alone — the baseline — and reports p50/p95/p99 of both in
// milliseconds and the median ratio of page to store time with its range.

func benchSessions() int {
	if n, err := strconv.Atoi(os.Getenv("CREWTRACE_BENCH_SESSIONS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

type benchStore struct {
	st   *store.Store
	ids  []string
	deep string // the list cursor halfway down the newest-first order
}

var (
	benchMu     sync.Mutex
	benchStores = map[store.Dialect]*benchStore{}
	benchDir    string
	pgServer    *pgtest.Server
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range benchStores {
		_ = b.st.Close()
	}
	if pgServer != nil {
		_ = pgServer.Close()
	}
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// populated returns dialect d's benchmark store, building it the first time.
func populated(b *testing.B, d store.Dialect) *benchStore {
	benchMu.Lock()
	defer benchMu.Unlock()
	if bs, ok := benchStores[d]; ok {
		return bs
	}
	ctx := context.Background()
	var dsn string
	var admin *sql.DB
	var err error
	switch d {
	case store.Postgres:
		if pgServer == nil {
			pgServer, err = pgtest.Start()
			require.NoError(b, err, "PostgreSQL for the benchmarks (Debian's postgresql package)")
		}
		pg, err := sql.Open("pgx", pgServer.DSN("postgres"))
		require.NoError(b, err)
		_, err = pg.ExecContext(ctx, "CREATE DATABASE viewer_bench")
		require.NoError(b, err)
		require.NoError(b, pg.Close())
		dsn = pgServer.DSN("viewer_bench")
		admin, err = sql.Open("pgx", dsn)
	default:
		if benchDir == "" {
			benchDir, err = os.MkdirTemp("", "crewtrace-viewer-bench-")
			require.NoError(b, err)
		}
		dsn = filepath.Join(benchDir, "bench.db")
		admin, err = sql.Open("sqlite", dsn)
	}
	require.NoError(b, err)
	defer admin.Close()
	w, err := store.Open(ctx, dsn, store.WithTimeout(time.Minute))
	require.NoError(b, err)
	start := time.Now()
	bs := &benchStore{}
	gen := storetest.NewGenerator(1)
	var batch []record.Encoded
	for i := range benchSessions() {
		recs := gen.Session(i)
		bs.ids = append(bs.ids, recs[0].SessionID)
		for _, r := range recs {
			e, err := record.Encode(r)
			require.NoError(b, err)
			batch = append(batch, e)
		}
		if len(batch) >= 500 {
			require.NoError(b, w.Write(ctx, batch))
			batch = batch[:0]
		}
	}
	require.NoError(b, w.Write(ctx, batch))
	require.NoError(b, w.Close())
	// Planner statistics, as a database that has run for a while has them.
	if d == store.Postgres {
		_, err = admin.ExecContext(ctx, "VACUUM ANALYZE")
	} else {
		_, err = admin.ExecContext(ctx, "ANALYZE")
	}
	require.NoError(b, err)
	// The viewer opens its store read-only.
	bs.st, err = store.Open(ctx, dsn, store.ReadOnly())
	require.NoError(b, err)
	q := store.ListQuery{Limit: store.MaxLimit}
	for range benchSessions() / 2 / store.MaxLimit {
		p, err := bs.st.ListSessions(ctx, q)
		require.NoError(b, err)
		q.After = p.Next
	}
	bs.deep = q.After
	b.Logf("%s: %d sessions stored in %s", d, benchSessions(), time.Since(start).Round(time.Second))
	benchStores[d] = bs
	return bs
}

// pageVsStore runs b.N iterations of the page request and, alternating which
// goes first, of the store call behind it; it reports the page's and the
// store's p50/p95/p99 in ms and the median (min–max) page/store ratio.
func pageVsStore(b *testing.B, v http.Handler, target func(i int) string, storeOp func(i int) error) {
	page := make([]time.Duration, 0, b.N)
	base := make([]time.Duration, 0, b.N)
	ratios := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		u := target(i)
		timePage := func() {
			r := httptest.NewRequest(http.MethodGet, u, nil)
			r.Host = "127.0.0.1:8080"
			w := httptest.NewRecorder()
			t0 := time.Now()
			v.ServeHTTP(w, r)
			page = append(page, time.Since(t0))
			if w.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", u, w.Code, w.Body.String())
			}
		}
		timeStore := func() {
			t0 := time.Now()
			if err := storeOp(i); err != nil {
				b.Fatal(err)
			}
			base = append(base, time.Since(t0))
		}
		if i%2 == 0 {
			timePage()
			timeStore()
		} else {
			timeStore()
			timePage()
		}
		ratios = append(ratios, float64(page[i])/float64(base[i]))
	}
	b.StopTimer()
	pct := func(ts []time.Duration, p int) float64 {
		s := slices.Clone(ts)
		slices.Sort(s)
		return float64(s[(len(s)*p+99)/100-1]) / 1e6
	}
	for _, p := range []int{50, 95, 99} {
		b.ReportMetric(pct(page, p), fmt.Sprintf("p%d-ms", p))
	}
	b.ReportMetric(pct(base, 95), "store-p95-ms")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "page/store")
	b.ReportMetric(ratios[0], "page/store-min")
	b.ReportMetric(ratios[len(ratios)-1], "page/store-max")
}

// BenchmarkPages measures the server time of each page and API answer on a
// store of 100,000 sessions, SQLite and PostgreSQL, against the goals (list
// and session pages ≤ 50 ms, overview ≤ 250 ms at p95).
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			bs := populated(b, d)
			v, err := New(Config{Store: bs.st, Now: func() time.Time { return storetest.End }})
			require.NoError(b, err)
			fixed := func(u string) func(int) string { return func(int) string { return u } }
			list := func(q store.ListQuery) func(int) error {
				return func(int) error { _, err := bs.st.ListSessions(ctx, q); return err }
			}
			overview := func(from time.Time, step time.Duration) func(int) error {
				return func(int) error {
					_, err := bs.st.Overview(ctx, store.OverviewQuery{From: from, To: storetest.End, Step: step})
					return err
				}
			}
			session := func(i int) error { _, err := bs.st.Session(ctx, bs.ids[i*7919%len(bs.ids)]); return err }
			sessionURL := func(i int) string { return sessionURL(bs.ids[i*7919%len(bs.ids)]) }
			day, week := storetest.End.Add(-24*time.Hour), storetest.End.Add(-7*24*time.Hour)

			b.Run("list_first_page", func(b *testing.B) { pageVsStore(b, v, fixed("/"), list(store.ListQuery{})) })
			b.Run("list_filtered_fail", func(b *testing.B) {
				pageVsStore(b, v, fixed("/?state=Fail"), list(store.ListQuery{Filter: store.Filter{EndStates: []string{"Fail"}}}))
			})
			b.Run("list_filtered_text", func(b *testing.B) {
				pageVsStore(b, v, fixed("/?q=triage"), list(store.ListQuery{Filter: store.Filter{Text: "triage"}}))
			})
			b.Run("list_deep_page", func(b *testing.B) {
				pageVsStore(b, v, fixed("/?after="+bs.deep), list(store.ListQuery{After: bs.deep}))
			})
			b.Run("api_sessions", func(b *testing.B) { pageVsStore(b, v, fixed("/api/sessions"), list(store.ListQuery{})) })
			b.Run("session", func(b *testing.B) { pageVsStore(b, v, sessionURL, session) })
			b.Run("api_session", func(b *testing.B) {
				pageVsStore(b, v, func(i int) string { return "/api" + sessionURL(i) }, session)
			})
			b.Run("overview_day", func(b *testing.B) { pageVsStore(b, v, fixed("/overview?range=24h"), overview(day, time.Minute*15)) })
			b.Run("overview_week", func(b *testing.B) { pageVsStore(b, v, fixed("/overview?range=7d"), overview(week, time.Hour)) })
		})
	}
}
