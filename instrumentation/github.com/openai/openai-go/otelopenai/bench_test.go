package otelopenai_test

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
	"github.com/crewtrace/crewtrace/otelsession"
)

// The benchmarks measure the per-call overhead of the middleware: the same
// call against the same local server, bare (no middleware, no session) and
// instrumented (middleware, a session with an agent, a recording SDK tracer
// provider), side by side in one run. Compare ns/op and allocs/op of the two
// sub-benchmarks; cpu-ns/op is the process CPU time per
// call (client and in-process server), which a busy machine does not inflate.

func benchClients(b *testing.B) (bare, instrumented openai.Client, ctx context.Context) {
	srv := newFakeOpenAI(b)
	common := []option.RequestOption{option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0)}
	bare = openai.NewClient(common...)
	instrumented = openai.NewClient(append(common, option.WithMiddleware(otelopenai.Middleware()))...)

	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	b.Cleanup(func() { _ = sess.End(otelsession.Success, "") })
	ctx, _, err := sess.StartAgent(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return bare, instrumented, ctx
}

func BenchmarkChatCompletion(b *testing.B) {
	bare, instrumented, sessCtx := benchClients(b)
	params := openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")}
	run := func(b *testing.B, client openai.Client, ctx context.Context) {
		b.ReportAllocs()
		start := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if _, err := client.Chat.Completions.New(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, context.Background()) })
	b.Run("otelopenai", func(b *testing.B) { run(b, instrumented, sessCtx) })
}

func BenchmarkChatCompletionStream(b *testing.B) {
	bare, instrumented, sessCtx := benchClients(b)
	params := openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: userMessage("hi"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	run := func(b *testing.B, client openai.Client, ctx context.Context) {
		b.ReportAllocs()
		start := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			stream := client.Chat.Completions.NewStreaming(ctx, params)
			for stream.Next() {
			}
			if err := stream.Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, context.Background()) })
	b.Run("otelopenai", func(b *testing.B) { run(b, instrumented, sessCtx) })
}
