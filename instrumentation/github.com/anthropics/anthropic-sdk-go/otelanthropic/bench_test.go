package otelanthropic_test

import (
	"context"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/anthropics/anthropic-sdk-go/otelanthropic"
	"github.com/crewtrace/crewtrace/otelsession"
)

// The benchmarks measure the per-call overhead of the middleware: the same
// call against the same local server, bare (no middleware, no session) and
// instrumented (middleware, a session with an agent, a recording SDK tracer
// provider), side by side in one run. Both clients have the SDK's own spans
// off, as the README recommends next to the middleware. cpu-ns/op is the
// process CPU time per call (client and in-process server), which a busy
// machine does not inflate.

func benchClients(b *testing.B) (bare, instrumented anthropic.Client, ctx context.Context) {
	srv := newFakeAnthropic(b)
	close(srv.release)
	bare = anthropic.NewClient(clientOptions(srv.URL)...)
	instrumented = anthropic.NewClient(clientOptions(srv.URL, option.WithMiddleware(otelanthropic.Middleware()))...)

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

func BenchmarkMessage(b *testing.B) {
	bare, instrumented, sessCtx := benchClients(b)
	p := params("claude-test")
	run := func(b *testing.B, client anthropic.Client, ctx context.Context) {
		b.ReportAllocs()
		start := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if _, err := client.Messages.New(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, context.Background()) })
	b.Run("otelanthropic", func(b *testing.B) { run(b, instrumented, sessCtx) })
}

func BenchmarkMessageStream(b *testing.B) {
	bare, instrumented, sessCtx := benchClients(b)
	p := params(modelPaused) // released: a whole stream
	run := func(b *testing.B, client anthropic.Client, ctx context.Context) {
		b.ReportAllocs()
		start := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			stream := client.Messages.NewStreaming(ctx, p)
			for stream.Next() {
			}
			if err := stream.Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, context.Background()) })
	b.Run("otelanthropic", func(b *testing.B) { run(b, instrumented, sessCtx) })
}
