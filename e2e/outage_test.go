package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// recordsBackend is the HTTP sink's target: down (503) until up is called,
// then it stores every record it is sent.
type recordsBackend struct {
	mu      sync.Mutex
	down    bool
	refused int                    // requests answered 503
	seen    map[string]bool        // session IDs sent while down
	stored  []harness.Record       // in arrival order
	byRev   map[string]map[int]int // session ID -> revision -> times stored
}

func (b *recordsBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var recs []harness.Record
	if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		b.refused++
		for _, rec := range recs {
			b.seen[rec.SessionID] = true
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	for _, rec := range recs {
		b.stored = append(b.stored, rec)
		if b.byRev[rec.SessionID] == nil {
			b.byRev[rec.SessionID] = map[int]int{}
		}
		b.byRev[rec.SessionID][rec.Revision]++
	}
}

func (b *recordsBackend) state() (refused, seen, stored int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused, len(b.seen), len(b.byRev)
}

// TestBackendOutage runs the crew against a collector whose session
// exporter posts to an HTTP backend that is down for the whole run — every
// session is emitted and refused, retried from the queue — and then comes
// back: every session is delivered, exactly once per revision, matching the
// crew's truth, and the outage is visible in the exporter's metrics.
func TestBackendOutage(t *testing.T) {
	ctx, env := newEnv(t)

	backend := &recordsBackend{down: true, seen: map[string]bool{}, byRev: map[string]map[int]int{}}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)

	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorConfigs: []string{
			filepath.Join(env.root, "collector-config.yaml"),
			filepath.Join(env.root, "e2e", "testdata", "collector-http-sink.yaml"),
		},
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=500ms",
			harness.EnvSessionTimeout + "=30s",
			"CREWTRACE_TEST_SINK_URL=" + srv.URL,
		},
	})

	const tasks = 8
	env.runCrew(t, ctx, stack,
		"-tasks", strconv.Itoa(tasks), "-concurrency", "2", "-seed", "20261128", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, tasks)

	// The outage lasts until every session has been emitted and refused, and
	// requests have been retried several times (backoff 100 ms doubling to
	// 500 ms: a couple of seconds).
	const minRefused = 8
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	require.NoError(t, harness.Poll(wctx, "every session refused by the down backend", func(context.Context) (bool, string, error) {
		refused, seen, _ := backend.state()
		return seen == tasks && refused >= minRefused, fmt.Sprintf("%d requests refused, %d of %d sessions", refused, seen, tasks), nil
	}))
	retried, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), "otelcol_exporter_session_sink_failures", map[string]string{"kind": "retryable"})
	require.NoError(t, err)
	assert.Positive(t, retried, "failed writes are counted")
	queued, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), "otelcol_exporter_queue_size", map[string]string{"exporter": "session/records"})
	require.NoError(t, err)
	backend.mu.Lock()
	backend.down = false
	refused := backend.refused
	backend.mu.Unlock()
	t.Logf("backend back after %d refused requests; %.0f requests waiting in the queue", refused, queued)

	require.NoError(t, harness.Poll(wctx, "every session delivered", func(context.Context) (bool, string, error) {
		_, _, stored := backend.state()
		return stored == tasks, fmt.Sprintf("%d of %d sessions stored", stored, tasks), nil
	}))
	require.NoError(t, stack.Stop())

	backend.mu.Lock()
	defer backend.mu.Unlock()
	latest := harness.Latest(backend.stored)
	for _, tr := range truth {
		t.Run("record/"+tr.Name, func(t *testing.T) { checkRecord(t, tr, latest[tr.SessionID]) })
	}
	checkOnePerRevision(t, backend.stored)
	assert.Len(t, backend.stored, tasks, "one record per session: the outage caused no repeat")
	for id, revs := range backend.byRev {
		for rev, n := range revs {
			assert.Equal(t, 1, n, "session %s revision %d stored once", id, rev)
		}
	}
}
