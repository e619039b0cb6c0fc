package otelsession_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

const researcherID = "6f1c2a53-8d2e-4c1b-9a7e-2b8f0d4e1a10"

// TestSessionTree checks the exact span tree, names, attributes and events
// of a session with two agents, LLM and tool calls, and events of every kind.
func TestSessionTree(t *testing.T) {
	e := newEnv(t)
	sid := uuid.MustParse("0b5d6c1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e")
	ctx, sess := otelsession.Start(context.Background(),
		e.opts(otelsession.WithName("triage"), otelsession.WithTags("prod", "eu"), otelsession.WithID(sid))...)
	require.Equal(t, sid.String(), sess.ID())
	require.Equal(t, "triage", sess.Name())
	got, ok := otelsession.FromContext(ctx)
	require.True(t, ok)
	require.Same(t, sess, got)

	// Agent 1: an event, an LLM call, a tool call, an action.
	rctx, researcher, err := sess.StartAgent(ctx, "researcher", otelsession.WithAgentID(researcherID))
	require.NoError(t, err)
	require.Equal(t, researcherID, researcher.ID())
	require.Equal(t, "researcher", researcher.Name())
	a, ok := otelsession.AgentFromContext(rctx)
	require.True(t, ok)
	require.Same(t, researcher, a)
	require.NoError(t, otelsession.RecordEvent(rctx, otelsession.Event{
		Type: "plan", Returns: 3,
		Params: map[string]any{"steps": 3, "query": "otel", "ok": true, "score": 0.5, "ids": []int64{1, 2}, "n": int64(7),
			"tags": []string{"a"}, "flags": []bool{true}, "ints": []int{4}, "ws": []float64{1.5}},
	}))
	_, llm, err := otelsession.StartLLMCall(rctx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o", Prompt: "secret prompt"})
	require.NoError(t, err)
	llm.End(otelsession.LLMResponse{ResponseModel: "gpt-4o-2024-08-06", ResponseID: "resp-1", InputTokens: 120, OutputTokens: 40,
		FinishReasons: []string{"stop"}, Completion: "secret completion"}, nil)
	_, tool, err := otelsession.StartToolCall(rctx, "search", otelsession.WithToolCallID("call-1"), otelsession.WithToolArguments(`{"q":"otel"}`))
	require.NoError(t, err)
	tool.End("3 results", nil)
	require.NoError(t, otelsession.RecordAction(rctx, "search", map[string]any{"query": "otel"}))
	researcher.End(nil)

	// Agent 2: a failing LLM call and an error event, then a failed agent.
	wctx, writer, err := sess.StartAgent(ctx, "writer")
	require.NoError(t, err)
	_, err = uuid.Parse(writer.ID())
	require.NoError(t, err, "a generated agent ID is a UUID")
	failure := errors.New("rate limited")
	_, llm2, err := otelsession.StartLLMCall(wctx, otelsession.LLMRequest{Provider: "anthropic", Model: "claude-sonnet-4"})
	require.NoError(t, err)
	llm2.End(otelsession.LLMResponse{}, failure)
	require.NoError(t, otelsession.RecordError(wctx, "llm_failure", failure))
	writer.End(failure)

	// A session-level event, then the end.
	require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "done", Returns: "summary"}))
	require.NoError(t, sess.End(otelsession.Fail, "writer failed"))

	spans := e.byName(t)
	require.Len(t, spans, 6)
	root := spans["session triage"]
	require.NotNil(t, root)
	assert.False(t, root.Parent().IsValid(), "the session span is a root")
	assert.Equal(t, sess.TraceID(), root.SpanContext().TraceID())
	for name, s := range spans {
		assert.Equal(t, sess.TraceID(), s.SpanContext().TraceID(), name)
		assert.Equal(t, sid.String(), attrs(s.Attributes())["session.id"], name)
		assert.Equal(t, sid.String(), attrs(s.Attributes())["gen_ai.conversation.id"], name)
	}
	parentOf := func(child, parent string) {
		t.Helper()
		assert.Equal(t, spans[parent].SpanContext().SpanID(), spans[child].Parent().SpanID(), "%s under %s", child, parent)
	}
	parentOf("invoke_agent researcher", "session triage")
	parentOf("invoke_agent writer", "session triage")
	parentOf("chat gpt-4o", "invoke_agent researcher")
	parentOf("execute_tool search", "invoke_agent researcher")
	parentOf("chat claude-sonnet-4", "invoke_agent writer")

	id := sid.String()
	assert.Equal(t, map[string]any{
		"session.id": id, "gen_ai.conversation.id": id, "crewtrace.span.kind": "session",
		"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "triage", "crewtrace.session.name": "triage",
		"crewtrace.session.tags":      []string{"prod", "eu"},
		"crewtrace.session.end_state": "Fail", "crewtrace.session.end_reason": "writer failed",
		"crewtrace.session.events_refused": int64(0),
	}, attrs(root.Attributes()))
	assert.Equal(t, codes.Error, root.Status().Code)
	assert.Equal(t, "writer failed", root.Status().Description)
	require.Len(t, root.Events(), 1)
	assert.Equal(t, "done", root.Events()[0].Name)
	assert.Equal(t, map[string]any{"crewtrace.event.kind": "event", "crewtrace.event.type": "done", "crewtrace.event.returns": "summary"},
		attrs(root.Events()[0].Attributes))

	r := spans["invoke_agent researcher"]
	assert.Equal(t, map[string]any{
		"session.id": id, "gen_ai.conversation.id": id, "crewtrace.span.kind": "agent",
		"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher", "gen_ai.agent.id": researcherID,
	}, attrs(r.Attributes()))
	assert.Equal(t, codes.Unset, r.Status().Code)
	require.Len(t, r.Events(), 2)
	assert.Equal(t, "plan", r.Events()[0].Name)
	assert.Equal(t, map[string]any{
		"crewtrace.event.kind": "event", "crewtrace.event.type": "plan", "crewtrace.event.returns": "3",
		"crewtrace.event.param.steps": int64(3), "crewtrace.event.param.query": "otel", "crewtrace.event.param.ok": true,
		"crewtrace.event.param.score": 0.5, "crewtrace.event.param.ids": []int64{1, 2}, "crewtrace.event.param.n": int64(7),
		"crewtrace.event.param.tags": []string{"a"}, "crewtrace.event.param.flags": []bool{true},
		"crewtrace.event.param.ints": []int64{4}, "crewtrace.event.param.ws": []float64{1.5},
	}, attrs(r.Events()[0].Attributes))
	keys := make([]string, 0, len(r.Events()[0].Attributes))
	for _, kv := range r.Events()[0].Attributes[3:] {
		keys = append(keys, string(kv.Key))
	}
	assert.IsIncreasing(t, keys, "params are recorded sorted by key, after kind, type and returns")
	assert.Equal(t, "search", r.Events()[1].Name)
	assert.Equal(t, map[string]any{"crewtrace.event.kind": "action", "crewtrace.event.type": "search", "crewtrace.event.param.query": "otel"},
		attrs(r.Events()[1].Attributes))

	c := spans["chat gpt-4o"]
	assert.Equal(t, trace.SpanKindClient, c.SpanKind())
	assert.Equal(t, map[string]any{
		"session.id": id, "gen_ai.conversation.id": id, "crewtrace.span.kind": "llm",
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "resp-1",
		"gen_ai.usage.input_tokens": int64(120), "gen_ai.usage.output_tokens": int64(40),
		"gen_ai.response.finish_reasons": []string{"stop"},
	}, attrs(c.Attributes()), "no content without WithContentCapture")
	assert.Empty(t, c.Events())

	tl := spans["execute_tool search"]
	assert.Equal(t, trace.SpanKindInternal, tl.SpanKind())
	assert.Equal(t, map[string]any{
		"session.id": id, "gen_ai.conversation.id": id, "crewtrace.span.kind": "tool",
		"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call-1",
	}, attrs(tl.Attributes()), "no arguments or result without WithContentCapture")

	c2 := spans["chat claude-sonnet-4"]
	assert.Equal(t, codes.Error, c2.Status().Code)
	assert.Equal(t, "rate limited", c2.Status().Description)
	assert.Equal(t, "*errors.errorString", attrs(c2.Attributes())["error.type"])

	w := spans["invoke_agent writer"]
	assert.Equal(t, codes.Error, w.Status().Code)
	require.Len(t, w.Events(), 2, "the error event, then the agent's own error")
	ev := w.Events()[0]
	assert.Equal(t, "exception", ev.Name, "an error event is one OTel exception event")
	assert.Equal(t, map[string]any{
		"crewtrace.event.kind": "error", "crewtrace.event.type": "llm_failure",
		"exception.type": "*errors.errorString", "exception.message": "rate limited",
	}, attrs(ev.Attributes))
	assert.Equal(t, "exception", w.Events()[1].Name)
	assert.NotContains(t, attrs(w.Events()[1].Attributes), "crewtrace.event.kind", "End(err) is not a session event")
}

func TestStartIsNewRootAndLinks(t *testing.T) {
	e := newEnv(t)
	outerCtx, outer := e.tp.Tracer("host").Start(context.Background(), "host request")

	_, plain := otelsession.Start(outerCtx, e.opts(otelsession.WithName("plain"))...)
	require.NoError(t, plain.End(otelsession.Success, ""))
	_, linked := otelsession.Start(outerCtx, e.opts(otelsession.WithName("linked"), otelsession.WithLink(outer.SpanContext()))...)
	require.NoError(t, linked.End(otelsession.Success, ""))
	outer.End()

	spans := e.byName(t)
	for _, name := range []string{"session plain", "session linked"} {
		s := spans[name]
		assert.False(t, s.Parent().IsValid(), name)
		assert.NotEqual(t, outer.SpanContext().TraceID(), s.SpanContext().TraceID(), name)
	}
	assert.Empty(t, spans["session plain"].Links())
	require.Len(t, spans["session linked"].Links(), 1)
	assert.Equal(t, outer.SpanContext(), spans["session linked"].Links()[0].SpanContext)
	assert.NotEqual(t, plain.TraceID(), linked.TraceID())
	assert.NotContains(t, attrs(spans["session plain"].Attributes()), "crewtrace.session.end_reason", "an empty reason is not recorded")
	assert.Equal(t, codes.Unset, spans["session plain"].Status().Code, "Success leaves the status unset")
}

func TestStartWithoutOptions(t *testing.T) {
	ctx, sess := otelsession.Start(context.Background())
	_, err := uuid.Parse(sess.ID())
	require.NoError(t, err)
	assert.Equal(t, "", sess.Name())
	assert.False(t, sess.Ended())
	_, agent, err := sess.StartAgent(ctx, "solo")
	require.NoError(t, err)
	require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "ping"}))
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, "done"))
	assert.True(t, sess.Ended())
	assert.Equal(t, "session", semconv.SessionSpanName(sess.Name()), "an unnamed session's span is named \"session\"")
}

func TestEndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	_, sess := otelsession.Start(context.Background(), e.opts()...)
	err := sess.End("Maybe", "x")
	require.ErrorIs(t, err, otelsession.ErrInvalidEndState)
	assert.False(t, sess.Ended(), "an invalid state leaves the session open")
	require.NoError(t, sess.End(otelsession.Indeterminate, "first"))
	require.ErrorIs(t, sess.End(otelsession.Fail, "second"), otelsession.ErrSessionEnded)
	require.ErrorIs(t, sess.End(otelsession.Success, ""), otelsession.ErrSessionEnded)

	ended := e.rec.Ended()
	require.Len(t, ended, 1)
	a := attrs(ended[0].Attributes())
	assert.Equal(t, "Indeterminate", a["crewtrace.session.end_state"])
	assert.Equal(t, "first", a["crewtrace.session.end_reason"])
	assert.Equal(t, codes.Unset, ended[0].Status().Code)
}

func TestEndOnExit(t *testing.T) {
	run := func(e *env, fail error, panicWith any) (err error) {
		_, sess := otelsession.Start(context.Background(), e.opts()...)
		defer sess.EndOnExit(&err)
		if panicWith != nil {
			panic(panicWith)
		}
		return fail
	}
	endOf := func(t *testing.T, e *env) (map[string]any, sdktrace.ReadOnlySpan) {
		t.Helper()
		ended := e.rec.Ended()
		require.Len(t, ended, 1)
		return attrs(ended[0].Attributes()), ended[0]
	}

	t.Run("success", func(t *testing.T) {
		e := newEnv(t)
		require.NoError(t, run(e, nil, nil))
		a, s := endOf(t, e)
		assert.Equal(t, "Success", a["crewtrace.session.end_state"])
		assert.Equal(t, codes.Unset, s.Status().Code)
	})
	t.Run("error", func(t *testing.T) {
		e := newEnv(t)
		require.EqualError(t, run(e, errors.New("boom"), nil), "boom")
		a, s := endOf(t, e)
		assert.Equal(t, "Fail", a["crewtrace.session.end_state"])
		assert.Equal(t, "boom", a["crewtrace.session.end_reason"])
		assert.Equal(t, codes.Error, s.Status().Code)
		require.Len(t, s.Events(), 1)
		assert.Equal(t, "exception", s.Events()[0].Name)
	})
	t.Run("panic", func(t *testing.T) {
		e := newEnv(t)
		assert.PanicsWithValue(t, "kaboom", func() { _ = run(e, nil, "kaboom") }, "the panic continues")
		a, s := endOf(t, e)
		assert.Equal(t, "Fail", a["crewtrace.session.end_state"])
		assert.Equal(t, "panic: kaboom", a["crewtrace.session.end_reason"])
		assert.Equal(t, codes.Error, s.Status().Code)
	})
	t.Run("already ended", func(t *testing.T) {
		e := newEnv(t)
		_, sess := otelsession.Start(context.Background(), e.opts()...)
		require.NoError(t, sess.End(otelsession.Indeterminate, "manual"))
		err := errors.New("late")
		sess.EndOnExit(&err)
		sess.EndOnExit(nil)
		a, s := endOf(t, e)
		assert.Equal(t, "Indeterminate", a["crewtrace.session.end_state"])
		assert.Empty(t, s.Events())
	})
}

func TestContentCapture(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithContentCapture(5))...)
	_, llm, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "m", Operation: "embeddings", Prompt: "héllo world"})
	require.NoError(t, err)
	llm.End(otelsession.LLMResponse{Completion: "abcdefgh"}, nil)
	_, tool, err := otelsession.StartToolCall(ctx, "calc", otelsession.WithToolArguments("1+2+3+4"))
	require.NoError(t, err)
	tool.End("10", nil)
	require.NoError(t, sess.End(otelsession.Success, ""))

	spans := e.byName(t)
	l := attrs(spans["embeddings m"].Attributes())
	assert.Equal(t, "héll", l["gen_ai.input.messages"], "truncated to 5 bytes without splitting é")
	assert.Equal(t, "abcde", l["gen_ai.output.messages"])
	assert.Equal(t, "embeddings", l["gen_ai.operation.name"])
	tl := attrs(spans["execute_tool calc"].Attributes())
	assert.Equal(t, "1+2+3", tl["gen_ai.tool.call.arguments"])
	assert.Equal(t, "10", tl["gen_ai.tool.call.result"])
	assert.Equal(t, spans["session"].SpanContext().SpanID(), spans["execute_tool calc"].Parent().SpanID(), "no agent: under the session")
}

func TestNestingAndFallbacks(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithName("n"))...)
	mctx, manager, err := sess.StartAgent(ctx, "manager")
	require.NoError(t, err)
	wctx, worker, err := sess.StartAgent(mctx, "worker")
	require.NoError(t, err)
	lctx, llm, err := otelsession.StartLLMCall(wctx, otelsession.LLMRequest{Model: "m"})
	require.NoError(t, err)
	_, tool, err := otelsession.StartToolCall(lctx, "fn")
	require.NoError(t, err)
	require.NoError(t, otelsession.RecordEvent(lctx, otelsession.Event{Type: "inside-llm"}), "goes to the agent span")
	tool.End("", nil)
	llm.End(otelsession.LLMResponse{}, nil)
	worker.End(nil)
	require.NoError(t, otelsession.RecordEvent(wctx, otelsession.Event{Type: "after-worker"}), "agent ended: goes to the session span")
	// A context whose current span is foreign to the session: spans still land in it.
	_, foreign := e.tp.Tracer("host").Start(context.Background(), "foreign")
	fctx := trace.ContextWithSpan(mctx, foreign)
	_, tool2, err := otelsession.StartToolCall(fctx, "fn2")
	require.NoError(t, err)
	tool2.End("", nil)
	foreign.End()
	manager.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))

	spans := e.byName(t)
	id := func(n string) trace.SpanID { return spans[n].SpanContext().SpanID() }
	assert.Equal(t, id("invoke_agent manager"), spans["invoke_agent worker"].Parent().SpanID())
	assert.Equal(t, id("invoke_agent worker"), spans["chat m"].Parent().SpanID())
	assert.Equal(t, id("chat m"), spans["execute_tool fn"].Parent().SpanID())
	assert.Equal(t, id("invoke_agent manager"), spans["execute_tool fn2"].Parent().SpanID())
	assert.Equal(t, sess.TraceID(), spans["execute_tool fn2"].SpanContext().TraceID())
	require.Len(t, spans["invoke_agent worker"].Events(), 1)
	assert.Equal(t, "inside-llm", spans["invoke_agent worker"].Events()[0].Name)
	require.Len(t, spans["session n"].Events(), 1)
	assert.Equal(t, "after-worker", spans["session n"].Events()[0].Name)
}

func TestNilReceiversAreInert(t *testing.T) {
	var s *otelsession.Session
	var a *otelsession.Agent
	var l *otelsession.LLMCall
	var tc *otelsession.ToolCall
	assert.NotPanics(t, func() {
		assert.Equal(t, "", s.ID())
		assert.Equal(t, "", s.Name())
		assert.False(t, s.TraceID().IsValid())
		assert.True(t, s.Ended())
		assert.ErrorIs(t, s.End(otelsession.Success, ""), otelsession.ErrNoSession)
		_, _, err := s.StartAgent(context.Background(), "x")
		assert.ErrorIs(t, err, otelsession.ErrNoSession)
		s.EndOnExit(nil)
		assert.Equal(t, "", a.ID())
		assert.Equal(t, "", a.Name())
		assert.Nil(t, a.Session())
		a.End(errors.New("x"))
		l.End(otelsession.LLMResponse{}, nil)
		tc.End("", nil)
	})
}

type userKey struct{}

// The contexts Start and StartAgent return behave as ordinary derived
// contexts: values, cancellation and deadlines of the parent pass through.
func TestReturnedContextsDerive(t *testing.T) {
	e := newEnv(t)
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), userKey{}, "v"))
	ctx, sess := otelsession.Start(parent, e.opts()...)
	actx, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	child, stop := context.WithCancel(actx)
	defer stop()
	for _, c := range []context.Context{ctx, actx, child} {
		assert.Equal(t, "v", c.Value(userKey{}))
		got, ok := otelsession.FromContext(c)
		assert.True(t, ok)
		assert.Same(t, sess, got)
		assert.NoError(t, c.Err())
	}
	a, ok := otelsession.AgentFromContext(child)
	assert.True(t, ok)
	assert.Same(t, agent, a)
	_, ok = otelsession.AgentFromContext(ctx)
	assert.False(t, ok, "the session context holds no agent")
	cancel()
	<-child.Done()
	assert.ErrorIs(t, actx.Err(), context.Canceled)
	assert.ErrorIs(t, child.Err(), context.Canceled)
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))
}

func TestNilProvidersKeepDefaults(t *testing.T) {
	var tp *sdktrace.TracerProvider
	var mp *sdkmetric.MeterProvider
	assert.NotPanics(t, func() {
		ctx, sess := otelsession.Start(context.Background(),
			otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp),
			otelsession.WithTracerProvider(nil), otelsession.WithMeterProvider(nil), nil)
		require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "x"}))
		require.NoError(t, sess.End(otelsession.Success, ""))
	})
}
