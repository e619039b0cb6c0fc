package otelsession_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/otelsession"
)

// The robustness sweep calls the whole public API with zero values, nil
// receivers and nil or empty contexts. Nothing may panic, and where the API
// documents a sentinel error, that error is returned.

// nilCtx is a nil context.Context held in a variable (go vet flags a literal
// nil where a Context is expected; callers still manage to pass one).
var nilCtx context.Context

// noPanic runs fn in a subtest and reports a panic as a failure, with its value.
func noPanic(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v", r)
			}
		}()
		fn(t)
	})
}

func TestRobustnessNilReceivers(t *testing.T) {
	ctx := context.Background()
	var s *otelsession.Session
	var a *otelsession.Agent
	var c *otelsession.LLMCall
	var tc *otelsession.ToolCall

	noPanic(t, "Session", func(t *testing.T) {
		assert.ErrorIs(t, s.End(otelsession.Success, "r"), otelsession.ErrNoSession)
		assert.ErrorIs(t, s.End("", ""), otelsession.ErrNoSession)
		err := errors.New("boom")
		s.EndOnExit(&err)
		s.EndOnExit(nil)
		assert.False(t, s.Ended() && s.ID() != "", "a nil session has no state")
		assert.Empty(t, s.ID())
		assert.Empty(t, s.Name())
		assert.False(t, s.TraceID().IsValid())
		gotCtx, ag, err := s.StartAgent(ctx, "agent")
		assert.ErrorIs(t, err, otelsession.ErrNoSession)
		assert.Nil(t, ag)
		assert.Equal(t, ctx, gotCtx, "the context is returned unchanged")
		_, ag, err = s.StartAgent(nilCtx, "")
		assert.Error(t, err)
		assert.Nil(t, ag)
	})
	noPanic(t, "Agent", func(t *testing.T) {
		a.End(nil)
		a.End(errors.New("boom"))
		assert.Empty(t, a.ID())
		assert.Empty(t, a.Name())
		assert.Nil(t, a.Session())
	})
	noPanic(t, "LLMCall", func(t *testing.T) {
		c.End(otelsession.LLMResponse{}, nil)
		c.End(otelsession.LLMResponse{InputTokens: -1, OutputTokens: -1}, errors.New("boom"))
	})
	noPanic(t, "ToolCall", func(t *testing.T) {
		tc.End("", nil)
		tc.End("result", errors.New("boom"))
	})
}

// typedNilError is an error whose Error method panics on a nil receiver.
type typedNilError struct{ msg string }

func (e *typedNilError) Error() string { return e.msg }

func TestRobustnessNoSessionContexts(t *testing.T) {
	for name, ctx := range map[string]context.Context{
		"nil":        nilCtx,
		"TODO":       context.TODO(),
		"Background": context.Background(),
	} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "FromContext", func(t *testing.T) {
				s, ok := otelsession.FromContext(ctx)
				assert.False(t, ok)
				assert.Nil(t, s)
				a, ok := otelsession.AgentFromContext(ctx)
				assert.False(t, ok)
				assert.Nil(t, a)
			})
			noPanic(t, "events", func(t *testing.T) {
				assert.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "t"}), otelsession.ErrNoSession)
				assert.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{}), otelsession.ErrNoSession)
				assert.ErrorIs(t, otelsession.RecordEventParams(ctx, otelsession.Event{Type: "t"}, otelsession.Param{}), otelsession.ErrNoSession)
				assert.ErrorIs(t, otelsession.RecordAction(ctx, "a", nil), otelsession.ErrNoSession)
				assert.ErrorIs(t, otelsession.RecordActionParams(ctx, "", otelsession.Param{}), otelsession.ErrNoSession)
				assert.ErrorIs(t, otelsession.RecordError(ctx, "e", nil), otelsession.ErrNoSession)
				var nilErr *typedNilError
				assert.ErrorIs(t, otelsession.RecordError(ctx, "", nilErr), otelsession.ErrNoSession)
			})
			noPanic(t, "calls", func(t *testing.T) {
				got, c, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{})
				assert.ErrorIs(t, err, otelsession.ErrNoSession)
				assert.Nil(t, c)
				assert.Equal(t, ctx, got)
				c.End(otelsession.LLMResponse{}, nil)
				got, tc, err := otelsession.StartToolCall(ctx, "tool")
				assert.ErrorIs(t, err, otelsession.ErrNoSession)
				assert.Nil(t, tc)
				assert.Equal(t, ctx, got)
				tc.End("", nil)
				_, tc, err = otelsession.StartToolCall(ctx, "", nil, otelsession.WithToolCallID(""), otelsession.WithToolArguments(""))
				assert.True(t, errors.Is(err, otelsession.ErrInvalidName) || errors.Is(err, otelsession.ErrNoSession), "err %v", err)
				assert.Nil(t, tc)
			})
		})
	}
}

func TestRobustnessNilContextStart(t *testing.T) {
	e := newEnv(t)
	noPanic(t, "Start", func(t *testing.T) {
		ctx, s := otelsession.Start(nilCtx, e.opts()...)
		require.NotNil(t, s, "Start never fails")
		require.NotNil(t, ctx)
		got, ok := otelsession.FromContext(ctx)
		assert.True(t, ok)
		assert.Same(t, s, got)
		require.NoError(t, s.End(otelsession.Success, ""))
	})
	noPanic(t, "StartAgent", func(t *testing.T) {
		_, s := otelsession.Start(context.Background(), e.opts()...)
		ctx, a, err := s.StartAgent(nilCtx, "agent")
		require.NoError(t, err, "the session is the receiver; ctx only places the span")
		require.NotNil(t, ctx)
		a.End(nil)
		require.NoError(t, s.End(otelsession.Success, ""))
	})
	noPanic(t, "Shutdown", func(t *testing.T) {
		assert.NoError(t, otelsession.Shutdown(nilCtx))
	})
}

func TestRobustnessZeroValuesInSession(t *testing.T) {
	e := newEnv(t)
	var zeroSC trace.SpanContext
	noPanic(t, "zero options", func(t *testing.T) {
		ctx, s := otelsession.Start(context.TODO(), nil,
			otelsession.WithID(uuid.UUID{}), otelsession.WithName(""), otelsession.WithTags(),
			otelsession.WithTags("", ""), otelsession.WithContentCapture(0), otelsession.WithContentCapture(-1),
			otelsession.WithLink(zeroSC), otelsession.WithTracerProvider(nil), otelsession.WithMeterProvider(nil),
			otelsession.WithTracerProvider(e.tp), otelsession.WithMeterProvider(e.mp))
		require.NotNil(t, s)
		assert.NotEmpty(t, s.ID())

		// Zero and invalid values get the documented sentinels.
		_, a, err := s.StartAgent(ctx, "")
		assert.ErrorIs(t, err, otelsession.ErrInvalidName)
		assert.Nil(t, a)
		_, a, err = s.StartAgent(ctx, "agent", otelsession.WithAgentID("not-a-uuid"))
		assert.ErrorIs(t, err, otelsession.ErrInvalidAgentID)
		assert.Nil(t, a)
		// An explicit empty ID is malformed too: refused, never replaced.
		_, a, err = s.StartAgent(ctx, "agent", otelsession.WithAgentID(""))
		assert.ErrorIs(t, err, otelsession.ErrInvalidAgentID)
		assert.Nil(t, a)
		_, a, err = s.StartAgent(ctx, "agent", nil)
		if assert.NoError(t, err, "a nil AgentOption is ignored") {
			a.End(nil)
		}
		assert.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{}), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordEventParams(ctx, otelsession.Event{Type: "t"}, otelsession.Param{}), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "t", Kind: "bogus"}), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "t", Params: map[string]any{"": nil}}), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordAction(ctx, "", nil), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordActionParams(ctx, ""), otelsession.ErrInvalidEvent)
		_, tc, err := otelsession.StartToolCall(ctx, "")
		assert.ErrorIs(t, err, otelsession.ErrInvalidName)
		assert.Nil(t, tc)

		// Zero requests, responses and nil errors are accepted.
		_, c, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{})
		require.NoError(t, err)
		c.End(otelsession.LLMResponse{}, nil)
		_, tc, err = otelsession.StartToolCall(ctx, "tool", nil)
		require.NoError(t, err)
		tc.End("", nil)
		var nilErr *typedNilError
		assert.ErrorIs(t, otelsession.RecordError(ctx, "", nil), otelsession.ErrInvalidEvent)
		assert.NoError(t, otelsession.RecordError(ctx, "e", nil))
		assert.NoError(t, otelsession.RecordError(ctx, "e", nilErr))

		assert.ErrorIs(t, s.End("", ""), otelsession.ErrInvalidEndState)
		assert.ErrorIs(t, s.End("Bogus", ""), otelsession.ErrInvalidEndState)
		assert.False(t, s.Ended())
		s.EndOnExit(nil) // a nil errp ends Success
		assert.True(t, s.Ended())
		assert.ErrorIs(t, s.End(otelsession.Fail, ""), otelsession.ErrSessionEnded)
	})
}

func TestRobustnessAfterEnd(t *testing.T) {
	e := newEnv(t)
	noPanic(t, "ended session", func(t *testing.T) {
		ctx, s := otelsession.Start(context.Background(), e.opts(otelsession.WithName("ended"))...)
		actx, a, err := s.StartAgent(ctx, "agent")
		require.NoError(t, err)
		lctx, c, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "m"})
		require.NoError(t, err)
		_, tc, err := otelsession.StartToolCall(lctx, "tool")
		require.NoError(t, err)
		require.NoError(t, s.End(otelsession.Success, ""))

		// An invalid state is refused as such, ended or not.
		assert.ErrorIs(t, s.End("", ""), otelsession.ErrInvalidEndState)
		for i, err := range []error{
			s.End(otelsession.Success, ""),
			otelsession.RecordEvent(ctx, otelsession.Event{Type: "t"}),
			otelsession.RecordEvent(actx, otelsession.Event{Type: "t"}),
			otelsession.RecordAction(lctx, "a", nil),
			otelsession.RecordError(actx, "e", nil),
		} {
			assert.ErrorIs(t, err, otelsession.ErrSessionEnded, "call %d", i)
		}
		_, a2, err := s.StartAgent(ctx, "late")
		assert.ErrorIs(t, err, otelsession.ErrSessionEnded)
		assert.Nil(t, a2)
		_, c2, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{})
		assert.ErrorIs(t, err, otelsession.ErrSessionEnded)
		assert.Nil(t, c2)
		_, tc2, err := otelsession.StartToolCall(ctx, "tool")
		assert.ErrorIs(t, err, otelsession.ErrSessionEnded)
		assert.Nil(t, tc2)

		// Ending the open children after the session, twice, is harmless.
		for range 2 {
			tc.End("", nil)
			c.End(otelsession.LLMResponse{}, fmt.Errorf("late: %w", context.Canceled))
			a.End(nil)
		}
		err = errors.New("boom")
		s.EndOnExit(&err)
		assert.True(t, s.Ended())
	})
}

// FuzzRecordEvent records events built from arbitrary types, kinds, param
// names and values of every Go kind (supported or not) in a live session: no
// panic, and an event is either recorded or refused with ErrInvalidEvent —
// always refused for an empty type, an unknown kind or an unsupported value.
func FuzzRecordEvent(f *testing.F) {
	f.Add("plan", "", "steps", "x", int64(3), 1.5, uint8(0), false)
	f.Add("", "action", "", "", int64(0), 0.0, uint8(7), true)
	f.Add("t", "bogus", "n", "\xff", int64(-1), math.NaN(), uint8(9), true)
	f.Add("t", "error", "n\x00", "v", int64(math.MinInt64), math.Inf(-1), uint8(4), false)
	tp := sdktrace.NewTracerProvider()
	f.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, s := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp),
		otelsession.WithMeterProvider(noopmetric.NewMeterProvider()))
	f.Cleanup(func() { _ = s.End(otelsession.Success, "") })
	f.Fuzz(func(t *testing.T, typ, kind, name, sval string, ival int64, fval float64, sel uint8, typed bool) {
		values := []any{sval, ival, fval, int(ival), ival != 0, []string{sval}, []int64{ival}, []float64{fval},
			[]bool{true}, []int{int(ival)}, nil, struct{}{}, uint(ival), []any{sval}, map[string]any{name: sval}, float32(fval)}
		supported := int(sel)%len(values) < 10
		v := values[int(sel)%len(values)]
		var err error
		if typed {
			params := []otelsession.Param{
				otelsession.StringParam(name, sval), otelsession.Int64Param(name, ival), otelsession.Float64Param(name, fval),
				otelsession.StringSliceParam(name, []string{sval}), otelsession.Float64SliceParam(name, []float64{fval}),
				otelsession.Param{},
			}
			p := params[int(sel)%len(params)]
			supported = int(sel)%len(params) != len(params)-1
			err = otelsession.RecordEventParams(ctx, otelsession.Event{Type: typ, Kind: otelsession.EventKind(kind), Returns: v}, p)
		} else {
			err = otelsession.RecordEvent(ctx, otelsession.Event{Type: typ, Kind: otelsession.EventKind(kind), Returns: v, Params: map[string]any{name: v}})
		}
		if err != nil && !errors.Is(err, otelsession.ErrInvalidEvent) {
			t.Fatalf("error not ErrInvalidEvent: %v", err)
		}
		validKind := kind == "" || kind == string(otelsession.KindEvent) || kind == string(otelsession.KindAction) || kind == string(otelsession.KindError)
		if (typ == "" || !validKind || !supported) && err == nil {
			t.Fatalf("accepted: type %q kind %q value %T (typed %v)", typ, kind, v, typed)
		}
	})
}
