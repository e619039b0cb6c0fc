package sessionexporter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/storagetest"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

// storageHost is a host with one extension.
type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

var testStorageID = component.MustNewIDWithName("file_storage", "test")

func withStorage(cfg *Config) {
	id := testStorageID
	cfg.StorageID = &id
	q := cfg.QueueConfig.Get()
	q.StorageID = &id
}

// startOn starts an exporter on host with its own clock and telemetry.
func startOn(t *testing.T, cfg *Config, host component.Host) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{clock: &fakeClock{t: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}, tel: componenttest.NewTelemetry(), cfg: cfg}
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	core, logs := observer.New(zap.InfoLevel)
	h.logs = logs
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type) // the same component across restarts, as in a collector
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	exp, err := newTracesExporter(context.Background(), set, cfg, h.clock.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	h.exp = exp
	return h
}

// An exporter with storage is dropped without Shutdown (a kill -9) while it
// holds: sessions emitted whose records the sink has not accepted yet (the
// backend is down), one of them with a late span not yet emitted as a
// revision, finished sessions inside their grace period, and sessions still
// running (no root yet). A new exporter on the same storage emits every
// session exactly once, the late span as revision 1, and delivers the
// records that were queued before the crash.
func TestRestartAfterCrashLosesNoSession(t *testing.T) {
	backend := &recordServer{fail: -1, status: http.StatusServiceUnavailable, stored: map[string]int{}, seen: map[string]int{}}
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}

	// The first process: its own endpoint, so its sink dies with it.
	tsA := httptest.NewServer(backend)
	cfgA := testConfig(t)
	useHTTPSink(cfgA, tsA.URL)
	withStorage(cfgA)
	a := startOn(t, cfgA, host)

	const emittedBefore, buffered, running = 4, 4, 3
	n := emittedBefore + buffered + running
	spans := func(i int) int { return 6 + i%3 }
	late := map[int]ptrace.Traces{}
	for i := 0; i < emittedBefore; i++ {
		parts := testgen.Split(testgen.Session(i, spans(i)))
		late[i] = parts[len(parts)-1]
		a.consume(t, parts[:len(parts)-1]...)
	}
	a.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		_, seen := backend.snapshot()
		return len(seen) == emittedBefore
	}, 10*time.Second, 5*time.Millisecond, "the first sessions are emitted and being retried against the down backend")
	a.consume(t, late[1]) // revision 1 of session 1 is due but not emitted before the crash
	for i := emittedBefore; i < emittedBefore+buffered; i++ {
		a.consume(t, testgen.Session(i, spans(i)))
	}
	rest := map[int][]ptrace.Traces{}
	for i := emittedBefore + buffered; i < n; i++ {
		parts := testgen.Split(testgen.Session(i, spans(i)))
		a.consume(t, parts[2:]...) // running: no root yet
		rest[i] = parts[:2]
	}
	assert.NotEmpty(t, store.Keys("/sessions"), "the spans are in storage")

	// kill -9: no Shutdown; the process's storage handles and its sink die.
	store.Crash()
	tsA.Close()

	backend.mu.Lock()
	backend.fail = 0 // the backend is back
	backend.mu.Unlock()
	tsB := httptest.NewServer(backend)
	t.Cleanup(tsB.Close)
	cfgB := testConfig(t)
	useHTTPSink(cfgB, tsB.URL)
	withStorage(cfgB)
	b := startOn(t, cfgB, host)
	assert.Equal(t, int64(emittedBefore), b.sum(t, metadata.MetricSessionsRestored, attribute.Bool("emitted", true)))
	assert.Equal(t, int64(buffered+running), b.sum(t, metadata.MetricSessionsRestored, attribute.Bool("emitted", false)))

	for i := emittedBefore + buffered; i < n; i++ {
		b.consume(t, rest[i]...) // the running sessions finish
	}
	b.consume(t, late[2]) // a late span after the restart: revision 1 too
	b.clock.Advance(testGrace)
	want := map[string]int{}
	for i := 0; i < n; i++ {
		want[testgen.SessionID(i)+"/0"] = 1
	}
	want[testgen.SessionID(1)+"/1"] = 1
	want[testgen.SessionID(2)+"/1"] = 1
	require.Eventually(t, func() bool {
		stored, _ := backend.snapshot()
		return len(stored) == len(want)
	}, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, b.exp.Shutdown(context.Background()))

	stored, _ := backend.snapshot()
	assert.Equal(t, want, stored, "every session exactly once; the only repeats are marked revisions")
	assert.Zero(t, b.sum(t, metadata.MetricPartialFlushes, attribute.String("flush_reason", "shutdown")))

	// The emitted sessions stay in storage until their retention ends: a
	// third start emits nothing again.
	c := startOn(t, cfgB, host)
	assert.Equal(t, int64(n), c.sum(t, metadata.MetricSessionsRestored, attribute.Bool("emitted", true)))
	c.clock.Advance(time.Minute) // session_timeout: retention over, released
	require.Eventually(t, func() bool { return len(store.Keys("/sessions")) == 0 }, 10*time.Second, 5*time.Millisecond,
		"released sessions leave no keys behind")
	require.NoError(t, c.exp.Shutdown(context.Background()))
	stored, _ = backend.snapshot()
	assert.Equal(t, want, stored, "nothing repeated by a further restart")
}

// The restored state is exact: spans already emitted are not emitted again
// at the restart, and a session restored as emitted is released after its
// retention window like any other, deleting its keys.
func TestRestartRestoresEmittedSessionsWithoutReemitting(t *testing.T) {
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	cfg := testConfig(t)
	withStorage(cfg)
	a := startOn(t, cfg, host)
	a.consume(t, testgen.Session(1, 5), testgen.Session(2, 5))
	a.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(store.Keys("/sessions")) == 4 }, 10*time.Second, 5*time.Millisecond,
		"two span entries and two emission markers")
	// The records queue's items are deleted once the sink has them: a record
	// still in flight at a crash is delivered again (at least once), which
	// is not what this test is about.
	require.Eventually(t, func() bool { return slices.Equal(store.Keys("logs"), []string{"qmv0"}) }, 10*time.Second, 5*time.Millisecond,
		"the records queue done with both records")
	store.Crash()

	b := startOn(t, cfg, host)
	b.clock.Advance(time.Minute - time.Millisecond)
	b.consume(t, testgen.Session(3, 2))
	b.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 3 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(store.Keys("/sessions")) == 2 }, 10*time.Second, 5*time.Millisecond,
		"sessions 1 and 2 released after session_timeout: only session 3's entry and marker remain")
	require.NoError(t, b.exp.Shutdown(context.Background()))
	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 3, "no record repeated by the restart or the shutdown")
	for _, r := range recs {
		assert.Equal(t, 0, r.Revision)
	}
}

// When the storage refuses a write, ConsumeTraces fails (the receiver tells
// the sender to retry) and the failure is counted; once storage works again
// the retried spans are stored and the session is emitted once.
func TestStorageWriteFailureRefusesSpans(t *testing.T) {
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	cfg := testConfig(t)
	id := testStorageID
	cfg.StorageID = &id
	h := startOn(t, cfg, host)
	td := testgen.Session(1, 4)
	store.SetFail(errors.New("disk full"))
	err := h.exp.ConsumeTraces(context.Background(), td)
	require.Error(t, err)
	assert.ErrorContains(t, err, "disk full")
	assert.Equal(t, int64(1), h.sum(t, metadata.MetricStorageFailures, attribute.String("op", "append")))
	store.SetFail(nil)
	h.consume(t, td) // the sender's retry
	assert.Len(t, store.Keys("/sessions"), 1)
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))
	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 1)
	assert.Equal(t, 4, recs[0].SpanCount)
}

type notStorage struct {
	component.StartFunc
	component.ShutdownFunc
}

// A storage ID that is missing or not a storage extension fails Start.
func TestStorageMisconfiguredFailsStart(t *testing.T) {
	for name, exts := range map[string]map[component.ID]component.Component{
		"missing":     {},
		"not storage": {testStorageID: notStorage{}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			id := testStorageID
			cfg.StorageID = &id
			set := exportertest.NewNopSettings(metadata.Type)
			exp, err := newTracesExporter(context.Background(), set, cfg, time.Now)
			require.NoError(t, err)
			err = exp.Start(context.Background(), storageHost{Host: componenttest.NewNopHost(), exts: exts})
			require.Error(t, err)
			assert.ErrorContains(t, err, testStorageID.String())
		})
	}
}

// The documented at-least-once window: a crash after a record was queued
// but before its emission marker was written repeats that record after the
// restart — with the same session ID and revision, never as an unrelated
// record. Here the marker write fails (counted), then the process crashes.
func TestMarkerNotWrittenRepeatsSameRevision(t *testing.T) {
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	cfg := testConfig(t)
	id := testStorageID
	cfg.StorageID = &id // the records queue stays in memory: the file sink writes at once
	a := startOn(t, cfg, host)
	a.consume(t, testgen.Session(1, 4))
	store.SetFail(errors.New("disk full"))
	a.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		return a.sum(t, metadata.MetricStorageFailures, attribute.String("op", "commit")) == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 1 }, 10*time.Second, 5*time.Millisecond)
	store.Crash()
	store.SetFail(nil)

	b := startOn(t, cfg, host)
	b.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 2 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, b.exp.Shutdown(context.Background()))
	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, testgen.SessionID(1), r.SessionID)
		assert.Equal(t, 0, r.Revision, "the repeat carries the same revision: keeping the highest revision per session yields one record")
		assert.Equal(t, 4, r.SpanCount)
	}
}

// With storage, a graceful restart does not cut a running session short:
// Shutdown leaves it in storage (no partial "shutdown" record) and it is
// emitted once, whole, after the next start.
func TestGracefulRestartKeepsRunningSessions(t *testing.T) {
	store := storagetest.New()
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{testStorageID: store}}
	cfg := testConfig(t)
	withStorage(cfg)
	a := startOn(t, cfg, host)
	parts := testgen.Split(testgen.Session(1, 6))
	a.consume(t, parts[3:]...) // running: children so far, no root
	require.NoError(t, a.exp.Shutdown(context.Background()))
	assert.Empty(t, readRecords(t, cfg.File.Get().Path), "no partial record at shutdown")
	assert.NotEmpty(t, store.Keys("/sessions"))

	b := startOn(t, cfg, host)
	b.consume(t, parts[:3]...) // the rest of the session, root included
	b.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, b.exp.Shutdown(context.Background()))
	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 1)
	assert.Equal(t, 0, recs[0].Revision)
	assert.True(t, recs[0].Complete)
	assert.Equal(t, 6, recs[0].SpanCount)
	assert.Equal(t, "grace_period", recs[0].FlushReason)
}
