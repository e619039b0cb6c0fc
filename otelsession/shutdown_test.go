package otelsession_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/crewtrace/crewtrace/otelsession"
)

func TestShutdownEndsOpenSessionsAndFlushes(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	// A batcher that never exports on its own: only a flush gets spans out.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour), sdktrace.WithMaxExportBatchSize(1000)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := newEnv(t)
	opts := []otelsession.Option{otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(e.mp)}

	_, done := otelsession.Start(context.Background(), append(opts, otelsession.WithName("done"))...)
	require.NoError(t, done.End(otelsession.Success, "finished"))
	open := map[string]*otelsession.Session{}
	for _, name := range []string{"a", "b", "c"} {
		_, s := otelsession.Start(context.Background(), append(opts, otelsession.WithName(name))...)
		open[name] = s
	}
	_, agent, err := open["a"].StartAgent(context.Background(), "x")
	require.NoError(t, err)
	agent.End(nil)
	require.Empty(t, exp.GetSpans(), "nothing exported before the flush")

	require.NoError(t, otelsession.Shutdown(context.Background()))

	states := map[string]string{}
	reasons := map[string]string{}
	for _, s := range exp.GetSpans() {
		a := attrs(s.Attributes)
		if a["crewtrace.span.kind"] == "session" {
			states[s.Name] = a["crewtrace.session.end_state"].(string)
			reasons[s.Name] = a["crewtrace.session.end_reason"].(string)
		}
	}
	assert.Equal(t, map[string]string{
		"session done": "Success", "session a": "Indeterminate", "session b": "Indeterminate", "session c": "Indeterminate",
	}, states, "flushed: every session span exported")
	assert.Equal(t, otelsession.ShutdownReason, reasons["session b"])
	assert.Equal(t, "process exited without ending the session", otelsession.ShutdownReason)
	for _, s := range open {
		assert.True(t, s.Ended())
		assert.ErrorIs(t, s.End(otelsession.Success, ""), otelsession.ErrSessionEnded)
	}
	m := e.metrics(t)
	assert.Equal(t, int64(3), total(m["crewtrace.sessions.ended"], "crewtrace.session.end_state=Indeterminate"))
	assert.Equal(t, int64(0), total(m["crewtrace.sessions.active"], ""), "no session left active")

	// Nothing left open: a second Shutdown ends and exports nothing more.
	n := len(exp.GetSpans())
	require.NoError(t, otelsession.Shutdown(context.Background()))
	assert.Len(t, exp.GetSpans(), n)
}

// flakyTP is a TracerProvider whose ForceFlush fails.
type flakyTP struct {
	tracenoop.TracerProvider
	flushes int
}

func (p *flakyTP) ForceFlush(context.Context) error {
	p.flushes++
	return errors.New("collector down")
}

func TestShutdownReportsFlushErrors(t *testing.T) {
	tp := &flakyTP{}
	_, s1 := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	_, s2 := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	err := otelsession.Shutdown(context.Background())
	require.ErrorContains(t, err, "collector down")
	assert.True(t, s1.Ended(), "ended even though the flush fails")
	assert.True(t, s2.Ended())
	assert.Equal(t, 1, tp.flushes, "a provider shared by sessions is flushed once")
}
