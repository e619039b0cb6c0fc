package llmhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
	"github.com/crewtrace/crewtrace/internal/spantest"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// completeAPI is a made-up LLM API, all an adapter has to describe:
// POST /v1/complete takes {"model", "prompt", "stream"} and answers
// {"id", "model", "usage": {"in", "out"}, "text"}, or with "stream": true
// the events {"text"} ... then [DONE].
type completeAPI struct{}

func (completeAPI) Operation(req *http.Request) string {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/v1/complete") {
		return semconv.OperationChat
	}
	return "" // not a call: passed through
}

func (completeAPI) Prompt(body []byte) string {
	var r struct {
		Prompt string `json:"prompt"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Prompt
}

func (completeAPI) NewResponse(_ *http.Request, capture bool) llmhttp.Response {
	return &completion{capture: capture}
}

// completion accumulates one call's answer.
type completion struct {
	capture bool
	resp    otelsession.LLMResponse
	text    strings.Builder
	done    bool
}

func (c *completion) AddBody(body []byte) {
	var b struct {
		ID, Model, Text string
		Usage           struct{ In, Out int }
	}
	if json.Unmarshal(body, &b) != nil {
		return
	}
	c.resp.ResponseID, c.resp.ResponseModel = b.ID, b.Model
	c.resp.InputTokens, c.resp.OutputTokens = b.Usage.In, b.Usage.Out
	if c.capture {
		c.text.WriteString(b.Text)
	}
}

func (c *completion) AddEvent(data []byte) {
	if bytes.Equal(data, []byte("[DONE]")) {
		c.done = true
		return
	}
	var ev struct{ Text string }
	if json.Unmarshal(data, &ev) == nil {
		c.resp.OutputTokens++
		if c.capture {
			c.text.WriteString(ev.Text)
		}
	}
}

func (c *completion) Terminal() bool { return c.done }

func (c *completion) Outcome() (otelsession.LLMResponse, *llmhttp.APIError) {
	resp := c.resp
	resp.Completion = c.text.String()
	return resp, nil
}

func ExampleNewMiddleware() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","model":"m-1","usage":{"in":3,"out":2},"text":"hello"}`)
	}))
	defer srv.Close()

	// An SDK's middleware calls m.Do; a plain http.Client can too, from its
	// transport.
	m := llmhttp.NewMiddleware("complete", completeAPI{})
	client := &http.Client{Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
		return m.Do(req, http.DefaultTransport.RoundTrip)
	})}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/complete",
		strings.NewReader(`{"model":"m","prompt":"hi","temperature":0.2}`))
	res, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	_ = sess.End(otelsession.Success, "")

	fmt.Println(string(body))
	for _, s := range spantest.OfKind(rec.Ended(), semconv.SpanKindLLM) {
		a := spantest.GenAI(s)
		fmt.Println(s.Name(), a["gen_ai.provider.name"], a["gen_ai.request.temperature"],
			a["gen_ai.response.id"], a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"])
	}
	// Output:
	// {"id":"c1","model":"m-1","usage":{"in":3,"out":2},"text":"hello"}
	// chat m complete 0.2 c1 3 2
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
