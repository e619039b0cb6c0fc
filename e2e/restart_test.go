package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// TestCollectorRestartAfterKill exercises the harness path the reliability
// tests build on: the collector is killed (SIGKILL, no shutdown), started
// again on the same ports and sessions directory, and serves the next crew.
func TestCollectorRestartAfterKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	defer cancel()
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	bins, err := harness.Build(ctx, root, harness.BuildDir(root), testWriter{t})
	require.NoError(t, err)

	logDir := keptOnFailure(t)
	stack, err := harness.StartStack(ctx, harness.StackOptions{
		Root: root, Bins: bins, LogDir: logDir,
		CollectorEnv: []string{harness.EnvGracePeriod + "=500ms", harness.EnvSessionTimeout + "=30s"},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = stack.Stop()
		if t.Failed() {
			t.Logf("--- collector (%s), last lines:\n%s", stack.Collector.LogPath(), stack.Collector.LogTail(15))
		}
	})

	killed := stack.Collector
	require.NoError(t, killed.Kill())
	assert.False(t, killed.Running())
	require.NoError(t, stack.RestartCollector(ctx))
	assert.NotEqual(t, killed.Pid(), stack.Collector.Pid(), "a new collector process")

	truthPath := filepath.Join(logDir, "truth.json")
	crew, err := harness.Start("crew", logDir, stack.CrewEnv(), bins.Crew, "-tasks", "3", "-truth", truthPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = crew.Stop(0) })
	require.NoError(t, crew.Wait(ctx), crew.LogTail(20))
	truth, err := harness.ReadTruth(truthPath)
	require.NoError(t, err)
	require.Len(t, truth, 3)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	assert.Len(t, records, 3)
}
