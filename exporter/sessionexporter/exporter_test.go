package sessionexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// fakeClock is the exporter's clock in tests: the ticker fires on real time,
// but what it sees as "now" only moves when the test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	exp   exporter.Traces
	clock *fakeClock
	tel   *componenttest.Telemetry
	logs  *observer.ObservedLogs
	cfg   *Config
}

const testGrace = 40 * time.Millisecond // ticks every 10ms of real time

func testConfig(t *testing.T) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.GracePeriod = testGrace
	cfg.SessionTimeout = time.Minute
	cfg.File.GetOrInsertDefault().Path = filepath.Join(t.TempDir(), "sessions.jsonl")
	cfg.BackOffConfig.InitialInterval = 5 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 20 * time.Millisecond
	cfg.BackOffConfig.RandomizationFactor = 0
	cfg.BackOffConfig.MaxElapsedTime = 30 * time.Second
	return cfg
}

// useHTTPSink replaces the file sink of cfg with an http sink posting to url.
func useHTTPSink(cfg *Config, url string) {
	cfg.File = configoptional.None[sink.FileConfig]()
	cfg.HTTP.GetOrInsertDefault().Endpoint = url
}

func start(t *testing.T, cfg *Config) *harness {
	t.Helper()
	return startWithSink(t, cfg, nil)
}

// startWithSink starts the exporter writing to sk (nil: the configured sink).
func startWithSink(t *testing.T, cfg *Config, sk sink.Sink) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{clock: &fakeClock{t: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}, tel: componenttest.NewTelemetry(), cfg: cfg}
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	core, logs := observer.New(zap.InfoLevel)
	h.logs = logs
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	var sinks []namedSink
	if sk != nil {
		sinks = []namedSink{{key: "test", sink: sk}}
	}
	exp, err := newTracesExporterWithSinks(context.Background(), set, cfg, h.clock.Now, sinks)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	h.exp = exp
	return h
}

func (h *harness) consume(t *testing.T, tds ...ptrace.Traces) {
	t.Helper()
	for _, td := range tds {
		require.NoError(t, h.exp.ConsumeTraces(context.Background(), td))
	}
}

// sum returns the sum of a counter's (or gauge's) data points whose
// attributes include all of attrs (with none, of all its data points).
func (h *harness) sum(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	match := func(set attribute.Set) bool {
		for _, kv := range attrs {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if match(dp.Attributes) {
				n += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			if match(dp.Attributes) {
				n += dp.Value
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return n
}

func readRecords(t *testing.T, path string) []record.Record {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []record.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		r, err := record.Encoded{JSON: sc.Bytes()}.Decode()
		require.NoError(t, err)
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestExportToFile(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	parts := testgen.Split(testgen.Golden())
	late := parts[6]
	h.consume(t, append(parts[:6:6], parts[7:]...)...)
	h.consume(t, testgen.Session(1, 20), testgen.Session(2, 20), testgen.Session(3, 5), testgen.Foreign(9, 3))

	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 4 }, 10*time.Second, 5*time.Millisecond)

	h.consume(t, late)
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 5 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(5), h.sum(t, metadata.MetricSessionsBuffered), "four retained sessions and the pending foreign trace")
	require.NoError(t, h.exp.Shutdown(context.Background()))

	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 5, "shutdown adds nothing: the foreign trace is ignored")
	type key struct {
		id  string
		rev int
	}
	got := map[key]record.Record{}
	for _, r := range recs {
		got[key{r.SessionID, r.Revision}] = r
	}
	require.Len(t, got, 5, "no duplicate records")
	golden0, golden1 := got[key{testgen.SessionID(0), 0}], got[key{testgen.SessionID(0), 1}]
	assert.Equal(t, 7, golden0.SpanCount)
	assert.Equal(t, 8, golden1.SpanCount, "the late span is in revision 1")
	assert.Equal(t, record.FlushGracePeriod, golden1.FlushReason)
	assert.Equal(t, 20, got[key{testgen.SessionID(1), 0}].SpanCount)
	assert.Equal(t, 5, got[key{testgen.SessionID(3), 0}].SpanCount)

	success := attribute.String("end_state", "Success")
	emitted := []attribute.KeyValue{success, attribute.Bool("complete", true), attribute.String("flush_reason", record.FlushGracePeriod)}
	assert.Equal(t, int64(5), h.sum(t, metadata.MetricSessionsEmitted, emitted...))
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricRevisions))
	assert.Equal(t, int64(5), h.sum(t, metadata.MetricRecordsWritten))
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricTracesIgnored))
	assert.Zero(t, h.sum(t, metadata.MetricPartialFlushes, attribute.String("flush_reason", record.FlushShutdown)))
	assert.Zero(t, h.sum(t, metadata.MetricSpansBuffered), "shutdown releases everything")

	m, err := h.tel.GetMetric(metadata.MetricSessionDuration)
	require.NoError(t, err)
	hist := m.Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, 1)
	assert.Equal(t, uint64(4), hist.DataPoints[0].Count, "one duration per session, revisions excluded")
	assert.Equal(t, attribute.NewSet(success), hist.DataPoints[0].Attributes)
}

func TestShutdownDrains(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	h.consume(t, testgen.Golden(), testgen.Split(testgen.Session(4, 6))[1])
	require.NoError(t, h.exp.Shutdown(context.Background()))

	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 2)
	sort.Slice(recs, func(i, j int) bool { return recs[i].SessionID < recs[j].SessionID })
	assert.Equal(t, testgen.SessionID(0), recs[0].SessionID)
	assert.True(t, recs[0].Complete)
	assert.Equal(t, testgen.SessionID(4), recs[1].SessionID)
	assert.False(t, recs[1].Complete, "root never arrived")
	for _, r := range recs {
		assert.Equal(t, record.FlushShutdown, r.FlushReason)
	}
	assert.Equal(t, int64(2), h.sum(t, metadata.MetricPartialFlushes, attribute.String("flush_reason", record.FlushShutdown)))
}

func TestLimitAndBadSpansCounted(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessions = 1
	h := start(t, cfg)
	bad := ptrace.NewTraces()
	bad.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty() // no IDs
	h.consume(t, testgen.Golden(), testgen.Golden(), testgen.Session(1, 3), bad)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	assert.Equal(t, int64(1), h.sum(t, metadata.MetricPartialFlushes, attribute.String("flush_reason", record.FlushLimit)))
	assert.Equal(t, int64(8), h.sum(t, metadata.MetricSpansDropped, attribute.String("reason", "duplicate")))
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricSpansDropped, attribute.String("reason", "missing_id")))
	assert.Len(t, readRecords(t, cfg.File.Get().Path), 2)
}

// recordServer is an HTTP backend storing records by (session_id, revision).
type recordServer struct {
	mu       sync.Mutex
	fail     int // respond with status to this many requests first
	status   int
	requests int
	stored   map[string]int // "session_id/revision" -> times stored
	seen     map[string]int // session_id -> times received
}

func (s *recordServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var recs []record.Record
	if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	for _, rec := range recs {
		s.seen[rec.SessionID]++
	}
	if s.fail < 0 || s.requests <= s.fail {
		w.WriteHeader(s.status)
		return
	}
	for _, rec := range recs {
		s.stored[rec.SessionID+"/"+string(rune('0'+rec.Revision))]++
	}
}

func (s *recordServer) snapshot() (stored, seen map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, seen = map[string]int{}, map[string]int{}
	for k, v := range s.stored {
		stored[k] = v
	}
	for k, v := range s.seen {
		seen[k] = v
	}
	return stored, seen
}

func httpHarness(t *testing.T, srv *recordServer) *harness {
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	cfg := testConfig(t)
	useHTTPSink(cfg, ts.URL)
	return start(t, cfg)
}

func TestHTTPSinkRecoversFromOutage(t *testing.T) {
	srv := &recordServer{fail: 3, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	h := httpHarness(t, srv)
	const n = 10
	want := map[string]int{}
	first := testgen.Split(testgen.Session(0, 8))
	late := first[len(first)-1]
	h.consume(t, first[:len(first)-1]...)
	want[testgen.SessionID(0)+"/0"] = 1
	for i := 1; i < n; i++ {
		h.consume(t, testgen.Session(i, 8))
		want[testgen.SessionID(i)+"/0"] = 1
	}
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { stored, _ := srv.snapshot(); return len(stored) == n }, 20*time.Second, 5*time.Millisecond)

	// A span arriving after its session was delivered: revision 1, nothing else.
	h.consume(t, late)
	want[testgen.SessionID(0)+"/1"] = 1
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { stored, _ := srv.snapshot(); return len(stored) == n+1 }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	stored, _ := srv.snapshot()
	assert.Equal(t, want, stored, "every record delivered exactly once; the only repeat of a session is its revision")
	assert.Positive(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "retryable")))
	assert.Zero(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")))
	assert.Equal(t, int64(n+1), h.sum(t, metadata.MetricRecordsWritten))
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricRevisions))
}

func TestHTTPSinkPermanentRejection(t *testing.T) {
	srv := &recordServer{fail: -1, status: http.StatusBadRequest, stored: map[string]int{}, seen: map[string]int{}}
	h := httpHarness(t, srv)
	h.consume(t, testgen.Session(1, 4), testgen.Session(2, 4))
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		return h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")) == 2
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	stored, seen := srv.snapshot()
	assert.Empty(t, stored)
	assert.Equal(t, map[string]int{testgen.SessionID(1): 1, testgen.SessionID(2): 1}, seen, "a 4xx is never retried")
	assert.Zero(t, h.sum(t, metadata.MetricRecordsWritten))

	var ids []string
	for _, e := range h.logs.FilterMessage("Sink rejected session records permanently; dropped").All() {
		list, ok := e.ContextMap()["session_ids"].([]any)
		require.True(t, ok, "the log names the session IDs")
		for _, id := range list {
			ids = append(ids, id.(string))
		}
	}
	sort.Strings(ids)
	assert.Equal(t, []string{testgen.SessionID(1), testgen.SessionID(2)}, ids)
}

// stubSink returns a fixed error from Write.
type stubSink struct{ err error }

func (stubSink) Start(context.Context, component.Host) error { return nil }
func (s stubSink) Write(context.Context, []record.Encoded) error {
	return s.err
}
func (stubSink) Shutdown(context.Context) error { return nil }

// pushRecords accounts for each outcome of the sink error contract; its
// logs name how many records and at most three session IDs.
func TestPushRecordsOutcomes(t *testing.T) {
	recs := []record.Encoded{{SessionID: "a", JSON: []byte(`{}`)}, {SessionID: "b", JSON: []byte(`{}`)}, {SessionID: "c", JSON: []byte(`{}`)}, {SessionID: "d", JSON: []byte(`{}`)}}
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		appendRecord(lrs, r.SessionID, r.Revision, r.JSON)
	}
	cause := errors.New("boom")
	rejected := consumererror.NewPermanent(&sink.Rejected{SessionIDs: []string{"b"}, Err: cause})
	tests := []struct {
		name                                   string
		err, returned                          error
		written, permanent, retryable, refused int64
		logMsg                                 string
		loggedCount                            int64
		loggedIDs                              []any
	}{
		{name: "stored", written: 4},
		{name: "retryable", err: cause, returned: cause, retryable: 4,
			logMsg: "Sink write failed; will retry", loggedCount: 4, loggedIDs: []any{"a", "b", "c"}},
		{name: "permanent", err: consumererror.NewPermanent(cause), returned: consumererror.NewPermanent(cause), permanent: 4,
			logMsg: "Sink rejected session records permanently; dropped", loggedCount: 4, loggedIDs: []any{"a", "b", "c"}},
		{name: "partly rejected", err: rejected, returned: nil, written: 3, refused: 1,
			logMsg: "Sink refused session records (the rest of their batch is written); dropped", loggedCount: 1, loggedIDs: []any{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings(), func() (int, int, int64) { return 0, 0, 0 })
			require.NoError(t, err)
			core, logs := observer.New(zap.InfoLevel)
			e := &sessionExporter{tel: tb, logger: zap.New(core), cfg: createDefaultConfig().(*Config)}
			q, err := e.newSinkQueue(context.Background(), exportertest.NewNopSettings(metadata.Type), namedSink{"stub", stubSink{tt.err}})
			require.NoError(t, err)
			assert.Equal(t, tt.returned, e.pushTo(q)(context.Background(), ld))
			h := &harness{tel: tel}
			assert.Equal(t, tt.written, h.sum(t, metadata.MetricRecordsWritten))
			assert.Equal(t, tt.permanent, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")))
			assert.Equal(t, tt.retryable, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "retryable")))
			assert.Equal(t, tt.refused, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "rejected")))
			if tt.logMsg != "" {
				entries := logs.FilterMessage(tt.logMsg).All()
				require.Len(t, entries, 1)
				assert.Equal(t, tt.loggedCount, entries[0].ContextMap()["records"])
				assert.Equal(t, tt.loggedIDs, entries[0].ContextMap()["session_ids"])
			}
		})
	}
}

// With the sending queue disabled, a failed delivery comes back to the
// emitter: still counted and logged, never silent.
func TestUndeliveredWithoutQueueCounted(t *testing.T) {
	srv := &recordServer{fail: -1, status: http.StatusForbidden, stored: map[string]int{}, seen: map[string]int{}}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	cfg := testConfig(t)
	useHTTPSink(cfg, ts.URL)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	h := start(t, cfg)
	h.consume(t, testgen.Session(1, 3), testgen.Session(2, 3))
	require.NoError(t, h.exp.Shutdown(context.Background()))

	assert.Equal(t, int64(2), h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")))
	assert.Equal(t, int64(2), h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue")))
	entries := h.logs.FilterMessage("Session records could not be queued for the sink; dropped for it").All()
	require.Len(t, entries, 1)
	ids := entries[0].ContextMap()["session_ids"].([]any)
	assert.ElementsMatch(t, []any{testgen.SessionID(1), testgen.SessionID(2)}, ids)
}

// Many goroutines feeding spans of interleaved sessions at once: every
// session comes out exactly once, with all of its spans.
func TestConcurrentConsumers(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	const sessions, spansEach, workers = 60, 12, 6
	var parts []ptrace.Traces
	for i := 0; i < sessions; i++ {
		parts = append(parts, testgen.Split(testgen.Session(i, spansEach))...)
	}
	parts = testgen.Shuffle(parts, 3)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(parts); i += workers {
				assert.NoError(t, h.exp.ConsumeTraces(context.Background(), parts[i]))
			}
		}(w)
	}
	wg.Wait()
	require.NoError(t, h.exp.Shutdown(context.Background()))

	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, sessions)
	seen := map[string]bool{}
	for _, r := range recs {
		assert.False(t, seen[r.SessionID], "duplicate record for %s", r.SessionID)
		seen[r.SessionID] = true
		assert.Equal(t, spansEach, r.SpanCount)
		assert.True(t, r.Complete)
		assert.Equal(t, 0, r.Revision)
	}
}

// A server asking for a Retry-After beyond retry_on_failure.max_interval
// gets its retry after max_interval (20ms here), not after the days it
// asked for.
func TestHTTPRetryAfterBeyondMaxIntervalWaitsMaxInterval(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1000000")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(ts.Close)
	cfg := testConfig(t)
	useHTTPSink(cfg, ts.URL)
	h := start(t, cfg)
	h.consume(t, testgen.Session(1, 3))
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return h.sum(t, metadata.MetricRecordsWritten) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "retryable")))
}
