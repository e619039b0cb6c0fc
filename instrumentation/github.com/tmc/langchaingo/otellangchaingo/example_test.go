package otellangchaingo_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/tools"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/tmc/langchaingo/otellangchaingo"
	"github.com/crewtrace/crewtrace/otelsession"
)

func ExampleNewHandler() {
	srv := startFakeServer() // stands in for the OpenAI API
	defer srv.Close()

	// One handler for the LLM, the tools, the agent and the executor.
	h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("openai"), otellangchaingo.WithModel("gpt-test"))
	defer h.Close()
	llm, _ := openai.New(openai.WithBaseURL(srv.URL), openai.WithToken("key"), openai.WithModel("gpt-test"), openai.WithCallback(h))
	calc := tools.Calculator{CallbacksHandler: h}
	executor := agents.NewExecutor(
		agents.NewOneShotAgent(llm, []tools.Tool{calc}, agents.WithCallbacksHandler(h)),
		agents.WithCallbacksHandler(h))

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithName("math"), otelsession.WithTracerProvider(tp))
	ctx, agent, _ := sess.StartAgent(ctx, "solver")

	answer, err := chains.Run(ctx, executor, "what is 2+2?")
	agent.End(err)
	_ = sess.End(otelsession.Success, "")

	fmt.Println("answer:", answer)
	for _, s := range rec.Ended() {
		fmt.Println(s.Name())
	}
	// Output:
	// answer: 4
	// chat gpt-test
	// execute_tool calculator
	// chat gpt-test
	// invoke_agent solver
	// session math
}
