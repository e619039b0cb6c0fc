package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/store"
)

// jaegerExporter is the collector's exporter to Jaeger in collector-config.yaml.
const jaegerExporter = "otlp_grpc/jaeger"

// TestJaegerStartedLate runs make demo's sequence when Jaeger is not built
// yet: the collector starts alone, the crew runs, and every session lands
// in the store and the JSONL file on time — none lost, none waiting for
// Jaeger — while the exporter to Jaeger holds the spans in its queue
// (nothing dropped). Then Jaeger starts, and every trace of the crew
// arrives in it, whole, without anything being sent again.
func TestJaegerStartedLate(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		JaegerLater:  true,
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	require.Nil(t, stack.Jaeger)
	const sessions = 10
	env.runCrew(t, ctx, stack, "-tasks", fmt.Sprint(sessions), "-concurrency", "5", "-seed", "19", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, sessions)

	// Jaeger is down: every record lands anyway, once, on time.
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	for _, tr := range truth {
		r := records[tr.SessionID]
		checkRecord(t, tr, r)
		lag := r.EmittedAt.Sub(r.EndTime)
		assert.Less(t, lag, 10*time.Second, "session %s recorded %s after it ended (grace period 1s), Jaeger down", tr.Name, lag)
	}
	all, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	assert.Len(t, all, sessions, "one record per session in the JSONL file")
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(stack.SessionsDir, "sessions.db"), store.ReadOnly())
	require.NoError(t, err)
	n, err := st.CountSessions(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int64(sessions), n, "one session each in the store")
	require.NoError(t, st.Close())

	// The spans for Jaeger wait in its exporter's queue (or in its
	// consumers, retrying): none refused, none given up.
	jaeger := map[string]string{"exporter": jaegerExporter}
	metric := func(name string) (float64, bool) {
		for _, n := range []string{name, name + "_total"} {
			v, ok, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), n, jaeger)
			require.NoError(t, err)
			if ok {
				return v, true
			}
		}
		return 0, false
	}
	queued, ok := metric("otelcol_exporter_queue_size")
	assert.True(t, ok, "the exporter to Jaeger has a queue")
	t.Logf("Jaeger down: %d sessions recorded; %v spans queued for Jaeger (the rest in its retrying consumers)", sessions, queued)
	failed, _ := metric("otelcol_exporter_enqueue_failed_spans")
	assert.Zero(t, failed, "no span refused by the queue for Jaeger")
	givenUp, _ := metric("otelcol_exporter_send_failed_spans")
	assert.Zero(t, givenUp, "no span given up while Jaeger was down")
	sent, _ := metric("otelcol_exporter_sent_spans")
	assert.Zero(t, sent, "nothing reached Jaeger: it is not running")

	// Jaeger starts: the held traces arrive, every span of each.
	started := time.Now()
	require.NoError(t, stack.StartJaeger(ctx, env.bins.Jaeger))
	// Bounded by the retry interval (5 s) and gRPC's reconnect backoff
	// (at most 2 min; seconds here, Jaeger was down only seconds).
	jctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	for _, tr := range truth {
		err := harness.Poll(jctx, "trace "+tr.TraceID+" in Jaeger", func(ctx context.Context) (bool, string, error) {
			jt, err := stack.Query.Trace(ctx, tr.TraceID)
			if errors.Is(err, harness.ErrTraceNotFound) {
				return false, "not there yet", nil
			}
			if err != nil {
				return false, err.Error(), nil
			}
			return len(jt.Spans) == tr.SpanCount, fmt.Sprintf("%d of %d spans", len(jt.Spans), tr.SpanCount), nil
		})
		require.NoError(t, err, tr.Name)
	}
	t.Logf("Jaeger up: all %d traces there %s after it answered", sessions, time.Since(started).Round(100*time.Millisecond))

	// The records did not change: Jaeger's arrival is not a session event.
	after, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	assert.Len(t, after, sessions)
}

// TestDemoPrintsTheSessionTable runs make demo's program (crewtrace-demo,
// on free ports, exiting after the table): its session table is `crewtrace
// sessions ls` over the store, with a row per session of the crew, and it
// says where the viewer is (or that this crewtrace has none).
func TestDemoPrintsTheSessionTable(t *testing.T) {
	ctx, env := newEnv(t)
	demo := filepath.Join(env.logDir, "crewtrace-demo")
	// -trimpath as make demo builds it: the same build cache entries.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", demo, "./cmd/crewtrace-demo")
	build.Dir = filepath.Join(env.root, "e2e")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, logs := filepath.Join(env.logDir, "data"), filepath.Join(env.logDir, "demo-logs")
	cmd := exec.CommandContext(ctx, demo, "-no-wait", "-free-ports", "-data", data, "-logs", logs, "-tasks", "5", "-concurrency", "5")
	cmd.Env = append(os.Environ(), "CREWTRACE_BUILD_DIR="+harness.BuildDir(env.root))
	cmd.Dir = env.root
	out, err = cmd.CombinedOutput()
	text := string(out)
	require.NoError(t, err, "%s", text)
	require.Contains(t, text, "SESSION ID")
	table := text[strings.Index(text, "\nSESSION ID"):]
	lines := strings.Split(strings.TrimSpace(table), "\n")
	assert.Regexp(t, `^SESSION ID\s+NAME\s+END STATE\s+START\s+DURATION`, lines[0])
	require.GreaterOrEqual(t, len(lines), 7, text)
	assert.Equal(t, "5 sessions", lines[6])
	truth, err := harness.ReadTruth(filepath.Join(logs, "truth.json"))
	require.NoError(t, err)
	for _, tr := range truth {
		assert.Contains(t, table, tr.SessionID)
	}
	assert.Regexp(t, `first session on screen [0-9.]+m?s after make demo began`, text)
	assert.Regexp(t, `Viewer:\s+http://127\.0\.0\.1:\d+/`, text)
}
