package otelsession_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/crewtrace/crewtrace/otelsession"
)

type stringer struct{ s string }

func (s *stringer) String() string { return s.s }

func TestErrorEventsWithoutError(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "validation", Kind: otelsession.KindError, Returns: "bad input"}))
	require.NoError(t, otelsession.RecordError(ctx, "timeout", nil))
	require.NoError(t, sess.End(otelsession.Success, ""))

	evs := e.rec.Ended()[0].Events()
	require.Len(t, evs, 2)
	assert.Equal(t, "exception", evs[0].Name)
	assert.Equal(t, map[string]any{
		"crewtrace.event.kind": "error", "crewtrace.event.type": "validation", "crewtrace.event.returns": "bad input",
		"exception.type": "validation",
	}, attrs(evs[0].Attributes))
	assert.Equal(t, map[string]any{"crewtrace.event.kind": "error", "crewtrace.event.type": "timeout", "exception.type": "timeout"},
		attrs(evs[1].Attributes))
	assert.Equal(t, codes.Unset, e.rec.Ended()[0].Status().Code, "an error event does not fail the span")
}

func TestEventReturns(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	var nilStringer *stringer
	for _, r := range []any{42, 1.5, true, errors.New("oops"), &stringer{"hi"}, nilStringer, []int{1, 2}} {
		require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "r", Returns: r}), "%T must not fail or panic", r)
	}
	require.NoError(t, sess.End(otelsession.Success, ""))
	var got []any
	for _, ev := range e.rec.Ended()[0].Events() {
		got = append(got, attrs(ev.Attributes)["crewtrace.event.returns"])
	}
	assert.Equal(t, []any{"42", "1.5", "true", "oops", "hi", "<nil>", "[1 2]"}, got)
}

func TestSmallAccessors(t *testing.T) {
	e := newEnv(t)
	_, ok := otelsession.FromContext(context.Background())
	assert.False(t, ok)
	ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithContentCapture(-1), otelsession.WithID([16]byte{}))...)
	assert.NotEqual(t, "00000000-0000-0000-0000-000000000000", sess.ID(), "uuid.Nil keeps a generated ID")
	actx, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	assert.Same(t, sess, agent.Session())
	_, tool, err := otelsession.StartToolCall(actx, "t", otelsession.WithToolArguments("secret"))
	require.NoError(t, err)
	tool.End("secret result", errors.New("tool broke"))
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))
	spans := e.byName(t)
	tl := spans["execute_tool t"]
	assert.Equal(t, codes.Error, tl.Status().Code)
	assert.Equal(t, "*errors.errorString", attrs(tl.Attributes())["error.type"])
	assert.NotContains(t, attrs(tl.Attributes()), "gen_ai.tool.call.arguments", "negative capture limit: off")
	assert.NotContains(t, attrs(tl.Attributes()), "gen_ai.tool.call.result")
}
