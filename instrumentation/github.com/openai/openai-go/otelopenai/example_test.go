package otelopenai_test

import (
	"context"
	"fmt"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
)

func ExampleMiddleware() {
	srv := startFakeOpenAI() // stands in for the OpenAI API
	defer srv.Close()

	// The middleware goes on the client; calls made with a session in their
	// context are recorded under the context's agent.
	client := openai.NewClient(
		option.WithBaseURL(srv.URL), option.WithAPIKey("key"),
		option.WithMiddleware(otelopenai.Middleware()),
	)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithName("triage"), otelsession.WithTracerProvider(tp))
	ctx, agent, _ := sess.StartAgent(ctx, "researcher")

	_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	agent.End(err)
	_ = sess.End(otelsession.Success, "")

	for _, s := range rec.Ended() {
		if s.Name() == "chat gpt-test" {
			a := spantest.Attrs(s)
			fmt.Println(s.Name(), a["gen_ai.usage.input_tokens"].AsInt64(), a["gen_ai.usage.output_tokens"].AsInt64())
		}
	}
	// Output: chat gpt-test 11 7
}
