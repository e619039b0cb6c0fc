package otellangchaingo_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/anthropic"
	"github.com/tmc/langchaingo/llms/openai"
	"github.com/tmc/langchaingo/prompts"
	"github.com/tmc/langchaingo/schema"
	"github.com/tmc/langchaingo/tools"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/tmc/langchaingo/otellangchaingo"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
)

// env is one session with one agent, recorded by a SpanRecorder, and the fake
// provider server.
type env struct {
	ctx    context.Context
	rec    *tracetest.SpanRecorder
	sess   *otelsession.Session
	agent  *otelsession.Agent
	server string
}

func newEnv(t *testing.T, sessOpts ...otelsession.Option) *env {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(),
		append([]otelsession.Option{otelsession.WithName("test"), otelsession.WithTracerProvider(tp)}, sessOpts...)...)
	ctx, agent, err := sess.StartAgent(ctx, "writer")
	require.NoError(t, err)
	return &env{ctx: ctx, rec: rec, sess: sess, agent: agent, server: newFakeServer(t).URL}
}

// openaiLLM is langchaingo's real openai LLM against the fake server.
func (e *env) openaiLLM(t *testing.T, model string, h *otellangchaingo.Handler) *openai.LLM {
	t.Helper()
	llm, err := openai.New(openai.WithBaseURL(e.server), openai.WithToken("test-key"), openai.WithModel(model), openai.WithCallback(h))
	require.NoError(t, err)
	return llm
}

// spans returns the ended spans of the given crewtrace kind.
func (e *env) spans(kind string) []sdktrace.ReadOnlySpan {
	return spantest.OfKind(e.rec.Ended(), kind)
}

// agentSpan ends the agent and returns its span.
func (e *env) agentSpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	e.agent.End(nil)
	spans := e.spans("agent")
	require.Len(t, spans, 1)
	return spans[0]
}

// events returns the crewtrace events of a span as "kind:type".
func events(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, ev := range s.Events() {
		m := make(map[attribute.Key]string)
		for _, kv := range ev.Attributes {
			m[kv.Key] = kv.Value.Emit()
		}
		if kind, ok := m["crewtrace.event.kind"]; ok {
			out = append(out, kind+":"+m["crewtrace.event.type"])
		}
	}
	return out
}

func TestLLMCall(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("openai"), otellangchaingo.WithModel("gpt-test"))
	out, err := llms.GenerateFromSinglePrompt(e.ctx, e.openaiLLM(t, "gpt-test", h), "hi")
	require.NoError(t, err)
	assert.Equal(t, "Hello world", out)

	spans := e.spans("llm")
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "chat gpt-test", s.Name())
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.Equal(t, trace.SpanContextFromContext(e.ctx).SpanID(), s.Parent().SpanID(), "parent is the agent span")
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-test",
		"gen_ai.usage.input_tokens":      int64(11),
		"gen_ai.usage.output_tokens":     int64(7),
		"gen_ai.response.finish_reasons": []string{"stop"},
	}, spantest.GenAI(s))
	assert.Equal(t, codes.Unset, s.Status().Code)
}

// A streamed call (SSE) ends with the usage of the stream's last chunk.
func TestLLMCallStreaming(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(1000))
	h := otellangchaingo.NewHandler(otellangchaingo.WithModel("gpt-test"))
	var streamed string
	out, err := llms.GenerateFromSinglePrompt(e.ctx, e.openaiLLM(t, "gpt-test", h), "hi",
		llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error { streamed += string(chunk); return nil }))
	require.NoError(t, err)
	assert.Equal(t, "Hello world", out)
	assert.Equal(t, "Hello world", streamed)

	spans := e.spans("llm")
	require.Len(t, spans, 1)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.request.model":           "gpt-test",
		"gen_ai.usage.input_tokens":      int64(9),
		"gen_ai.usage.output_tokens":     int64(2),
		"gen_ai.response.finish_reasons": []string{"stop"},
		"gen_ai.input.messages":          `[{"role":"human","text":"hi"}]`,
		"gen_ai.output.messages":         "Hello world",
	}, spantest.GenAI(spans[0]))
}

// langchaingo's anthropic LLM reports errors with HandleLLMError.
func TestLLMError(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("anthropic"), otellangchaingo.WithModel(modelMissing))
	llm, err := anthropic.New(anthropic.WithBaseURL(e.server), anthropic.WithToken("test-key"), anthropic.WithModel(modelMissing))
	require.NoError(t, err)
	llm.CallbacksHandler = h
	_, err = llms.GenerateFromSinglePrompt(e.ctx, llm, "hi")
	require.Error(t, err)

	spans := e.spans("llm")
	require.Len(t, spans, 1)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Contains(t, spans[0].Status().Description, "model: missing")
	assert.Contains(t, spantest.GenAI(spans[0]), "error.type")
}

// langchaingo's anthropic LLM returns without HandleLLMGenerateContentEnd;
// the surrounding chain's HandleChainEnd ends the span, as successful.
func TestLLMWithoutEndIsEndedByChainEnd(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler(otellangchaingo.WithProviderName("anthropic"), otellangchaingo.WithModel("claude-test"))
	llm, err := anthropic.New(anthropic.WithBaseURL(e.server), anthropic.WithToken("test-key"), anthropic.WithModel("claude-test"))
	require.NoError(t, err)
	llm.CallbacksHandler = h
	chain := chains.NewLLMChain(llm, prompts.NewPromptTemplate("{{.q}}", []string{"q"}), chains.WithCallback(h))
	out, err := chains.Run(e.ctx, chain, "hi")
	require.NoError(t, err)
	assert.Equal(t, "Hello", out)

	spans := e.spans("llm")
	require.Len(t, spans, 1)
	assert.Equal(t, "chat claude-test", spans[0].Name())
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
	assert.Empty(t, events(e.agentSpan(t)))
}

// Token counts in both spellings of langchaingo's generation info;
// Anthropic's input count leaves out prompt-cache writes and reads, which
// are added.
func TestTokenSpellings(t *testing.T) {
	tests := []struct {
		name    string
		info    map[string]any
		in, out int64
	}{
		{"openai", map[string]any{"PromptTokens": 11, "CompletionTokens": 7, "TotalTokens": 18}, 11, 7},
		{"anthropic", map[string]any{"InputTokens": 20, "OutputTokens": 3, "CacheCreationInputTokens": 4, "CacheReadInputTokens": 6}, 30, 3},
		{"int32 (googleai)", map[string]any{"PromptTokens": int32(5), "CompletionTokens": int32(2)}, 5, 2},
		{"float64", map[string]any{"PromptTokens": 5.0, "CompletionTokens": 2.0}, 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			h := otellangchaingo.NewHandler()
			h.HandleLLMGenerateContentStart(e.ctx, nil)
			h.HandleLLMGenerateContentEnd(e.ctx, &llms.ContentResponse{Choices: []*llms.ContentChoice{
				{StopReason: "end_turn", GenerationInfo: tt.info},
				{StopReason: "end_turn", GenerationInfo: tt.info}, // usage is repeated per choice
			}})
			spans := e.spans("llm")
			require.Len(t, spans, 1)
			got := spantest.GenAI(spans[0])
			assert.Equal(t, tt.in, got["gen_ai.usage.input_tokens"])
			assert.Equal(t, tt.out, got["gen_ai.usage.output_tokens"])
			assert.Equal(t, []string{"end_turn"}, got["gen_ai.response.finish_reasons"])
			if tt.name == "anthropic" {
				assert.Equal(t, int64(4), got["gen_ai.usage.cache_creation.input_tokens"])
				assert.Equal(t, int64(6), got["gen_ai.usage.cache_read.input_tokens"])
			}
		})
	}
}

// langchaingo's openai LLM returns errors without HandleLLMError; the
// surrounding chain's HandleChainError ends the span with the error and
// records an error event on the agent. Here the stream is cut midway.
func TestLLMErrorEndedByChainError(t *testing.T) {
	for _, model := range []string{modelMissing, modelCut} {
		t.Run(model, func(t *testing.T) {
			e := newEnv(t)
			h := otellangchaingo.NewHandler(otellangchaingo.WithModel(model))
			chain := chains.NewLLMChain(e.openaiLLM(t, model, h), prompts.NewPromptTemplate("{{.q}}", []string{"q"}), chains.WithCallback(h))
			_, err := chains.Call(e.ctx, chain, map[string]any{"q": "hi"},
				chains.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
			require.Error(t, err)

			spans := e.spans("llm")
			require.Len(t, spans, 1)
			assert.Equal(t, codes.Error, spans[0].Status().Code)
			assert.Equal(t, err.Error(), spans[0].Status().Description)
			assert.Equal(t, []string{"error:chain_error"}, events(e.agentSpan(t)))
		})
	}
}

// A MRKL agent executor with the calculator tool: two LLM calls (streamed),
// one tool span named after the agent's action, and the action and finish
// events on the agent span, in order.
func TestAgentExecutor(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(1000))
	h := otellangchaingo.NewHandler(otellangchaingo.WithModel("gpt-test"))
	calc := tools.Calculator{CallbacksHandler: h}
	agent := agents.NewOneShotAgent(e.openaiLLM(t, "gpt-test", h), []tools.Tool{calc}, agents.WithCallbacksHandler(h))
	executor := agents.NewExecutor(agent, agents.WithCallbacksHandler(h), agents.WithMaxIterations(3))
	out, err := chains.Run(e.ctx, executor, "what is 2+2?")
	require.NoError(t, err)
	assert.Equal(t, "4", out)

	llmSpans := e.spans("llm")
	require.Len(t, llmSpans, 2)
	for _, s := range llmSpans {
		assert.Equal(t, int64(2), spantest.GenAI(s)["gen_ai.usage.output_tokens"])
	}
	toolSpans := e.spans("tool")
	require.Len(t, toolSpans, 1)
	assert.Equal(t, "execute_tool calculator", toolSpans[0].Name())
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":        "tool",
		"gen_ai.operation.name":      "execute_tool",
		"gen_ai.tool.name":           "calculator",
		"gen_ai.tool.call.arguments": "2+2",
		"gen_ai.tool.call.result":    "4",
	}, spantest.GenAI(toolSpans[0]))
	assert.Equal(t, []string{"action:calculator", "action:agent_finish"}, events(e.agentSpan(t)))
}

// The calculator returns without HandleToolEnd on an invalid expression; the
// agent's next step ends the tool span.
func TestToolWithoutEndIsEndedByNextStep(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	calc := tools.Calculator{CallbacksHandler: h}
	h.HandleAgentAction(e.ctx, schema.AgentAction{Tool: "calculator", ToolInput: "2+"})
	_, err := calc.Call(e.ctx, "2+")
	require.NoError(t, err)
	assert.Empty(t, e.spans("tool"))
	h.HandleAgentFinish(e.ctx, schema.AgentFinish{})

	spans := e.spans("tool")
	require.Len(t, spans, 1)
	assert.Equal(t, "execute_tool calculator", spans[0].Name())
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
}

func TestToolError(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler(otellangchaingo.WithDefaultToolName("search"))
	h.HandleToolStart(e.ctx, "query")
	h.HandleToolError(e.ctx, errors.New("search failed"))

	spans := e.spans("tool")
	require.Len(t, spans, 1)
	assert.Equal(t, "execute_tool search", spans[0].Name(), "no agent action named the tool")
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "search failed", spans[0].Status().Description)
}

func TestAgentActionWithToolID(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	h.HandleAgentAction(e.ctx, schema.AgentAction{Tool: "search", ToolInput: "otel", ToolID: "call_1"})
	h.HandleToolStart(e.ctx, "otel")
	h.HandleToolEnd(e.ctx, "found")

	spans := e.spans("tool")
	require.Len(t, spans, 1)
	assert.Equal(t, "call_1", spantest.GenAI(spans[0])["gen_ai.tool.call.id"])
	agent := e.agentSpan(t)
	require.Len(t, agent.Events(), 1)
	assert.Contains(t, agent.Events()[0].Attributes, attribute.String("crewtrace.event.param.tool_call_id", "call_1"))
}

func TestRetrieverEnd(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	h.HandleRetrieverStart(e.ctx, "q")
	h.HandleRetrieverEnd(e.ctx, "q", []schema.Document{{PageContent: "a"}, {PageContent: "b"}})
	agent := e.agentSpan(t)
	assert.Equal(t, []string{"event:retrieve"}, events(agent))
	assert.Contains(t, agent.Events()[0].Attributes, attribute.Int("crewtrace.event.param.documents", 2))
}

// Close ends what langchaingo left open.
func TestClose(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	h.HandleLLMGenerateContentStart(e.ctx, nil)
	h.HandleToolStart(e.ctx, "x")
	require.NoError(t, h.Close())

	require.Len(t, e.spans("llm"), 1)
	require.Len(t, e.spans("tool"), 1)
	for _, s := range append(e.spans("llm"), e.spans("tool")...) {
		assert.Equal(t, codes.Error, s.Status().Code)
		assert.Equal(t, otellangchaingo.ErrNotEnded.Error(), s.Status().Description)
	}
	h.HandleLLMGenerateContentEnd(e.ctx, &llms.ContentResponse{})
	assert.Len(t, e.spans("llm"), 1, "a late end finds nothing to end")
}

func TestNoSession(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	out, err := llms.GenerateFromSinglePrompt(context.Background(), e.openaiLLM(t, "gpt-test", h), "hi")
	require.NoError(t, err)
	assert.Equal(t, "Hello world", out)
	h.HandleToolStart(context.Background(), "x")
	h.HandleAgentAction(context.Background(), schema.AgentAction{Tool: "x"})
	h.HandleChainError(context.Background(), errors.New("x"))
	assert.Empty(t, e.rec.Ended())
}

// Concurrent agents, each with its own context, share one handler and one
// LLM: each agent gets exactly its own call.
func TestConcurrentAgents(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler(otellangchaingo.WithModel("gpt-test"))
	llm := e.openaiLLM(t, "gpt-test", h)
	const n = 8
	var wg sync.WaitGroup
	agentSpans := make([]trace.SpanID, n)
	for i := range n {
		ctx, agent, err := e.sess.StartAgent(e.ctx, "worker")
		require.NoError(t, err)
		agentSpans[i] = trace.SpanContextFromContext(ctx).SpanID()
		wg.Go(func() {
			defer agent.End(nil)
			_, err := llms.GenerateFromSinglePrompt(ctx, llm, "hi")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	spans := e.spans("llm")
	require.Len(t, spans, n)
	parents := make(map[trace.SpanID]int)
	for _, s := range spans {
		parents[s.Parent().SpanID()]++
		assert.Equal(t, int64(7), spantest.GenAI(s)["gen_ai.usage.output_tokens"])
	}
	for _, id := range agentSpans {
		assert.Equal(t, 1, parents[id], "one call under each agent")
	}
}

// Calls sharing one context are matched first-in first-out: every start is
// ended once, and the token totals are right.
func TestSharedContextIsFIFO(t *testing.T) {
	e := newEnv(t)
	h := otellangchaingo.NewHandler()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h.HandleLLMGenerateContentStart(e.ctx, nil)
			h.HandleLLMGenerateContentEnd(e.ctx, &llms.ContentResponse{Choices: []*llms.ContentChoice{{
				GenerationInfo: map[string]any{"PromptTokens": i, "CompletionTokens": 1},
			}}})
		})
	}
	wg.Wait()
	spans := e.spans("llm")
	require.Len(t, spans, n)
	var in, out int64
	for _, s := range spans {
		got := spantest.GenAI(s)
		v, _ := got["gen_ai.usage.input_tokens"].(int64)
		in += v
		out += got["gen_ai.usage.output_tokens"].(int64)
	}
	assert.Equal(t, int64(n*(n-1)/2), in)
	assert.Equal(t, int64(n), out)
}
