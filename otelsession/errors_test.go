package otelsession_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/otelsession"
)

func TestStartAgentErrors(t *testing.T) {
	tests := []struct {
		name    string
		agent   string
		opts    []otelsession.AgentOption
		endSess bool
		want    error
	}{
		{name: "empty name", agent: "", want: otelsession.ErrInvalidName},
		{name: "malformed id", agent: "a", opts: []otelsession.AgentOption{otelsession.WithAgentID("agent-7")}, want: otelsession.ErrInvalidAgentID},
		{name: "truncated uuid", agent: "a", opts: []otelsession.AgentOption{otelsession.WithAgentID("6f1c2a53-8d2e-4c1b-9a7e")}, want: otelsession.ErrInvalidAgentID},
		{name: "session ended", agent: "a", endSess: true, want: otelsession.ErrSessionEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, sess := otelsession.Start(context.Background(), e.opts()...)
			if tt.endSess {
				require.NoError(t, sess.End(otelsession.Success, ""))
			}
			gotCtx, agent, err := sess.StartAgent(ctx, tt.agent, tt.opts...)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, agent)
			assert.Equal(t, ctx, gotCtx, "the context is returned unchanged")
			if !tt.endSess {
				require.NoError(t, sess.End(otelsession.Success, ""))
			}
			require.Len(t, e.rec.Started(), 1, "nothing but the session span was recorded")
			assert.NotContains(t, e.metrics(t), "crewtrace.agents.created", "no agent counted")
		})
	}
}

func TestAgentIDForms(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	defer func() { require.NoError(t, sess.End(otelsession.Success, "")) }()
	_, a, err := sess.StartAgent(ctx, "a", otelsession.WithAgentID("{6F1C2A53-8D2E-4C1B-9A7E-2B8F0D4E1A10}"))
	require.NoError(t, err)
	assert.Equal(t, researcherID, a.ID(), "recorded in canonical form")
	a.End(nil)
}

func TestRecordEventErrors(t *testing.T) {
	tests := []struct {
		name   string
		noSess bool
		ended  bool
		ev     otelsession.Event
		want   error
		reason string
	}{
		{name: "no session", noSess: true, ev: otelsession.Event{Type: "x"}, want: otelsession.ErrNoSession, reason: "no_session"},
		{name: "empty type", ev: otelsession.Event{}, want: otelsession.ErrInvalidEvent, reason: "invalid_type"},
		{name: "unknown kind", ev: otelsession.Event{Type: "x", Kind: "warning"}, want: otelsession.ErrInvalidEvent, reason: "invalid_kind"},
		{name: "unsupported param", ev: otelsession.Event{Type: "x", Params: map[string]any{"m": map[string]int{}}}, want: otelsession.ErrInvalidEvent, reason: "invalid_param"},
		{name: "nil param", ev: otelsession.Event{Type: "x", Params: map[string]any{"n": nil}}, want: otelsession.ErrInvalidEvent, reason: "invalid_param"},
		{name: "int32 param", ev: otelsession.Event{Type: "x", Params: map[string]any{"n": int32(1)}}, want: otelsession.ErrInvalidEvent, reason: "invalid_param"},
		{name: "session ended", ended: true, ev: otelsession.Event{Type: "x"}, want: otelsession.ErrSessionEnded, reason: "session_ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, sess := otelsession.Start(context.Background(), e.opts()...)
			if tt.noSess {
				useGlobalMeterProvider(t, e)
				ctx = context.Background()
			}
			if tt.ended {
				require.NoError(t, sess.End(otelsession.Success, ""))
			}
			err := otelsession.RecordEvent(ctx, tt.ev)
			require.ErrorIs(t, err, tt.want)
			if !tt.ended {
				require.NoError(t, sess.End(otelsession.Success, ""))
			}
			require.Len(t, e.rec.Ended(), 1)
			assert.Empty(t, e.rec.Ended()[0].Events(), "nothing recorded")
			m := e.metrics(t)
			assert.Equal(t, map[string]any{"error.type=" + tt.reason: int64(1)}, m["crewtrace.events.rejected"])
			assert.NotContains(t, m, "crewtrace.events.recorded")
		})
	}
	t.Run("detail", func(t *testing.T) {
		e := newEnv(t)
		ctx, sess := otelsession.Start(context.Background(), e.opts()...)
		defer func() { require.NoError(t, sess.End(otelsession.Success, "")) }()
		err := otelsession.RecordAction(ctx, "act", map[string]any{"when": struct{}{}})
		assert.EqualError(t, err, `otelsession: invalid event: param "when" has unsupported type struct {}`)
		assert.ErrorIs(t, otelsession.RecordError(ctx, "", errors.New("x")), otelsession.ErrInvalidEvent)
		assert.ErrorIs(t, otelsession.RecordError(context.Background(), "t", nil), otelsession.ErrNoSession)
	})
}

func TestCallErrors(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)

	bg := context.Background()
	gotCtx, llm, err := otelsession.StartLLMCall(bg, otelsession.LLMRequest{Model: "m"})
	require.ErrorIs(t, err, otelsession.ErrNoSession)
	assert.Nil(t, llm)
	assert.Equal(t, bg, gotCtx)
	_, tool, err := otelsession.StartToolCall(bg, "t")
	require.ErrorIs(t, err, otelsession.ErrNoSession)
	assert.Nil(t, tool)
	_, tool, err = otelsession.StartToolCall(ctx, "")
	require.ErrorIs(t, err, otelsession.ErrInvalidName)
	assert.Nil(t, tool)

	actx, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, sess.End(otelsession.Fail, "stop"))
	_, llm, err = otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "m"})
	require.ErrorIs(t, err, otelsession.ErrSessionEnded)
	assert.Nil(t, llm)
	_, tool, err = otelsession.StartToolCall(actx, "t")
	require.ErrorIs(t, err, otelsession.ErrSessionEnded)
	assert.Nil(t, tool)
	require.ErrorIs(t, otelsession.RecordAction(actx, "late", nil), otelsession.ErrSessionEnded)
	agent.End(nil)
	agent.End(errors.New("ignored: already ended"))

	names := []string{}
	for _, s := range e.rec.Ended() {
		names = append(names, s.Name())
	}
	assert.ElementsMatch(t, []string{"session", "invoke_agent a"}, names)
	for _, s := range e.rec.Ended() {
		if s.Name() == "invoke_agent a" {
			assert.Empty(t, s.Events(), "the second End changed nothing")
		}
	}
}

func TestCallEndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	_, llm, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "m"})
	require.NoError(t, err)
	llm.End(otelsession.LLMResponse{InputTokens: 1}, nil)
	llm.End(otelsession.LLMResponse{InputTokens: 2}, errors.New("late"))
	_, tool, err := otelsession.StartToolCall(ctx, "t")
	require.NoError(t, err)
	tool.End("", nil)
	tool.End("", errors.New("late"))
	require.NoError(t, sess.End(otelsession.Success, ""))
	spans := e.byName(t)
	assert.Equal(t, int64(1), attrs(spans["chat m"].Attributes())["gen_ai.usage.input_tokens"])
	assert.Empty(t, spans["chat m"].Events())
	assert.Empty(t, spans["execute_tool t"].Events())
}
