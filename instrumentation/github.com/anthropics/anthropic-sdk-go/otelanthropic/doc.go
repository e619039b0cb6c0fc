// Package otelanthropic records the Messages calls an anthropic-sdk-go (v2)
// client makes into the crewtrace session of the call's context, as
// OpenTelemetry GenAI client spans, without changing the calling code.
//
// [Middleware] is an anthropic-sdk-go middleware. For every Messages request
// (New and NewStreaming, beta included) whose context holds an otelsession
// session, it starts an LLM call span ("chat <model>") under the context's
// current agent (or the session) and ends it with what the response says:
// response model and ID, input tokens (prompt-cache writes and reads
// included) and output tokens, the stop reason as the finish reason, and on
// failure error.type and status Error (HTTP error statuses, error events in
// a stream, transport errors, cut streams). Prompt and completion content is
// recorded only when the session has content capture on
// (otelsession.WithContentCapture), truncated.
//
// Streamed responses are read as the application reads them, without
// buffering: input tokens come from message_start, output tokens and the
// stop reason from message_delta, and the span ends at message_stop, at an
// error event, at a read error, or when the application closes the stream
// (or cancels its context) early — the span is then marked
// crewtrace.llm.stream.abandoned, not failed.
//
//	client := anthropic.NewClient(
//		option.WithMiddleware(otelanthropic.Middleware()),
//		option.WithoutOpenTelemetry(), // the SDK's own spans would duplicate these
//	)
//	ctx, sess := otelsession.Start(ctx, otelsession.WithName("triage"))
//	ctx, agent, _ := sess.StartAgent(ctx, "researcher")
//	msg, err := client.Messages.New(ctx, params) // recorded under the agent
package otelanthropic // import "github.com/crewtrace/crewtrace/instrumentation/github.com/anthropics/anthropic-sdk-go/otelanthropic"
