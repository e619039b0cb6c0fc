package otelanthropic_test

import (
	"context"
	"fmt"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/anthropics/anthropic-sdk-go/otelanthropic"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
)

func ExampleMiddleware() {
	srv := startFakeAnthropic() // stands in for the Anthropic API
	defer srv.Close()

	// The middleware goes on the client (the SDK's own spans off); calls
	// made with a session in their context are recorded under its agent.
	client := anthropic.NewClient(
		option.WithBaseURL(srv.URL), option.WithAPIKey("key"),
		option.WithMiddleware(otelanthropic.Middleware()),
		option.WithoutOpenTelemetry(),
	)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithName("triage"), otelsession.WithTracerProvider(tp))
	ctx, agent, _ := sess.StartAgent(ctx, "researcher")

	_, err := client.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	agent.End(err)
	_ = sess.End(otelsession.Success, "")

	for _, s := range rec.Ended() {
		if s.Name() == "chat claude-test" {
			a := spantest.Attrs(s)
			fmt.Println(s.Name(), a["gen_ai.usage.input_tokens"].AsInt64(), a["gen_ai.usage.output_tokens"].AsInt64(),
				a["gen_ai.response.finish_reasons"].AsStringSlice())
		}
	}
	// Output: chat claude-test 25 7 [end_turn]
}
