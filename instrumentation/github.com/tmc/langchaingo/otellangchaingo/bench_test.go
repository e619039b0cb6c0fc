package otellangchaingo_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/openai"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/tmc/langchaingo/otellangchaingo"
	"github.com/crewtrace/crewtrace/otelsession"
)

// BenchmarkGenerateContent measures the per-call overhead of the handler:
// the same langchaingo openai LLM call against the same local server, bare
// (no handler, no session) and instrumented (the handler, a session with an
// agent, a recording SDK tracer provider), side by side in one run. cpu-ns/op is the process CPU time per call
// (client and in-process server), which a busy machine does not inflate.
func BenchmarkGenerateContent(b *testing.B) {
	srv := newFakeServer(b)
	newLLM := func(opts ...openai.Option) *openai.LLM {
		llm, err := openai.New(append([]openai.Option{openai.WithBaseURL(srv.URL), openai.WithToken("k"), openai.WithModel("gpt-test")}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return llm
	}
	bare := newLLM()
	instrumented := newLLM(openai.WithCallback(otellangchaingo.NewHandler(otellangchaingo.WithModel("gpt-test"))))

	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sessCtx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	b.Cleanup(func() { _ = sess.End(otelsession.Success, "") })
	sessCtx, _, err := sess.StartAgent(sessCtx, "bench")
	if err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, llm *openai.LLM, ctx context.Context) {
		b.ReportAllocs()
		start := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			if _, err := llms.GenerateFromSinglePrompt(ctx, llm, "hi"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, context.Background()) })
	b.Run("otellangchaingo", func(b *testing.B) { run(b, instrumented, sessCtx) })
}
