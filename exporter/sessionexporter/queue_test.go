package sessionexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/storagetest"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

// queueHarness starts an exporter with an HTTP sink on backend and a records
// queue of one request and one consumer, so that a down backend fills it
// with two emissions (one in flight, one queued).
func queueHarness(t *testing.T, backend *recordServer, block bool, host component.Host, storage bool) (*harness, *httptest.Server) {
	return queueHarnessSize(t, backend, 1, block, host, storage)
}

func queueHarnessSize(t *testing.T, backend *recordServer, size int64, block bool, host component.Host, storage bool) (*harness, *httptest.Server) {
	ts := httptest.NewServer(backend)
	t.Cleanup(ts.Close)
	cfg := testConfig(t)
	useHTTPSink(cfg, ts.URL)
	q := cfg.QueueConfig.Get()
	q.QueueSize, q.NumConsumers, q.BlockOnOverflow = size, 1, block
	if storage {
		withStorage(cfg)
	}
	return startOn(t, cfg, host), ts
}

// sumAll returns the sum of all data points of a counter or gauge,
// whatever their attributes (exporterhelper's carry the exporter's ID).
func (h *harness) sumAll(t *testing.T, name string) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			n += dp.Value
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			n += dp.Value
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return n
}

func (s *recordServer) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = 0
}

// emitOne has session i emitted in an emission of its own.
func emitOne(t *testing.T, h *harness, i int) {
	t.Helper()
	h.consume(t, testgen.Session(i, 4))
	h.clock.Advance(testGrace)
}

// With block_on_overflow (the default), a full queue holds emission back —
// the ticker waits, spans keep being buffered up to the limits — and drops
// nothing: once the backend is back every session is delivered once.
func TestQueueFullBlocks(t *testing.T) {
	backend := &recordServer{fail: -1, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	h, _ := queueHarness(t, backend, true, componenttest.NewNopHost(), false)
	const n = 5
	for i := 0; i < 2; i++ {
		emitOne(t, h, i)
		require.Eventually(t, func() bool {
			return h.sum(t, metadata.MetricSessionsEmitted, emittedAttrs...) == int64(i+1)
		}, 10*time.Second, 5*time.Millisecond)
	}
	require.Eventually(t, func() bool {
		return h.sumAll(t, "otelcol_exporter_queue_size") == 1 &&
			h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "retryable")) > 0
	}, 10*time.Second, 5*time.Millisecond, "one record in flight (retried), one queued: the queue is full")
	for i := 2; i < n; i++ { // the first of these blocks the ticker in the enqueue
		emitOne(t, h, i)
	}
	assert.Zero(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue")), "nothing dropped")

	backend.up()
	want := map[string]int{}
	for i := 0; i < n; i++ {
		want[testgen.SessionID(i)+"/0"] = 1
	}
	require.Eventually(t, func() bool {
		stored, _ := backend.snapshot()
		return len(stored) == n
	}, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))
	stored, _ := backend.snapshot()
	assert.Equal(t, want, stored, "every session delivered once after the outage")
	assert.Zero(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue")))
	assert.Positive(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "retryable")))
}

var emittedAttrs = []attribute.KeyValue{
	attribute.String("end_state", "Success"), attribute.Bool("complete", true), attribute.String("flush_reason", "grace_period"),
}

// With block_on_overflow: false, records that find the queue full are
// dropped — counted (sink_failures{kind=enqueue}, exporterhelper's
// enqueue_failed_log_records) and logged with their session IDs. With a
// storage extension they are not lost: their spans stay in storage and the
// sessions are emitted again at the next start.
func TestQueueFullWithoutBlockingCountsAndStorageKeeps(t *testing.T) {
	backend := &recordServer{fail: -1, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	h, tsA := queueHarness(t, backend, false, host, true)
	const n = 4
	for i := 0; i < n; i++ {
		emitOne(t, h, i)
		require.Eventually(t, func() bool {
			return h.sum(t, metadata.MetricSessionsEmitted, emittedAttrs...) == int64(i+1)
		}, 10*time.Second, 5*time.Millisecond)
	}
	require.Eventually(t, func() bool {
		return h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue")) > 0
	}, 10*time.Second, 5*time.Millisecond)
	dropped := h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue"))
	assert.Equal(t, dropped, h.sumAll(t, "otelcol_exporter_enqueue_failed_log_records"), "exporterhelper counts them too")
	entries := h.logs.FilterMessageSnippet("could not be queued for the sink").All()
	require.Len(t, entries, int(dropped))
	assert.Contains(t, entries[0].Message, "emitted again at the next start")

	// The collector restarts (here: crashes) with the backend back and a
	// queue with room for the records it reloads and the sessions it emits
	// again: the queued records and the dropped sessions are all delivered.
	store.Crash()
	tsA.Close() // the crashed process's in-flight retries die with it
	backend.up()
	h2, _ := queueHarnessSize(t, backend, 10, false, host, true)
	h2.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		stored, _ := backend.snapshot()
		return len(stored) == n
	}, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, h2.exp.Shutdown(context.Background()))
	stored, _ := backend.snapshot()
	for i := 0; i < n; i++ {
		assert.Equal(t, 1, stored[testgen.SessionID(i)+"/0"], "session %d delivered once", i)
	}
	assert.Len(t, stored, n)
}

// A collector stopped while the sink is down and the queue full does not
// hang: the emission waiting for room gives up, the drained sessions that
// find the queue full are counted (and logged), and Shutdown returns.
func TestShutdownWithFullQueueReturns(t *testing.T) {
	backend := &recordServer{fail: -1, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	h, _ := queueHarness(t, backend, true, componenttest.NewNopHost(), false)
	emitOne(t, h, 0)
	require.Eventually(t, func() bool { _, seen := backend.snapshot(); return len(seen) == 1 }, 10*time.Second, 5*time.Millisecond,
		"session 0 in flight (retried); it fills the queue of one")
	emitOne(t, h, 1)
	emitOne(t, h, 2)
	require.Eventually(t, func() bool {
		return h.sum(t, metadata.MetricSessionsEmitted, emittedAttrs...) == 3
	}, 10*time.Second, 5*time.Millisecond, "sessions 1 and 2 emitted, waiting for room")
	h.consume(t, testgen.Session(3, 4)) // pending: drained at shutdown
	done := make(chan error, 1)
	go func() { done <- h.exp.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown hangs on the full queue")
	}
	assert.Equal(t, int64(3), h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue")),
		"sessions 1 and 2 (waiting) and 3 (drained) could not be queued: counted")
	var ids []any
	for _, e := range h.logs.FilterMessageSnippet("could not be queued for the sink").All() {
		ids = append(ids, e.ContextMap()["session_ids"].([]any)...)
	}
	assert.ElementsMatch(t, []any{testgen.SessionID(1), testgen.SessionID(2), testgen.SessionID(3)}, ids, "and logged")
}

// Two sinks, one down with its queue full and block_on_overflow off: the
// other (the file) gets every record at once, the down sink's records are
// dropped for it and counted under its name — and, with storage, the
// storage update waits for every sink's queue, so those sessions stay in
// storage and reach the down sink after the restart. The file then has a
// second copy of them with the same session_id and revision, which readers
// drop (highest revision per session).
func TestSinkDownBesideAWorkingOneWithStorage(t *testing.T) {
	backend := &recordServer{fail: -1, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	ts := httptest.NewServer(backend)
	cfg := testConfig(t)
	cfg.HTTP.GetOrInsertDefault().Endpoint = ts.URL // beside the file section of testConfig
	q := cfg.QueueConfig.Get()
	q.QueueSize, q.NumConsumers, q.BlockOnOverflow = 1, 1, false
	withStorage(cfg)
	h := startOn(t, cfg, host)
	const n = 4
	for i := range n {
		emitOne(t, h, i)
		require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == i+1 },
			10*time.Second, 5*time.Millisecond, "the file gets session %d while the http sink is down", i)
	}
	dropped := h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "enqueue"), attribute.String("sink", "http"))
	assert.Positive(t, dropped, "the http sink's full queue refused records")
	assert.Zero(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("sink", "file")))
	assert.Equal(t, int64(n), h.sum(t, metadata.MetricRecordsWritten, attribute.String("sink", "file")))

	// A crash, then a restart with the backend up.
	store.Crash()
	ts.Close()
	backend.up()
	ts2 := httptest.NewServer(backend)
	t.Cleanup(ts2.Close)
	cfg2 := testConfig(t)
	cfg2.File.Get().Path = cfg.File.Get().Path
	cfg2.HTTP.GetOrInsertDefault().Endpoint = ts2.URL
	withStorage(cfg2)
	h2 := startOn(t, cfg2, host)
	h2.clock.Advance(testGrace)
	require.Eventually(t, func() bool { stored, _ := backend.snapshot(); return len(stored) == n }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, h2.exp.Shutdown(context.Background()))
	stored, _ := backend.snapshot()
	for i := range n {
		assert.Equal(t, 1, stored[testgen.SessionID(i)+"/0"], "http: session %d once", i)
	}
	perRevision := map[string]int{}
	for _, r := range readRecords(t, cfg.File.Get().Path) {
		perRevision[r.SessionID]++
		assert.Equal(t, 0, r.Revision)
	}
	assert.Len(t, perRevision, n, "the file has every session")
	assert.Equal(t, int64(n)+dropped, int64(len(readRecords(t, cfg.File.Get().Path))),
		"and a second copy, same revision, of each session re-emitted for the http sink")
}
