package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/store"
)

// TestDefaultConfigWritesStoreAndFile runs the example crew through the
// collector with collector-config.yaml as shipped: every session lands in
// the embedded session store (sessions.db, what crewtrace ui reads) and in
// the JSONL file, the same record in both, once.
func TestDefaultConfigWritesStoreAndFile(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	const sessions = 12
	env.runCrew(t, ctx, stack, "-tasks", fmt.Sprint(sessions), "-concurrency", "6", "-seed", "12", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	require.NoError(t, stack.Stop())

	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(stack.SessionsDir, "sessions.db"), store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	n, err := st.CountSessions(context.Background(), store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int64(sessions), n, "one session each in the store")
	for _, tr := range truth {
		s, err := st.Session(context.Background(), tr.SessionID)
		if !assert.NoError(t, err, tr.Name) {
			continue
		}
		r := records[tr.SessionID]
		require.Len(t, s.Traces, 1)
		assert.Equal(t, r.Revision, s.Traces[0].Revision)
		assert.Equal(t, r.TraceID, s.Traces[0].Record.TraceID)
		assert.Equal(t, tr.Name, s.Name)
		assert.Equal(t, tr.EndState, s.EndState)
		assert.Equal(t, int64(tr.LLMCalls), s.LLMCalls)
		assert.Equal(t, tr.InputTokens+tr.OutputTokens, s.Tokens.Total)
	}
	all, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	assert.Len(t, all, sessions, "and one record each in the JSONL file")
}
