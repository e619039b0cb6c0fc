// Package otellangchaingo records what a langchaingo (github.com/tmc/langchaingo)
// program does into the crewtrace session of each callback's context: a
// callbacks.Handler that turns LLM calls and tool calls into OpenTelemetry
// GenAI spans and agent steps into AgentOps-style events, without changing
// the calling code.
//
// Give the same [Handler] to the LLM, the tools, the agent and the executor:
//
//	h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("openai"), otellangchaingo.WithModel("gpt-4o"))
//	llm, _ := openai.New(openai.WithModel("gpt-4o"), openai.WithCallback(h))
//	calc := tools.Calculator{CallbacksHandler: h}
//	agent := agents.NewOneShotAgent(llm, []tools.Tool{calc}, agents.WithCallbacksHandler(h))
//	executor := agents.NewExecutor(agent, agents.WithCallbacksHandler(h))
//	defer h.Close()
//
//	ctx, sess := otelsession.Start(ctx, otelsession.WithName("math"))
//	ctx, a, _ := sess.StartAgent(ctx, "solver")
//	answer, err := chains.Run(ctx, executor, "what is 2+2?") // recorded under the agent
//
// What is recorded, under the context's current agent (or the session):
//   - HandleLLMGenerateContentStart/End: a "chat <model>" span with input and
//     output tokens and finish reasons from the response's generation info;
//     HandleLLMError ends it with the error.
//   - HandleToolStart/End/Error: an "execute_tool <name>" span, the name
//     taken from the agent action that preceded it.
//   - HandleAgentAction: an action event of the tool's name;
//     HandleAgentFinish: an action event "agent_finish".
//   - HandleChainError: an error event "chain_error".
//   - HandleRetrieverEnd: an event "retrieve" with the number of documents.
//
// Prompt, completion and tool input/output content is recorded only when the
// session has content capture on (otelsession.WithContentCapture), truncated.
// langchaingo v0.1.14 leaves some starts without an end (its openai LLM on
// error, its anthropic LLM always, the calculator on a bad expression); the
// handler ends such spans at the next callback that proves them over — the
// chain's end or error, the agent's next step — and [Handler.Close] ends
// whatever is left.
package otellangchaingo // import "github.com/crewtrace/crewtrace/instrumentation/github.com/tmc/langchaingo/otellangchaingo"
