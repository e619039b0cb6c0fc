package otelopenai_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// env is one session with one agent, recorded by a SpanRecorder, and a real
// openai-go client talking to the fake server through the middleware.
type env struct {
	ctx    context.Context
	rec    *tracetest.SpanRecorder
	sess   *otelsession.Session
	agent  *otelsession.Agent
	client openai.Client
	server *fakeOpenAI
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
	srv := newFakeOpenAI(t)
	client := openai.NewClient(
		option.WithBaseURL(srv.URL),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
		option.WithMiddleware(otelopenai.Middleware()),
	)
	return &env{ctx: ctx, rec: rec, sess: sess, agent: agent, client: client, server: srv}
}

// onlyLLMSpan asserts that exactly one LLM span ended, under the agent, and returns it.
func (e *env) onlyLLMSpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM)
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.Equal(t, trace.SpanContextFromContext(e.ctx).SpanID(), s.Parent().SpanID(), "parent is the agent span")
	assert.Equal(t, e.sess.ID(), spantest.Attrs(s)["session.id"].AsString())
	return s
}

func userMessage(text string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}
}

func TestChatCompletion(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.NoError(t, err)
	assert.Equal(t, "Hello world", resp.Choices[0].Message.Content, "the SDK reads the body unchanged")

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "chat gpt-test", s.Name())
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-test",
		"gen_ai.response.model":          "gpt-test-2026-01-01",
		"gen_ai.response.id":             "chatcmpl-1",
		"gen_ai.usage.input_tokens":      int64(11),
		"gen_ai.usage.output_tokens":     int64(7),
		"gen_ai.response.finish_reasons": []string{"stop", "length"},
	}, spantest.GenAI(s))
	assert.Equal(t, codes.Unset, s.Status().Code)
}

func TestChatCompletionStream(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{
		Model: modelPaused, Messages: userMessage("hi"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	require.True(t, stream.Next())
	text := stream.Current().Choices[0].Delta.Content
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM), "the span ends with the stream, not before")
	close(e.server.release)
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text += c.Choices[0].Delta.Content
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "Hello", text)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "paused",
		"gen_ai.request.stream":          true,
		"gen_ai.response.model":          "paused-2026-01-01",
		"gen_ai.response.id":             "chatcmpl-2",
		"gen_ai.usage.input_tokens":      int64(9),
		"gen_ai.usage.output_tokens":     int64(2),
		"gen_ai.response.finish_reasons": []string{"stop"},
	}, spantest.GenAI(s))
	assert.Equal(t, codes.Unset, s.Status().Code)
}

// Without stream_options.include_usage the API sends no token counts in a
// stream: the span has none either.
func TestRequestParameters(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: userMessage("hi"),
		MaxCompletionTokens: openai.Int(256), Temperature: openai.Float(0.5), TopP: openai.Float(0.9),
	})
	require.NoError(t, err)
	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.Equal(t, int64(256), got["gen_ai.request.max_tokens"])
	assert.Equal(t, 0.5, got["gen_ai.request.temperature"])
	assert.Equal(t, 0.9, got["gen_ai.request.top_p"])
	assert.NotContains(t, got, "gen_ai.request.stream")
}

func TestChatCompletionStreamWithoutUsage(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	for stream.Next() {
	}
	require.NoError(t, stream.Err())

	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.NotContains(t, got, "gen_ai.usage.input_tokens")
	assert.NotContains(t, got, "gen_ai.usage.output_tokens")
	assert.Equal(t, []string{"stop"}, got["gen_ai.response.finish_reasons"])
}

func TestChatCompletionStreamAbandoned(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{
		Model: modelPaused, Messages: userMessage("hi"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	require.True(t, stream.Next())
	require.NoError(t, stream.Close())

	s := e.onlyLLMSpan(t)
	got := spantest.GenAI(s)
	assert.Equal(t, true, got["crewtrace.llm.stream.abandoned"])
	assert.Equal(t, "paused-2026-01-01", got["gen_ai.response.model"], "what was read is kept")
	assert.NotContains(t, got, "gen_ai.response.finish_reasons")
	assert.NotContains(t, got, "gen_ai.usage.output_tokens")
	assert.Equal(t, codes.Unset, s.Status().Code, "closing early is the application's choice, not an error")
}

// Cancelling the context mid-stream is abandoning the stream, not a failure.
func TestChatCompletionStreamCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	stream := e.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: modelPaused, Messages: userMessage("hi")})
	require.True(t, stream.Next())
	cancel()
	for stream.Next() {
	}
	require.ErrorIs(t, stream.Err(), context.Canceled)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, true, spantest.GenAI(s)["crewtrace.llm.stream.abandoned"])
	assert.Equal(t, codes.Unset, s.Status().Code)
}

func TestChatCompletionStreamCut(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{Model: modelCut, Messages: userMessage("hi")})
	for stream.Next() {
	}
	require.Error(t, stream.Err())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Contains(t, s.Status().Description, "openai: stream cut before its end")
	got := spantest.GenAI(s)
	assert.Equal(t, "stream_cut", got["error.type"])
	assert.Equal(t, "cut-2026-01-01", got["gen_ai.response.model"])
	assert.NotContains(t, got, "crewtrace.llm.stream.abandoned")
}

func TestChatCompletionStreamErrorEvent(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Chat.Completions.NewStreaming(e.ctx, openai.ChatCompletionNewParams{Model: modelStreamError, Messages: userMessage("hi")})
	for stream.Next() {
	}
	require.Error(t, stream.Err())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "openai: error in stream: overloaded", s.Status().Description)
	assert.Equal(t, "server_error", spantest.GenAI(s)["error.type"])
}

func TestChatCompletionHTTPError(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: modelMissing, Messages: userMessage("hi")})
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr, "the SDK still sees the error body")
	assert.Equal(t, "model_not_found", apiErr.Code)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "chat missing", s.Name())
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "openai: 404 Not Found: The model `missing` does not exist", s.Status().Description)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":   "llm",
		"gen_ai.operation.name": "chat",
		"gen_ai.provider.name":  "openai",
		"gen_ai.request.model":  "missing",
		"error.type":            "invalid_request_error",
	}, spantest.GenAI(s))
	require.Len(t, s.Events(), 1)
	assert.Equal(t, "exception", s.Events()[0].Name)
}

func TestTransportError(t *testing.T) {
	e := newEnv(t)
	e.server.Close()
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.Error(t, err)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "*url.Error", spantest.GenAI(s)["error.type"])
}

// Each HTTP attempt is a span; a retry carries http.request.resend_count.
func TestRetryIsOneSpanPerAttempt(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: modelFlaky, Messages: userMessage("hi")},
		option.WithMaxRetries(1))
	require.NoError(t, err)

	spans := spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM)
	require.Len(t, spans, 2)
	first, second := spantest.GenAI(spans[0]), spantest.GenAI(spans[1])
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "server_error", first["error.type"])
	assert.NotContains(t, first, "http.request.resend_count")
	assert.Equal(t, codes.Unset, spans[1].Status().Code)
	assert.Equal(t, int64(1), second["http.request.resend_count"])
	assert.Equal(t, int64(11), second["gen_ai.usage.input_tokens"])
}

func TestEmbeddings(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Embeddings.New(e.ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-test",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
	})
	require.NoError(t, err)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "embeddings text-embedding-test", s.Name())
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":       "llm",
		"gen_ai.operation.name":     "embeddings",
		"gen_ai.provider.name":      "openai",
		"gen_ai.request.model":      "text-embedding-test",
		"gen_ai.response.model":     "text-embedding-test",
		"gen_ai.usage.input_tokens": int64(5),
	}, spantest.GenAI(s))
}

func TestResponses(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Responses.New(e.ctx, responses.ResponseNewParams{
		Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	require.NoError(t, err)
	assert.Equal(t, "Hello world", resp.OutputText())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "chat gpt-test", s.Name())
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-test",
		"gen_ai.response.model":          "gpt-test-2026-01-01",
		"gen_ai.response.id":             "resp_1",
		"gen_ai.usage.input_tokens":      int64(12),
		"gen_ai.usage.output_tokens":     int64(3),
		"gen_ai.response.finish_reasons": []string{"completed"},
	}, spantest.GenAI(s))
}

func TestResponsesStream(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(100))
	stream := e.client.Responses.NewStreaming(e.ctx, responses.ResponseNewParams{
		Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	for stream.Next() {
	}
	require.NoError(t, stream.Err())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.request.model":           "gpt-test",
		"gen_ai.response.model":          "gpt-test-2026-01-01",
		"gen_ai.response.id":             "resp_2",
		"gen_ai.request.stream":          true,
		"gen_ai.usage.input_tokens":      int64(12),
		"gen_ai.usage.output_tokens":     int64(3),
		"gen_ai.response.finish_reasons": []string{"completed"},
		"gen_ai.input.messages":          `"hi"`,
		"gen_ai.output.messages":         "Hello",
	}, spantest.GenAI(s))
}

func TestContentCapture(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(20))
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.NoError(t, err)

	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.Equal(t, `[{"content":"hi","ro`, got["gen_ai.input.messages"], "the request's messages, truncated to 20 bytes")
	assert.Equal(t, "Hello worldHi", got["gen_ai.output.messages"])
}

func TestContentOffByDefault(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.NoError(t, err)

	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.NotContains(t, got, "gen_ai.input.messages")
	assert.NotContains(t, got, "gen_ai.output.messages")
}

func TestWithProviderName(t *testing.T) {
	e := newEnv(t)
	client := openai.NewClient(option.WithBaseURL(e.server.URL), option.WithAPIKey("k"), option.WithMaxRetries(0),
		option.WithMiddleware(otelopenai.Middleware(otelopenai.WithProviderName("ollama"))))
	_, err := client.Chat.Completions.New(e.ctx, openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.NoError(t, err)
	assert.Equal(t, "ollama", spantest.GenAI(e.onlyLLMSpan(t))["gen_ai.provider.name"])
}

// Without a session in the context the middleware records nothing and the
// call works as without it.
func TestNoSession(t *testing.T) {
	e := newEnv(t)
	resp, err := e.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("hi")})
	require.NoError(t, err)
	assert.Equal(t, "Hello world", resp.Choices[0].Message.Content)
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM))
}

// Other endpoints pass through unrecorded.
func TestOtherEndpointsPassThrough(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Models.Get(e.ctx, "gpt-test")
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM))
}

// Concurrent agents of one session each get their own calls.
func TestConcurrentAgents(t *testing.T) {
	e := newEnv(t)
	const n = 8
	var wg sync.WaitGroup
	agentSpans := make([]trace.SpanID, n)
	for i := range n {
		ctx, agent, err := e.sess.StartAgent(e.ctx, "worker")
		require.NoError(t, err)
		agentSpans[i] = trace.SpanContextFromContext(ctx).SpanID()
		wg.Go(func() {
			defer agent.End(nil)
			stream := e.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: "gpt-test", Messages: userMessage("hi"),
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			for stream.Next() {
			}
			assert.NoError(t, stream.Err())
		})
	}
	wg.Wait()
	spans := spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM)
	require.Len(t, spans, n)
	parents := make(map[trace.SpanID]int)
	for _, s := range spans {
		parents[s.Parent().SpanID()]++
		assert.Equal(t, int64(2), spantest.GenAI(s)["gen_ai.usage.output_tokens"])
	}
	for _, id := range agentSpans {
		assert.Equal(t, 1, parents[id], "one call under each agent")
	}
}
