package otelsession_test

import (
	"context"
	"errors"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/otelsession"
)

// printTree prints the recorded spans in end order, with their events.
func printTree(rec *tracetest.SpanRecorder) {
	for _, s := range rec.Ended() {
		fmt.Printf("%s (%s)\n", s.Name(), s.Status().Code)
		for _, ev := range s.Events() {
			fmt.Printf("  event %s\n", ev.Name)
		}
	}
}

// A crew task in its own session: one agent, an LLM call, a tool call and an action.
func ExampleStart() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	ctx, sess := otelsession.Start(context.Background(),
		otelsession.WithName("triage"), otelsession.WithTags("demo"), otelsession.WithTracerProvider(tp))

	actx, agent, err := sess.StartAgent(ctx, "researcher")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, call, _ := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
	call.End(otelsession.LLMResponse{InputTokens: 120, OutputTokens: 40, FinishReasons: []string{"stop"}}, nil)
	_, tool, _ := otelsession.StartToolCall(actx, "web_search", otelsession.WithToolCallID("call_1"))
	tool.End("3 results", nil)
	_ = otelsession.RecordAction(actx, "summarise", map[string]any{"sources": 3})
	agent.End(nil)
	_ = sess.End(otelsession.Success, "answered")

	printTree(rec)
	// Output:
	// chat gpt-4o (Unset)
	// execute_tool web_search (Unset)
	// invoke_agent researcher (Unset)
	//   event summarise
	// session triage (Unset)
}

// EndOnExit ends the session from a defer: Fail with the error, or Success.
func ExampleSession_EndOnExit() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	task := func(ctx context.Context) (err error) {
		ctx, sess := otelsession.Start(ctx, otelsession.WithName("flaky"), otelsession.WithTracerProvider(tp))
		defer sess.EndOnExit(&err)
		_ = otelsession.RecordEvent(ctx, otelsession.Event{Type: "attempt", Returns: 1})
		return errors.New("tool timed out")
	}
	fmt.Println(task(context.Background()))
	printTree(rec)
	// Output:
	// tool timed out
	// session flaky (Error)
	//   event attempt
	//   event exception
}

// Recording events: AgentOps' Event, ActionEvent and ErrorEvent.
func ExampleRecordEvent() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))

	fmt.Println(otelsession.RecordEvent(ctx, otelsession.Event{Type: "plan", Returns: "3 steps", Params: map[string]any{"steps": 3}}))
	fmt.Println(otelsession.RecordAction(ctx, "search", map[string]any{"query": "otel"}))
	fmt.Println(otelsession.RecordError(ctx, "tool_error", errors.New("timeout")))
	fmt.Println(otelsession.RecordEvent(ctx, otelsession.Event{Type: "bad", Params: map[string]any{"ch": make(chan int)}}))
	_ = sess.End(otelsession.Success, "")
	fmt.Println(otelsession.RecordEvent(ctx, otelsession.Event{Type: "late"}))
	fmt.Println(otelsession.RecordEvent(context.Background(), otelsession.Event{Type: "orphan"}))
	printTree(rec)
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// otelsession: invalid event: param "ch" has unsupported type chan int
	// otelsession: session already ended
	// otelsession: no session in context
	// session (Unset)
	//   event plan
	//   event search
	//   event exception
}

// Typed params: the same events as with Params maps, with no map to build
// and nothing allocated for the params (like slog.LogAttrs next to slog.Info).
func ExampleRecordEventParams() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))

	fmt.Println(otelsession.RecordEventParams(ctx, otelsession.Event{Type: "plan", Returns: "3 steps"},
		otelsession.IntParam("steps", 3), otelsession.StringParam("goal", "triage")))
	fmt.Println(otelsession.RecordActionParams(ctx, "search", otelsession.StringParam("query", "otel")))
	_ = sess.End(otelsession.Success, "")
	for _, ev := range rec.Ended()[0].Events() {
		for _, kv := range ev.Attributes {
			fmt.Printf("%s %s=%s\n", ev.Name, kv.Key, kv.Value.Emit())
		}
	}
	// Output:
	// <nil>
	// <nil>
	// plan crewtrace.event.kind=event
	// plan crewtrace.event.type=plan
	// plan crewtrace.event.returns=3 steps
	// plan crewtrace.event.param.goal=triage
	// plan crewtrace.event.param.steps=3
	// search crewtrace.event.kind=action
	// search crewtrace.event.type=search
	// search crewtrace.event.param.query=otel
}

// Shutdown ends the sessions still open when the program exits, and flushes.
func ExampleShutdown() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, _ = otelsession.Start(context.Background(), otelsession.WithName("forgotten"), otelsession.WithTracerProvider(tp))

	if err := otelsession.Shutdown(context.Background()); err != nil {
		fmt.Println(err)
	}
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "crewtrace.session.end_state" || kv.Key == "crewtrace.session.end_reason" {
				fmt.Printf("%s: %s\n", kv.Key, kv.Value.AsString())
			}
		}
	}
	// Output:
	// crewtrace.session.end_state: Indeterminate
	// crewtrace.session.end_reason: process exited without ending the session
}
