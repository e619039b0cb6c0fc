package main

import (
	"context"
	"log"
	"time"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/otelsession/otelsetup"
)

func main() {
	ctx := context.Background()
	// Providers from the OTEL_* variables (default: OTLP to http://localhost:4318),
	// installed as the OTel globals that otelsession falls back to.
	_, shutdown, err := otelsetup.Setup(ctx, otelsetup.WithServiceName("my-crew"))
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Ends the sessions still open, flushes, returns every export error.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Print(err)
		}
	}()
	if err := runTask(ctx); err != nil {
		log.Print(err)
	}
}

func runTask(ctx context.Context) (err error) {
	ctx, sess := otelsession.Start(ctx, otelsession.WithName("triage"), otelsession.WithTags("prod"))
	defer sess.EndOnExit(&err) // Success, or Fail with the error / panic as reason

	actx, agent, err := sess.StartAgent(ctx, "researcher")
	if err != nil {
		return err
	}
	defer agent.EndOnExit(&err) // the agent fails with the error / panic too
	_, call, _ := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
	call.End(otelsession.LLMResponse{InputTokens: 120, OutputTokens: 40}, nil)
	_, tool, _ := otelsession.StartToolCall(actx, "web_search")
	tool.End("3 results", nil)
	return otelsession.RecordAction(actx, "summarise", map[string]any{"sources": 3})
}
