package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/e2e/load"
)

// TestLoadSmall is the CI-sized run of the load tool (make load runs 10,000
// sessions): 300 sessions open at once, through the real collector, beside
// 100 unrelated telemetrygen traces. The count check: exactly one complete
// record per session started (span, agent, call, token counts and end state
// as driven), none lost, no record for anything else, every telemetrygen
// trace counted as an ignored rootless trace, no partial flush.
func TestLoadSmall(t *testing.T) {
	ctx, env := newEnv(t)
	rep, err := load.Run(ctx, load.Options{
		Root: env.root, Bins: env.bins, LogDir: env.logDir,
		Sessions: 300,
		Noise: harness.TelemetrygenTraces{Workers: 2, Traces: 50, Rate: 100, ChildSpans: 2,
			Service: load.ServiceNoise},
		GracePeriod: time.Second, SessionTimeout: 5 * time.Second, Timeout: 2 * time.Minute,
		Log: testWriter{t},
	})
	if rep != nil {
		t.Logf("load report:\n%s", rep)
	}
	require.NoError(t, err)
	require.NoError(t, rep.OK(), "count check")
}
