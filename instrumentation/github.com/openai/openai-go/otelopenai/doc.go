// Package otelopenai records the calls an openai-go (v3) client makes into
// the crewtrace session of the call's context, as OpenTelemetry GenAI client
// spans, without changing the calling code.
//
// [Middleware] is an openai-go middleware. For every chat completion,
// responses-API and embeddings request whose context holds an otelsession
// session, it starts an LLM call span ("chat <model>", "embeddings <model>")
// under the context's current agent (or the session) and ends it with what
// the response says: response model and ID, input and output tokens, finish
// reasons, and on failure error.type and status Error (HTTP error statuses,
// error events in a stream, transport errors, cut streams). Prompt and
// completion content is recorded only when the session has content capture
// on (otelsession.WithContentCapture), truncated.
//
// Streamed responses (server-sent events) are read as the application reads
// them, without buffering: the span ends at the stream's end marker, at a
// read error, or when the application closes the stream (or cancels its
// context) early — the span is then marked crewtrace.llm.stream.abandoned,
// not failed. Token counts of a chat
// completion stream are only sent by the API when the request sets
// stream_options.include_usage.
//
//	client := openai.NewClient(option.WithMiddleware(otelopenai.Middleware()))
//	ctx, sess := otelsession.Start(ctx, otelsession.WithName("triage"))
//	ctx, agent, _ := sess.StartAgent(ctx, "researcher")
//	resp, err := client.Chat.Completions.New(ctx, params) // recorded under the agent
package otelopenai // import "github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
