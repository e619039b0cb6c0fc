package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// TestCollectorRestartAfterKill exercises the harness path the reliability
// tests build on: the collector is killed (SIGKILL, no shutdown), started
// again on the same ports and sessions directory, and serves the next crew.
func TestCollectorRestartAfterKill(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=500ms", harness.EnvSessionTimeout + "=30s"},
	})

	killed := stack.Collector
	require.NoError(t, killed.Kill())
	assert.False(t, killed.Running())
	require.NoError(t, stack.RestartCollector(ctx))
	assert.NotEqual(t, killed.Pid(), stack.Collector.Pid(), "a new collector process")

	env.runCrew(t, ctx, stack, "-tasks", "3", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, 3)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	assert.Len(t, records, 3)
}
