package otelsession

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestChildListStaysBounded: a long session whose calls end keeps a list of
// children within twice those open (16 at least), not one entry per call
// ever made.
func TestChildListStaysBounded(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, s := Start(context.Background(), WithTracerProvider(tp))
	actx, agent, err := s.StartAgent(ctx, "long-lived")
	require.NoError(t, err)
	var open []*ToolCall
	for i := range 5000 {
		_, call, err := StartLLMCall(actx, LLMRequest{Model: "m"})
		require.NoError(t, err)
		call.End(LLMResponse{}, nil)
		if i%100 == 0 { // a few stay open
			_, tool, err := StartToolCall(actx, "t")
			require.NoError(t, err)
			open = append(open, tool)
		}
		s.openMu.Lock()
		n := s.openLen
		s.openMu.Unlock()
		require.LessOrEqual(t, n, max(2*(1+len(open)), minPrune)+1, "after %d calls", i+1)
	}
	require.NoError(t, s.End(Success, ""))
	for _, tool := range open {
		assert.True(t, tool.ended.Load(), "the calls left open are ended by End")
	}
	assert.True(t, agent.ended.Load())
}
