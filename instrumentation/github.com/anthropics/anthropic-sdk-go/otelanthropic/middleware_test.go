package otelanthropic_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/anthropics/anthropic-sdk-go/otelanthropic"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// env is one session with one agent, recorded by a SpanRecorder, and a real
// anthropic-sdk-go client talking to the fake server through the middleware.
type env struct {
	ctx    context.Context
	rec    *tracetest.SpanRecorder
	sess   *otelsession.Session
	client anthropic.Client
	server *fakeAnthropic
}

func clientOptions(url string, extra ...option.RequestOption) []option.RequestOption {
	return append([]option.RequestOption{
		option.WithBaseURL(url),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
		option.WithoutOpenTelemetry(),
	}, extra...)
}

func newEnv(t *testing.T, sessOpts ...otelsession.Option) *env {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(),
		append([]otelsession.Option{otelsession.WithName("test"), otelsession.WithTracerProvider(tp)}, sessOpts...)...)
	ctx, _, err := sess.StartAgent(ctx, "writer")
	require.NoError(t, err)
	srv := newFakeAnthropic(t)
	client := anthropic.NewClient(clientOptions(srv.URL, option.WithMiddleware(otelanthropic.Middleware()))...)
	return &env{ctx: ctx, rec: rec, sess: sess, client: client, server: srv}
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

func params(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}
}

func TestMessage(t *testing.T) {
	e := newEnv(t)
	msg, err := e.client.Messages.New(e.ctx, params("claude-test"))
	require.NoError(t, err)
	assert.Equal(t, "Hello world", msg.Content[0].Text, "the SDK reads the body unchanged")

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "chat claude-test", s.Name())
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "anthropic",
		"gen_ai.request.model":           "claude-test",
		"gen_ai.request.max_tokens":      int64(64),
		"gen_ai.response.model":          "claude-test-20260101",
		"gen_ai.response.id":             "msg_1",
		"gen_ai.usage.input_tokens":      int64(25),
		"gen_ai.usage.output_tokens":     int64(7),
		"gen_ai.response.finish_reasons": []string{"end_turn"},
	}, spantest.GenAI(s))
	assert.Equal(t, codes.Unset, s.Status().Code)
}

// Input tokens include prompt-cache writes and reads (Anthropic's
// input_tokens does not), and the cache counts say which part they are,
// one-hour writes apart.
func TestMessageCachedTokens(t *testing.T) {
	e := newEnv(t)
	msg, err := e.client.Messages.New(e.ctx, params(modelCached))
	require.NoError(t, err)
	assert.Equal(t, int64(40), msg.Usage.CacheCreation.Ephemeral1hInputTokens, "the SDK reads the same body")
	assert.Equal(t, cachedUsage(7), cacheKeys(spantest.Attrs(e.onlyLLMSpan(t))))
}

func TestMessageStreamCachedTokens(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelCached))
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, cachedUsage(15), cacheKeys(spantest.Attrs(e.onlyLLMSpan(t))))
}

func cachedUsage(output int64) map[string]any {
	return map[string]any{
		"gen_ai.usage.input_tokens":                      int64(3 + 100 + 1000),
		"gen_ai.usage.output_tokens":                     output,
		"gen_ai.usage.cache_read.input_tokens":           int64(1000),
		"gen_ai.usage.cache_creation.input_tokens":       int64(100),
		"crewtrace.usage.cache_creation_1h.input_tokens": int64(40),
	}
}

func cacheKeys(attrs map[attribute.Key]attribute.Value) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		if strings.Contains(string(k), "usage.") {
			out[string(k)] = v.AsInterface()
		}
	}
	return out
}

func TestMessageStream(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelPaused))
	require.True(t, stream.Next())
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM), "the span ends with the stream, not before")
	close(e.server.release)
	var text string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text += ev.Delta.Text
		}
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "Hello", text, "the events reach the application unchanged")

	s := e.onlyLLMSpan(t)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":            "llm",
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "anthropic",
		"gen_ai.request.model":           "paused",
		"gen_ai.request.max_tokens":      int64(64),
		"gen_ai.request.stream":          true,
		"gen_ai.response.model":          "paused-20260101",
		"gen_ai.response.id":             "msg_2",
		"gen_ai.usage.input_tokens":      int64(25), // message_start
		"gen_ai.usage.output_tokens":     int64(15), // message_delta
		"gen_ai.response.finish_reasons": []string{"max_tokens"},
	}, spantest.GenAI(s))
	assert.Equal(t, codes.Unset, s.Status().Code)
}

func TestMessageStreamAbandoned(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelPaused))
	require.True(t, stream.Next())
	require.NoError(t, stream.Close())

	s := e.onlyLLMSpan(t)
	got := spantest.GenAI(s)
	assert.Equal(t, true, got["crewtrace.llm.stream.abandoned"])
	assert.Equal(t, int64(25), got["gen_ai.usage.input_tokens"], "message_start was read")
	assert.Equal(t, int64(1), got["gen_ai.usage.output_tokens"], "the count message_start gave")
	assert.NotContains(t, got, "gen_ai.response.finish_reasons")
	assert.Equal(t, codes.Unset, s.Status().Code, "closing early is the application's choice, not an error")
}

// Cancelling the context mid-stream is abandoning the stream, not a failure.
func TestMessageStreamCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	stream := e.client.Messages.NewStreaming(ctx, params(modelPaused))
	require.True(t, stream.Next())
	cancel()
	for stream.Next() {
	}
	require.ErrorIs(t, stream.Err(), context.Canceled)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, true, spantest.GenAI(s)["crewtrace.llm.stream.abandoned"])
	assert.Equal(t, codes.Unset, s.Status().Code)
}

func TestMessageStreamCut(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelCut))
	for stream.Next() {
	}
	require.Error(t, stream.Err())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Contains(t, s.Status().Description, "anthropic: stream cut before its end")
	got := spantest.GenAI(s)
	assert.Equal(t, "stream_cut", got["error.type"])
	assert.Equal(t, int64(25), got["gen_ai.usage.input_tokens"])
	assert.NotContains(t, got, "crewtrace.llm.stream.abandoned")
}

func TestMessageStreamErrorEvent(t *testing.T) {
	e := newEnv(t)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelStreamError))
	for stream.Next() {
	}
	require.Error(t, stream.Err())

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "anthropic: error in stream: Overloaded", s.Status().Description)
	assert.Equal(t, "overloaded_error", spantest.GenAI(s)["error.type"])
}

func TestMessageHTTPError(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Messages.New(e.ctx, params(modelMissing))
	var apiErr *anthropic.Error
	require.ErrorAs(t, err, &apiErr, "the SDK still sees the error body")
	assert.Equal(t, 404, apiErr.StatusCode)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, "chat missing", s.Name())
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "anthropic: 404 Not Found: model: missing", s.Status().Description)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":       "llm",
		"gen_ai.operation.name":     "chat",
		"gen_ai.provider.name":      "anthropic",
		"gen_ai.request.model":      "missing",
		"gen_ai.request.max_tokens": int64(64),
		"error.type":                "not_found_error",
	}, spantest.GenAI(s))
}

func TestTransportError(t *testing.T) {
	e := newEnv(t)
	e.server.Close()
	_, err := e.client.Messages.New(e.ctx, params("claude-test"))
	require.Error(t, err)

	s := e.onlyLLMSpan(t)
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "*url.Error", spantest.GenAI(s)["error.type"])
}

// Each HTTP attempt is a span; a retry carries http.request.resend_count.
func TestRetryIsOneSpanPerAttempt(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Messages.New(e.ctx, params(modelOverloaded), option.WithMaxRetries(1))
	require.NoError(t, err)

	spans := spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM)
	require.Len(t, spans, 2)
	first, second := spantest.GenAI(spans[0]), spantest.GenAI(spans[1])
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "overloaded_error", first["error.type"])
	assert.NotContains(t, first, "http.request.resend_count")
	assert.Equal(t, codes.Unset, spans[1].Status().Code)
	assert.Equal(t, int64(1), second["http.request.resend_count"])
	assert.Equal(t, int64(7), second["gen_ai.usage.output_tokens"])
}

func TestContentCapture(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(1000))
	p := params("claude-test")
	p.System = []anthropic.TextBlockParam{{Text: "be brief"}}
	_, err := e.client.Messages.New(e.ctx, p)
	require.NoError(t, err)

	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.JSONEq(t, `{"system":[{"text":"be brief","type":"text"}],"messages":[{"content":[{"text":"hi","type":"text"}],"role":"user"}]}`,
		got["gen_ai.input.messages"].(string))
	assert.Equal(t, "Hello world", got["gen_ai.output.messages"])
}

func TestContentCaptureStream(t *testing.T) {
	e := newEnv(t, otelsession.WithContentCapture(1000))
	close(e.server.release)
	stream := e.client.Messages.NewStreaming(e.ctx, params(modelPaused))
	for stream.Next() {
	}
	require.NoError(t, stream.Err())
	assert.Equal(t, "Hello", spantest.GenAI(e.onlyLLMSpan(t))["gen_ai.output.messages"])
}

func TestContentOffByDefault(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Messages.New(e.ctx, params("claude-test"))
	require.NoError(t, err)
	got := spantest.GenAI(e.onlyLLMSpan(t))
	assert.NotContains(t, got, "gen_ai.input.messages")
	assert.NotContains(t, got, "gen_ai.output.messages")
}

func TestWithProviderName(t *testing.T) {
	e := newEnv(t)
	client := anthropic.NewClient(clientOptions(e.server.URL,
		option.WithMiddleware(otelanthropic.Middleware(otelanthropic.WithProviderName("aws.bedrock"))))...)
	_, err := client.Messages.New(e.ctx, params("claude-test"))
	require.NoError(t, err)
	assert.Equal(t, "aws.bedrock", spantest.GenAI(e.onlyLLMSpan(t))["gen_ai.provider.name"])
}

func TestNoSession(t *testing.T) {
	e := newEnv(t)
	msg, err := e.client.Messages.New(context.Background(), params("claude-test"))
	require.NoError(t, err)
	assert.Equal(t, "Hello world", msg.Content[0].Text)
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM))
}

// Other endpoints (here count_tokens) pass through unrecorded.
func TestOtherEndpointsPassThrough(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Messages.CountTokens(e.ctx, anthropic.MessageCountTokensParams{
		Model:    "claude-test",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var apiErr *anthropic.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 404, apiErr.StatusCode)
	assert.Empty(t, spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM))
}

func TestConcurrentAgents(t *testing.T) {
	e := newEnv(t)
	close(e.server.release)
	const n = 8
	var wg sync.WaitGroup
	agentSpans := make([]trace.SpanID, n)
	for i := range n {
		ctx, agent, err := e.sess.StartAgent(e.ctx, "worker")
		require.NoError(t, err)
		agentSpans[i] = trace.SpanContextFromContext(ctx).SpanID()
		wg.Go(func() {
			defer agent.End(nil)
			stream := e.client.Messages.NewStreaming(ctx, params(modelPaused))
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
		assert.Equal(t, int64(15), spantest.GenAI(s)["gen_ai.usage.output_tokens"])
	}
	for _, id := range agentSpans {
		assert.Equal(t, 1, parents[id], "one call under each agent")
	}
}

// With the SDK's own spans on (here through the session's provider, as a
// registered global provider would), the call has two spans: the SDK's, under
// the agent, and the session's LLM span under it — which is why the README
// recommends option.WithoutOpenTelemetry.
func TestWithSDKSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	ctx, _, err := sess.StartAgent(ctx, "writer")
	require.NoError(t, err)
	srv := newFakeAnthropic(t)
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0),
		option.WithTracerProvider(tp), option.WithMiddleware(otelanthropic.Middleware()))
	_, err = client.Messages.New(ctx, params("claude-test"))
	require.NoError(t, err)

	byName := make(map[string]sdktrace.ReadOnlySpan)
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	sdkSpan, ok := byName["anthropic.messages.create"]
	require.True(t, ok, "the SDK's span")
	llm, ok := byName["chat claude-test"]
	require.True(t, ok, "the session's LLM span")
	assert.Equal(t, trace.SpanContextFromContext(ctx).SpanID(), sdkSpan.Parent().SpanID())
	assert.Equal(t, sdkSpan.SpanContext().SpanID(), llm.Parent().SpanID())
	assert.Equal(t, sess.ID(), spantest.Attrs(llm)["session.id"].AsString())
}
