package llmhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// env is a session recorded by a SpanRecorder and an HTTP client whose
// transport goes through a Middleware of completeAPI to a server answering
// with status, content type and body.
type env struct {
	ctx    context.Context
	sess   *otelsession.Session
	rec    *tracetest.SpanRecorder
	client *http.Client
	url    string
}

func newEnv(t *testing.T, status int, contentType, body string, opts ...llmhttp.Option) *env {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp), otelsession.WithContentCapture(100))
	m := llmhttp.NewMiddleware("complete", completeAPI{}, opts...)
	client := &http.Client{Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
		return m.Do(req, http.DefaultTransport.RoundTrip)
	})}
	return &env{ctx: ctx, sess: sess, rec: rec, client: client, url: srv.URL}
}

// call posts a request body to path with ctx and returns the response body
// as the application reads it.
func (e *env) call(t *testing.T, ctx context.Context, path string, header http.Header) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+path, strings.NewReader(`{"model":"m","prompt":"hi"}`))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.client.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return string(b)
}

func (e *env) llmSpans() []sdktrace.ReadOnlySpan {
	return spantest.OfKind(e.rec.Ended(), semconv.SpanKindLLM)
}

func TestPassThrough(t *testing.T) {
	const body = `{"id":"c1"}`
	e := newEnv(t, http.StatusOK, "application/json", body)
	assert.Equal(t, body, e.call(t, e.ctx, "/v1/models", nil), "not a call of the API")
	assert.Equal(t, body, e.call(t, context.Background(), "/v1/complete", nil), "no session")
	require.NoError(t, e.sess.End(otelsession.Success, ""))
	assert.Equal(t, body, e.call(t, e.ctx, "/v1/complete", nil), "the session has ended")
	assert.Empty(t, e.llmSpans())
}

func TestJSONResponse(t *testing.T) {
	const body = `{"id":"c1","model":"m-1","usage":{"in":3,"out":2},"text":"hello"}`
	e := newEnv(t, http.StatusOK, "application/json", body, llmhttp.WithProviderName("proxy"))
	assert.Equal(t, body, e.call(t, e.ctx, "/v1/complete", http.Header{"X-Stainless-Retry-Count": {"2"}}))

	spans := e.llmSpans()
	require.Len(t, spans, 1)
	assert.Equal(t, map[string]any{
		"crewtrace.span.kind":        "llm",
		"gen_ai.operation.name":      "chat",
		"gen_ai.provider.name":       "proxy",
		"gen_ai.request.model":       "m",
		"gen_ai.response.id":         "c1",
		"gen_ai.response.model":      "m-1",
		"gen_ai.usage.input_tokens":  int64(3),
		"gen_ai.usage.output_tokens": int64(2),
		"gen_ai.input.messages":      "hi",
		"gen_ai.output.messages":     "hello",
		"http.request.resend_count":  int64(2),
	}, spantest.GenAI(spans[0]))
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
}

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		name, body, desc, errorType string
		status                      int
	}{
		{"error object", `{"error":{"type":"rate_limit_error","message":"slow down","code":"rate"}}`,
			"complete: 429 Too Many Requests: slow down", "rate_limit_error", http.StatusTooManyRequests},
		{"code only", `{"error":{"message":"no","code":42}}`, "complete: 400 Bad Request: no", "42", http.StatusBadRequest},
		{"no error object", `upstream down`, "complete: 502 Bad Gateway", "502", http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.status, "application/json", tc.body)
			assert.Equal(t, tc.body, e.call(t, e.ctx, "/v1/complete", nil), "the SDK reads the error body unchanged")
			spans := e.llmSpans()
			require.Len(t, spans, 1)
			assert.Equal(t, codes.Error, spans[0].Status().Code)
			assert.Equal(t, tc.desc, spans[0].Status().Description)
			assert.Equal(t, tc.errorType, spantest.GenAI(spans[0])["error.type"])
		})
	}
}

func TestStreamedResponse(t *testing.T) {
	const body = "data: {\"text\":\"hel\"}\n\ndata: {\"text\":\"lo\"}\n\ndata: [DONE]\n\n"
	e := newEnv(t, http.StatusOK, "text/event-stream", body)
	assert.Equal(t, body, e.call(t, e.ctx, "/v1/complete", nil), "the application reads the stream unchanged")

	spans := e.llmSpans()
	require.Len(t, spans, 1)
	got := spantest.GenAI(spans[0])
	assert.Equal(t, int64(2), got["gen_ai.usage.output_tokens"])
	assert.Equal(t, "hello", got["gen_ai.output.messages"])
	assert.NotContains(t, got, "crewtrace.llm.stream.abandoned")
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
}

func TestAPIError(t *testing.T) {
	for _, tc := range []struct {
		body           string
		status         int
		msg, errorType string
	}{
		{`{"type":"overloaded_error","message":"Overloaded"}`, 0, "x: error in stream: Overloaded", "overloaded_error"},
		{`{"message":"m","code":"model_not_found"}`, 404, "x: 404 Not Found: m", "model_not_found"},
		{`{"code":null}`, 0, "x: error in stream", "stream_error"},
		{`{}`, 599, "x: 599", "599"},
	} {
		var b llmhttp.ErrorBody
		require.NoError(t, json.Unmarshal([]byte(tc.body), &b))
		err := b.Err("x", tc.status)
		assert.Equal(t, tc.msg, err.Error(), tc.body)
		assert.Equal(t, tc.errorType, err.ErrorType(), tc.body)
	}
	assert.Equal(t, "error in stream", (&llmhttp.APIError{}).Error(), "no API name, no prefix")
	assert.False(t, errors.Is(&llmhttp.APIError{}, llmhttp.ErrStreamCut))
}
