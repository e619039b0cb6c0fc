//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package otelsession_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/crewtrace/crewtrace/otelsession"
)

// TestTypedParamsDoNotAllocate checks the promise of RecordEventParams: on
// otelsession's side, typed params cost no allocation (the no-op
// TracerProvider keeps the SDK's own allocations out of the count).
func TestTypedParamsDoNotAllocate(t *testing.T) {
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(noop.NewTracerProvider()))
	defer func() { _ = sess.End(otelsession.Success, "") }()
	actx, agent, err := sess.StartAgent(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer agent.End(nil)
	allocs := testing.AllocsPerRun(100, func() {
		_ = otelsession.RecordEventParams(actx, otelsession.Event{Type: "plan", Returns: "3 steps"},
			otelsession.IntParam("steps", 3), otelsession.StringParam("goal", "triage"))
		_ = otelsession.RecordActionParams(actx, "search", otelsession.StringParam("query", "otel"))
	})
	assert.Zero(t, allocs)
}
