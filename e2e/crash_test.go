package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// Metric names as the collector's Prometheus endpoint exposes them (no
// _total suffix on counters).
const (
	promSessionsBuffered = "otelcol_exporter_session_sessions_buffered"
	promSessionsRestored = "otelcol_exporter_session_sessions_restored"
)

// storageOverlay is merged after collector-config.yaml: file_storage for the
// session exporter and its records queue.
func storageOverlay(root string) []string {
	return []string{
		filepath.Join(root, "collector-config.yaml"),
		filepath.Join(root, "e2e", "testdata", "collector-storage.yaml"),
	}
}

// TestCrashSafetyKillDuringRun runs the example crew against a collector
// whose session exporter keeps its state in file_storage, kills the
// collector with SIGKILL while the crew is running — after some records were
// written, while finished sessions wait out their grace period and others
// are still running — restarts it on the same storage, and checks that every
// session the crew ran has exactly one record (one per revision, if any),
// matching the crew's truth: none lost, none repeated.
func TestCrashSafetyKillDuringRun(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorConfigs: storageOverlay(env.root),
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=3s", // long enough that sessions are certainly buffered at the kill
			harness.EnvSessionTimeout + "=60s",
			"CREWTRACE_STORAGE_DIR=" + filepath.Join(env.logDir, "storage"),
		},
	})

	// The crew's OTLP exporter retries while the collector is down: its
	// export timeout (which bounds the retries) is far longer than a restart.
	const tasks = 30
	crew := env.startCrew(t, stack, []string{
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_EXPORTER_OTLP_TIMEOUT=60000",
		"OTEL_BSP_EXPORT_TIMEOUT=60000",
	}, "-tasks", strconv.Itoa(tasks), "-concurrency", "3", "-latency", "200ms", "-seed", "20261127", "-truth", env.truthPath())

	// Kill when records have been written and their count held still for a
	// poll interval (so no record is being written at that instant), while
	// the crew still runs and the exporter holds sessions.
	var before []harness.Record
	var buffered float64
	prev := -1
	err := harness.Poll(ctx, "records written, crew still running", func(ctx context.Context) (bool, string, error) {
		if !crew.Running() {
			return false, "", fmt.Errorf("the crew finished before the kill (make it run longer):\n%s", crew.LogTail(10))
		}
		recs, err := harness.ReadRecords(stack.SessionsPath())
		if err != nil {
			return false, "", err
		}
		n := len(recs)
		stable := n >= 2 && n == prev
		prev = n
		if !stable {
			return false, fmt.Sprintf("%d records", n), nil
		}
		b, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), promSessionsBuffered, nil)
		if err != nil {
			return false, "", err
		}
		before, buffered = recs, b
		return true, "", nil
	})
	require.NoError(t, err)
	require.NoError(t, stack.Collector.Kill())
	t.Logf("killed the collector with %d records written and %.0f sessions buffered (pending and retained)", len(before), buffered)

	require.NoError(t, stack.RestartCollector(ctx))
	restored, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), promSessionsRestored, map[string]string{"emitted": "false"})
	require.NoError(t, err)
	restoredEmitted, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), promSessionsRestored, map[string]string{"emitted": "true"})
	require.NoError(t, err)
	t.Logf("after the restart: %.0f sessions restored to be emitted, %.0f restored as already emitted", restored, restoredEmitted)
	assert.Positive(t, restored, "sessions were buffered, not yet emitted, at the kill")
	assert.Equal(t, float64(len(before)), restoredEmitted, "every session emitted before the kill is restored as emitted")

	waitCrew(t, ctx, crew) // its exporter retried while the collector was down
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, tasks)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute) // a lost session fails here, not at the budget
	defer wcancel()
	latest := waitForRecords(t, wctx, stack.SessionsPath(), truth)
	for _, tr := range truth {
		t.Run("record/"+tr.Name, func(t *testing.T) { checkRecord(t, tr, latest[tr.SessionID]) })
	}

	// A clean stop adds nothing: the restored sessions were emitted once.
	require.NoError(t, stack.Stop())
	all, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	checkOnePerRevision(t, all)
	assert.Len(t, all, tasks, "one record per session: the crash caused no revision and no repeat")
}

// checkOnePerRevision fails on two records with the same session ID and
// revision, and on a gap in a session's revisions.
func checkOnePerRevision(t *testing.T, recs []harness.Record) {
	t.Helper()
	revs := map[string]map[int]int{}
	for _, r := range recs {
		if revs[r.SessionID] == nil {
			revs[r.SessionID] = map[int]int{}
		}
		revs[r.SessionID][r.Revision]++
	}
	for id, m := range revs {
		for rev := 0; rev < len(m); rev++ {
			assert.Equal(t, 1, m[rev], "session %s revision %d: records", id, rev)
		}
	}
}
