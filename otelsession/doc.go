// Package otelsession makes multi-agent ("crew") programs observable with
// OpenTelemetry, the way AgentOps sessions do for Python crews.
//
// A session is one trace. [Start] opens it: a new root span "session <name>"
// that carries the session's UUID (session.id and gen_ai.conversation.id, on
// every span the package creates), its name and tags. The session lives in
// the returned context.Context — there is no global current session, so any
// number of sessions may run at once, in any number of goroutines.
//
// Inside a session, [Session.StartAgent] opens an agent span
// ("invoke_agent <name>"), [StartLLMCall] and [StartToolCall] open GenAI
// client spans ("chat <model>", "execute_tool <name>") under the current
// agent (or the session), and [RecordEvent], [RecordAction] and
// [RecordError] add AgentOps-style events to the current agent span (or the
// session span); [RecordEventParams] and [RecordActionParams] take the
// parameters as typed [Param] values ([StringParam], [IntParam], ...)
// instead of a map[string]any, the allocation-free way. Every rejected call returns a sentinel error (match it with
// errors.Is) and is counted; nothing is dropped silently and user input never
// causes a panic.
//
// [Session.End] ends a session once with an [EndState] and a reason, and
// ends the agents, LLM and tool calls it still has open with status Error
// ([StillRunningReason]): nothing open vanishes. [Session.EndOnExit] and
// [Agent.EndOnExit] end a session or an agent from a defer, turning an error
// or a panic into a failure; a panic is recorded once as an error event
// (exception.type "panic", its message and stack). [Shutdown] ends every
// session still open (Indeterminate) and flushes the providers they used —
// call it before the process exits.
//
// Span names and attribute keys come from package
// github.com/crewtrace/crewtrace/semconv, the contract with the session
// exporter. Prompt, completion and tool content is not recorded unless
// [WithContentCapture] turns it on.
//
// Providers are taken from options ([WithTracerProvider],
// [WithMeterProvider]) and fall back to the otel globals; the package never
// sets a global. Package otelsetup (its own module) builds OTLP providers
// from the standard OTEL_* environment variables and installs them as the
// globals. A session that falls back to a no-op global TracerProvider is
// reported to otel.Handle ([ErrNoopTracerProvider], once per process).
//
//	func runTask(ctx context.Context) (err error) {
//		ctx, sess := otelsession.Start(ctx, otelsession.WithName("triage"))
//		defer sess.EndOnExit(&err) // Success, or Fail with err or a panic
//		ctx, agent, err := sess.StartAgent(ctx, "researcher")
//		if err != nil {
//			return err
//		}
//		defer agent.EndOnExit(&err) // the agent fails with err or a panic too
//		_, call, _ := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
//		call.End(otelsession.LLMResponse{InputTokens: 120, OutputTokens: 40}, nil)
//		return otelsession.RecordAction(ctx, "search", map[string]any{"query": "otel"})
//	}
package otelsession // import "github.com/crewtrace/crewtrace/otelsession"
