package otelsession_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/otelsession"
)

// TestEndEndsOpenChildren: what a session still has open when it ends is
// ended with it — status Error, error.type still_running, the reason — and
// before the session span; what was ended stays as it was.
func TestEndEndsOpenChildren(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithName("s"))...)
	actx, _, err := sess.StartAgent(ctx, "open-agent")
	require.NoError(t, err)
	_, _, err = otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "open-model"})
	require.NoError(t, err)
	_, _, err = otelsession.StartToolCall(actx, "open-tool")
	require.NoError(t, err)
	_, done, err := sess.StartAgent(ctx, "done-agent")
	require.NoError(t, err)
	done.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))

	spans := e.byName(t)
	require.Len(t, spans, 5)
	for _, name := range []string{"invoke_agent open-agent", "chat open-model", "execute_tool open-tool"} {
		s := spans[name]
		assert.Equal(t, codes.Error, s.Status().Code, name)
		assert.Equal(t, otelsession.StillRunningReason, s.Status().Description, name)
		assert.Equal(t, "still_running", attrs(s.Attributes())["error.type"], name)
		assert.Empty(t, s.Events(), "%s: nothing was thrown, no exception event", name)
	}
	assert.Equal(t, codes.Unset, spans["invoke_agent done-agent"].Status().Code, "an agent ended before is untouched")
	assert.Equal(t, codes.Unset, spans["session s"].Status().Code, "the session's own end state is the caller's")

	ended := e.rec.Ended()
	assert.Equal(t, "session s", ended[len(ended)-1].Name(), "children end before the session span")
	var order []string
	for _, s := range ended[1:4] {
		order = append(order, s.Name())
	}
	assert.Equal(t, []string{"execute_tool open-tool", "chat open-model", "invoke_agent open-agent"}, order, "newest first")
}

// TestPanicInToolInsideAgent is issue 10's case in memory: a panic in a tool
// call inside an agent inside a session.
func TestPanicInToolInsideAgent(t *testing.T) {
	e := newEnv(t)
	task := func(ctx context.Context) (err error) {
		ctx, sess := otelsession.Start(ctx, e.opts(otelsession.WithName("panicky"))...)
		defer sess.EndOnExit(&err)
		actx, agent, err := sess.StartAgent(ctx, "researcher")
		if err != nil {
			return err
		}
		defer agent.EndOnExit(&err)
		_, _, err = otelsession.StartToolCall(actx, "web_search")
		if err != nil {
			return err
		}
		explode()
		return nil
	}
	assert.PanicsWithValue(t, "tool exploded", func() { _ = task(context.Background()) }, "the panic goes on")

	spans := e.byName(t)
	require.Len(t, spans, 3)
	sess, agent, tool := spans["session panicky"], spans["invoke_agent researcher"], spans["execute_tool web_search"]

	sa := attrs(sess.Attributes())
	assert.Equal(t, "Fail", sa["crewtrace.session.end_state"])
	assert.Equal(t, "panic: tool exploded", sa["crewtrace.session.end_reason"])
	assert.Equal(t, codes.Error, sess.Status().Code)
	assert.Empty(t, sess.Events(), "the panic is recorded once, by the first EndOnExit it met")

	assert.Equal(t, codes.Error, agent.Status().Code)
	assert.Equal(t, "panic: tool exploded", agent.Status().Description)
	assert.Equal(t, "panic", attrs(agent.Attributes())["error.type"])
	require.Len(t, agent.Events(), 1)
	ev := agent.Events()[0]
	assert.Equal(t, "exception", ev.Name)
	ea := attrs(ev.Attributes)
	assert.Equal(t, "error", ea["crewtrace.event.kind"], "an error event: the record counts it")
	assert.Equal(t, "panic", ea["crewtrace.event.type"])
	assert.Equal(t, "panic", ea["exception.type"])
	assert.Equal(t, "tool exploded", ea["exception.message"])
	stack, _ := ea["exception.stacktrace"].(string)
	assert.Contains(t, stack, "otelsession_test.explode", "the stack reaches the panic")
	assert.LessOrEqual(t, len(stack), 8<<10, "truncated")

	assert.Equal(t, codes.Error, tool.Status().Code)
	assert.Equal(t, otelsession.StillRunningReason+" (panic: tool exploded)", tool.Status().Description)
	assert.Equal(t, "still_running", attrs(tool.Attributes())["error.type"])

	m := e.metrics(t)
	assert.Equal(t, int64(1), m["crewtrace.events.recorded"]["crewtrace.event.kind=error"])
}

//go:noinline
func explode() { panic("tool exploded") }

func TestEndOnExitPanics(t *testing.T) {
	t.Run("in the session, an error value", func(t *testing.T) {
		e := newEnv(t)
		boom := errors.New("disk full")
		assert.PanicsWithError(t, "disk full", func() {
			_, sess := otelsession.Start(context.Background(), e.opts()...)
			defer sess.EndOnExit(nil)
			panic(boom)
		})
		ended := e.rec.Ended()
		require.Len(t, ended, 1)
		require.Len(t, ended[0].Events(), 1)
		ea := attrs(ended[0].Events()[0].Attributes)
		assert.Equal(t, "panic", ea["exception.type"], "panic, whatever the value's type")
		assert.Equal(t, "disk full", ea["exception.message"])
		assert.Equal(t, "panic: disk full", attrs(ended[0].Attributes())["crewtrace.session.end_reason"])
	})
	t.Run("nested agents record it once, each ends with it", func(t *testing.T) {
		e := newEnv(t)
		assert.Panics(t, func() {
			ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithName("s"))...)
			defer sess.EndOnExit(nil)
			octx, outer, _ := sess.StartAgent(ctx, "outer")
			defer outer.EndOnExit(nil)
			_, inner, _ := sess.StartAgent(octx, "inner")
			defer inner.EndOnExit(nil)
			panic([]int{1}) // not comparable: still recorded once
		})
		spans := e.byName(t)
		events := 0
		for _, s := range spans {
			events += len(s.Events())
		}
		assert.Equal(t, 1, events)
		assert.Len(t, spans["invoke_agent inner"].Events(), 1, "by the innermost EndOnExit")
		for _, name := range []string{"invoke_agent inner", "invoke_agent outer"} {
			assert.Equal(t, "panic: [1]", spans[name].Status().Description, name)
		}
	})
	t.Run("agent without panic", func(t *testing.T) {
		e := newEnv(t)
		ctx, sess := otelsession.Start(context.Background(), e.opts()...)
		run := func(name string, fail error) (err error) {
			_, agent, err := sess.StartAgent(ctx, name)
			require.NoError(t, err)
			defer agent.EndOnExit(&err)
			return fail
		}
		require.NoError(t, run("fine", nil))
		require.Error(t, run("failing", errors.New("no answer")))
		var nilAgent *otelsession.Agent
		nilAgent.EndOnExit(nil) // inert
		require.NoError(t, sess.End(otelsession.Success, ""))
		spans := e.byName(t)
		assert.Equal(t, codes.Unset, spans["invoke_agent fine"].Status().Code)
		assert.Equal(t, codes.Error, spans["invoke_agent failing"].Status().Code)
		assert.Equal(t, "no answer", spans["invoke_agent failing"].Status().Description)
	})
	t.Run("session error names itself on the open children", func(t *testing.T) {
		e := newEnv(t)
		_ = func() (err error) {
			ctx, sess := otelsession.Start(context.Background(), e.opts()...)
			defer sess.EndOnExit(&err)
			_, _, _ = sess.StartAgent(ctx, "left")
			return errors.New("deadline")
		}()
		spans := e.byName(t)
		assert.Equal(t, otelsession.StillRunningReason+" (deadline)", spans["invoke_agent left"].Status().Description)
	})
}

// startCounter counts the spans started and ended.
type startCounter struct{ started, ended atomic.Int64 }

func (p *startCounter) OnStart(context.Context, sdktrace.ReadWriteSpan) { p.started.Add(1) }
func (p *startCounter) OnEnd(sdktrace.ReadOnlySpan)                     { p.ended.Add(1) }
func (p *startCounter) Shutdown(context.Context) error                  { return nil }
func (p *startCounter) ForceFlush(context.Context) error                { return nil }

// TestChildrenRaceEnd starts agents, LLM and tool calls while the session
// ends: every span started is ended (by its caller, by End, or at once when
// the start lost the race), and a start either succeeds or returns
// ErrSessionEnded.
func TestChildrenRaceEnd(t *testing.T) {
	for range 20 {
		var cnt startCounter
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(&cnt))
		ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 6 {
			wg.Go(func() {
				<-start
				for i := range 20 {
					actx, agent, err := sess.StartAgent(ctx, fmt.Sprint("a", w))
					if err != nil {
						assert.ErrorIs(t, err, otelsession.ErrSessionEnded)
						return
					}
					_, call, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "m"})
					if err == nil && i%2 == 0 {
						call.End(otelsession.LLMResponse{}, nil)
					}
					_, tool, err := otelsession.StartToolCall(actx, "t")
					if err == nil && i%3 == 0 {
						tool.End("", nil)
					}
					if i%2 == 1 {
						agent.End(nil)
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			assert.NoError(t, sess.End(otelsession.Success, ""))
		})
		close(start)
		wg.Wait()
		assert.Equal(t, cnt.started.Load(), cnt.ended.Load(), "every span started is ended")
		require.NoError(t, tp.Shutdown(context.Background()))
	}
}

// TestEventsRefusedOnSessionSpan: the refusals of the session's events are
// counted on its span; a refusal after End only on the metric.
func TestEventsRefusedOnSessionSpan(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	actx, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	require.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{}), otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordEvent(actx, otelsession.Event{Type: "x", Kind: "weird"}), otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordAction(actx, "x", map[string]any{"p": struct{}{}}), otelsession.ErrInvalidEvent)
	require.NoError(t, otelsession.RecordEvent(actx, otelsession.Event{Type: "fine"}))
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))
	require.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{}), otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "late"}), otelsession.ErrSessionEnded)

	spans := e.byName(t)
	assert.Equal(t, int64(3), attrs(spans["session"].Attributes())["crewtrace.session.events_refused"])
	m := e.metrics(t)["crewtrace.events.rejected"]
	var total int64
	for _, v := range m {
		total += v.(int64)
	}
	assert.Equal(t, int64(5), total, "the metric counts every refusal, after End too")
}

func TestLLMCacheAndReasoningTokens(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	_, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "m"})
	require.NoError(t, err)
	call.End(otelsession.LLMResponse{InputTokens: 1000, CacheReadInputTokens: 600, CacheCreationInputTokens: 300,
		OutputTokens: 200, ReasoningOutputTokens: 150}, nil)
	_, bare, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "bare"})
	require.NoError(t, err)
	bare.End(otelsession.LLMResponse{InputTokens: 10}, nil)
	require.NoError(t, sess.End(otelsession.Success, ""))

	spans := e.byName(t)
	a := attrs(spans["chat m"].Attributes())
	assert.Equal(t, int64(1000), a["gen_ai.usage.input_tokens"], "input tokens include cache reads and writes")
	assert.Equal(t, int64(600), a["gen_ai.usage.cache_read.input_tokens"])
	assert.Equal(t, int64(300), a["gen_ai.usage.cache_creation.input_tokens"])
	assert.Equal(t, int64(200), a["gen_ai.usage.output_tokens"])
	assert.Equal(t, int64(150), a["gen_ai.usage.reasoning.output_tokens"])
	for k := range attrs(spans["chat bare"].Attributes()) {
		assert.False(t, strings.Contains(k, "cache") || strings.Contains(k, "reasoning"), "zero counts are not recorded: %s", k)
	}
}
