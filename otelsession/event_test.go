package otelsession_test

import (
	"context"
	"errors"
	"fmt"
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

// badErr's Error dereferences its receiver: a typed nil *badErr panics.
type badErr struct{ msg string }

func (e *badErr) Error() string { return e.msg }

func TestPanickingErrorsDoNotPanic(t *testing.T) {
	e := newEnv(t)
	var nilErr *badErr
	run := func() (err error) {
		ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithName("bad"))...)
		defer sess.EndOnExit(&err)
		actx, agent, err := sess.StartAgent(ctx, "a")
		require.NoError(t, err)
		require.NoError(t, otelsession.RecordError(actx, "bad_error", nilErr))
		_, call, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "m"})
		require.NoError(t, err)
		call.End(otelsession.LLMResponse{}, nilErr)
		agent.End(nilErr)
		return nilErr
	}
	assert.NotPanics(t, func() { _ = run() })
	spans := e.byName(t)
	want := "*otelsession_test.badErr (Error panicked: runtime error: invalid memory address or nil pointer dereference)"
	assert.Equal(t, want, attrs(spans["session bad"].Attributes())["crewtrace.session.end_reason"])
	assert.Equal(t, want, spans["chat m"].Status().Description)
	assert.Equal(t, codes.Error, spans["invoke_agent a"].Status().Code)
	evs := spans["invoke_agent a"].Events()
	require.Len(t, evs, 2, "the error event, then the agent's own error")
	assert.Equal(t, map[string]any{
		"crewtrace.event.kind": "error", "crewtrace.event.type": "bad_error",
		"exception.type": "*otelsession_test.badErr", "exception.message": want,
	}, attrs(evs[0].Attributes))
}

type rateLimited struct{}

func (rateLimited) Error() string     { return "429" }
func (rateLimited) ErrorType() string { return "rate_limit" }

// error.type follows the OTel convention: an ErrorType method wins.
func TestErrorTypeConvention(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	_, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "m"})
	require.NoError(t, err)
	call.End(otelsession.LLMResponse{}, fmt.Errorf("chat: %w", rateLimited{}))
	require.NoError(t, sess.End(otelsession.Success, ""))
	spans := e.byName(t)
	assert.Equal(t, "rate_limit", attrs(spans["chat m"].Attributes())["error.type"])
	assert.Equal(t, "chat: 429", spans["chat m"].Status().Description)
}
