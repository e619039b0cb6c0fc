package otelsession_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/crewtrace/crewtrace/otelsession"
)

// useGlobalMeterProvider makes e's MeterProvider the global one for the test:
// refusals without a session are counted there.
func useGlobalMeterProvider(t *testing.T, e *env) {
	t.Helper()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(e.mp)
	t.Cleanup(func() {
		if prev == nil {
			prev = noop.NewMeterProvider()
		}
		otel.SetMeterProvider(prev)
	})
}

// total sums the int64 values of vals (e.metrics' per-attribute-set values)
// whose encoded attribute set contains match.
func total(vals map[string]any, match string) int64 {
	var n int64
	for k, v := range vals {
		if strings.Contains(k, match) {
			n += v.(int64)
		}
	}
	return n
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	useGlobalMeterProvider(t, e)
	bg := context.Background()

	// Session 1: two agents, 3 events, 2 actions, 1 error; ends Success.
	ctx1, s1 := otelsession.Start(bg, e.opts(otelsession.WithName("one"))...)
	for _, name := range []string{"a", "b"} {
		actx, agent, err := s1.StartAgent(ctx1, name)
		require.NoError(t, err)
		require.NoError(t, otelsession.RecordAction(actx, "act", nil))
		agent.End(nil)
	}
	for range 3 {
		require.NoError(t, otelsession.RecordEvent(ctx1, otelsession.Event{Type: "e"}))
	}
	require.NoError(t, otelsession.RecordError(ctx1, "err", errors.New("x")))
	require.NoError(t, s1.End(otelsession.Success, ""))

	// Session 2: one agent, refused events; ends Fail.
	ctx2, s2 := otelsession.Start(bg, e.opts(otelsession.WithName("two"))...)
	_, agent, err := s2.StartAgent(ctx2, "c")
	require.NoError(t, err)
	agent.End(nil)
	_, _, err = s2.StartAgent(ctx2, "bad", otelsession.WithAgentID("nope"))
	require.ErrorIs(t, err, otelsession.ErrInvalidAgentID)
	require.ErrorIs(t, otelsession.RecordEvent(ctx2, otelsession.Event{}), otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordEvent(ctx2, otelsession.Event{Type: "p", Params: map[string]any{"x": []any{1}}}), otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordEvent(bg, otelsession.Event{Type: "orphan"}), otelsession.ErrNoSession)
	require.NoError(t, s2.End(otelsession.Fail, "failed"))
	require.ErrorIs(t, otelsession.RecordEvent(ctx2, otelsession.Event{Type: "late"}), otelsession.ErrSessionEnded)

	// Session 3: still open. Session 4: no name, ends Success.
	_, s3 := otelsession.Start(bg, e.opts(otelsession.WithName("three"))...)
	_, s4 := otelsession.Start(bg, e.opts()...)
	require.NoError(t, s4.End(otelsession.Success, ""))

	// The session name labels the session metrics; a session without one has no such label.
	m := e.metrics(t)
	assert.Equal(t, map[string]any{
		"crewtrace.session.name=one": int64(1), "crewtrace.session.name=two": int64(1),
		"crewtrace.session.name=three": int64(1), "": int64(1),
	}, m["crewtrace.sessions.started"])
	assert.Equal(t, map[string]any{
		"crewtrace.session.name=one": int64(0), "crewtrace.session.name=two": int64(0),
		"crewtrace.session.name=three": int64(1), "": int64(0),
	}, m["crewtrace.sessions.active"])
	assert.Equal(t, map[string]any{
		"crewtrace.session.end_state=Success,crewtrace.session.name=one": int64(1),
		"crewtrace.session.end_state=Fail,crewtrace.session.name=two":    int64(1),
		"crewtrace.session.end_state=Success":                            int64(1),
	}, m["crewtrace.sessions.ended"])
	assert.Equal(t, map[string]any{
		"crewtrace.session.end_state=Success,crewtrace.session.name=one": uint64(1),
		"crewtrace.session.end_state=Fail,crewtrace.session.name=two":    uint64(1),
		"crewtrace.session.end_state=Success":                            uint64(1),
	}, m["crewtrace.session.duration"], "histogram counts")
	assert.Equal(t, map[string]any{"": int64(3)}, m["crewtrace.agents.created"])
	assert.Equal(t, map[string]any{
		"crewtrace.event.kind=event":  int64(3),
		"crewtrace.event.kind=action": int64(2),
		"crewtrace.event.kind=error":  int64(1),
	}, m["crewtrace.events.recorded"])
	assert.Equal(t, map[string]any{
		"error.type=invalid_type":  int64(1),
		"error.type=invalid_param": int64(1),
		"error.type=no_session":    int64(1),
		"error.type=session_ended": int64(1),
	}, m["crewtrace.events.rejected"])

	require.NoError(t, s3.End(otelsession.Indeterminate, "test over"))
	m = e.metrics(t)
	assert.Equal(t, map[string]any{
		"crewtrace.session.name=one": int64(0), "crewtrace.session.name=two": int64(0),
		"crewtrace.session.name=three": int64(0), "": int64(0),
	}, m["crewtrace.sessions.active"])
	assert.Equal(t, int64(1), m["crewtrace.sessions.ended"]["crewtrace.session.end_state=Indeterminate,crewtrace.session.name=three"])
}
