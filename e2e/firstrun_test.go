package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// TestREADMEExample runs the README's program (examples/readme, the very
// text of the README's block) against the real collector and Jaeger, with
// nothing but the OTEL_* variables a user sets, and checks the session
// record it produces and its trace in Jaeger.
func TestREADMEExample(t *testing.T) {
	ctx, env := newEnv(t)
	bin, err := harness.BuildExample(ctx, env.root, harness.BuildDir(env.root), testWriter{t}, "readme")
	require.NoError(t, err)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	prog, err := harness.Start("readme", env.logDir, stack.CrewEnv(), bin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = prog.Stop(0) })
	require.NoError(t, prog.Wait(ctx), "the README's program failed:\n%s", prog.LogTail(logTailLines))
	var printed []string
	for _, l := range strings.Split(strings.TrimSpace(prog.Log()), "\n") {
		if !strings.HasPrefix(l, "# ") { // the harness's header: the command line
			printed = append(printed, l)
		}
	}
	assert.Empty(t, printed, "the program prints nothing when all goes well (no error, no export failure)")

	r := waitForOneRecord(t, ctx, stack)
	assert.Equal(t, "triage", r.Name)
	assert.Equal(t, []string{"prod"}, r.Tags)
	assert.Equal(t, "Success", r.EndState)
	assert.True(t, r.Complete, "complete")
	assert.Equal(t, "my-crew", r.Resource["service.name"], "WithServiceName reached the resource")
	assert.Equal(t, 4, r.SpanCount, "session, agent, LLM call, tool call")
	assert.Equal(t, harness.RecordCounts{Agents: 1, LLMCalls: 1, ToolCalls: 1, Actions: 1}, r.Counts)
	assert.Equal(t, harness.RecordTokens{Input: 120, Output: 40, Total: 160}, r.Tokens)
	require.Len(t, r.Agents, 1)
	a := r.Agents[0]
	assert.Equal(t, "researcher", a.Name)
	assert.Equal(t, 1, a.LLMCalls)
	assert.Equal(t, 1, a.ToolCalls)
	assert.Zero(t, a.Errors)
	require.Len(t, r.Events, 1)
	assert.Equal(t, harness.RecordEvent{Kind: "action", Type: "summarise", Time: r.Events[0].Time, AgentID: a.ID, AgentName: "researcher"}, r.Events[0])

	tr := waitForSpans(t, ctx, stack.Query, r.TraceID, 4)
	names := map[string]bool{}
	for _, s := range tr.Spans {
		names[s.OperationName] = true
	}
	assert.Equal(t, map[string]bool{"session triage": true, "invoke_agent researcher": true, "chat gpt-4o": true, "execute_tool web_search": true}, names)
}

// TestPanicInToolIsRecorded is issue 10's panic, end to end: a panic in a
// tool call inside an agent inside a session, with the README's two
// deferred EndOnExit calls. The record has the session Fail with the panic
// as reason, the agent and the tool call as errors, one error event
// (exception.type panic, on the agent), and the tool span is in Jaeger,
// ended as still running.
func TestPanicInToolIsRecorded(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(stack.Addrs.OTLPGRPC), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "panic-e2e"))))

	task := func(ctx context.Context) (err error) {
		ctx, sess := otelsession.Start(ctx, otelsession.WithName("panicky"), otelsession.WithTracerProvider(tp))
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
		panic("tool exploded")
	}
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_ = task(ctx)
	}()
	require.Equal(t, "tool exploded", recovered, "the panic went on through both EndOnExit calls")
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, tp.Shutdown(sctx), "flushed to the collector")

	r := waitForOneRecord(t, ctx, stack)
	assert.Equal(t, "panicky", r.Name)
	assert.Equal(t, "Fail", r.EndState)
	assert.Equal(t, "panic: tool exploded", r.EndReason)
	assert.Equal(t, 3, r.SpanCount, "session, agent and the tool call: nothing vanished")
	assert.Equal(t, 1, r.Counts.ToolCalls)
	assert.Equal(t, 2, r.Counts.Errors, "the panic's error event (agent) and the tool call ended as still running")
	require.Len(t, r.Agents, 1)
	assert.Equal(t, 2, r.Agents[0].Errors, "the agent's error event and its tool call's error")
	require.Len(t, r.Events, 1, "one error event")
	ev := r.Events[0]
	assert.Equal(t, "error", ev.Kind)
	assert.Equal(t, "panic", ev.Type)
	assert.Equal(t, "panic", ev.ErrorType, "exception.type")
	assert.Equal(t, "tool exploded", ev.Message)
	assert.Equal(t, "researcher", ev.AgentName)

	trace := waitForSpans(t, ctx, stack.Query, r.TraceID, 3)
	var tool, agent *harness.JaegerSpan
	for i, s := range trace.Spans {
		switch s.OperationName {
		case "execute_tool web_search":
			tool = &trace.Spans[i]
		case "invoke_agent researcher":
			agent = &trace.Spans[i]
		}
	}
	require.NotNil(t, tool, "the tool span is in Jaeger")
	assert.Equal(t, "ERROR", tool.TagString("otel.status_code"))
	assert.Equal(t, otelsession.StillRunningReason+" (panic: tool exploded)", tool.TagString("otel.status_description"))
	assert.Equal(t, semconv.ErrorTypeStillRunning, tool.TagString(string(semconv.ErrorTypeKey)))
	require.NotNil(t, agent)
	assert.Equal(t, agent.SpanID, tool.ParentID(), "the tool span is in the agent")
	require.Len(t, agent.Logs, 1)
	st, ok := agent.Logs[0].Field(string(semconv.ExceptionStacktraceKey))
	require.True(t, ok, "the error event carries the stack")
	assert.Contains(t, fmt.Sprint(st), "TestPanicInToolIsRecorded", "the stack reaches the panic")
}

// waitForOneRecord waits for the stack's only session record and returns it.
func waitForOneRecord(t *testing.T, ctx context.Context, stack *harness.Stack) harness.Record {
	t.Helper()
	var recs []harness.Record
	err := harness.Poll(ctx, "the session's record", func(context.Context) (bool, string, error) {
		var err error
		recs, err = harness.ReadRecords(stack.SessionsPath())
		return len(recs) > 0, fmt.Sprintf("%d records", len(recs)), err
	})
	require.NoError(t, err)
	require.Len(t, recs, 1, "one session, one record")
	return recs[0]
}

// waitForSpans waits until Jaeger holds n spans of the trace.
func waitForSpans(t *testing.T, ctx context.Context, q *harness.JaegerClient, traceID string, n int) harness.JaegerTrace {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var tr harness.JaegerTrace
	err := harness.Poll(ctx, "trace "+traceID+" in Jaeger", func(ctx context.Context) (bool, string, error) {
		got, err := q.Trace(ctx, traceID)
		if errors.Is(err, harness.ErrTraceNotFound) {
			return false, "not found yet", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		tr = got
		return len(got.Spans) >= n, fmt.Sprintf("%d of %d spans", len(got.Spans), n), nil
	})
	require.NoError(t, err)
	return tr
}
