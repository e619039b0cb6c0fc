package otelanthropic

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/internal/llmhttp"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// resendCountKey is http.request.resend_count, set on the span of a retry.
const resendCountKey = attribute.Key("http.request.resend_count")

// Middleware returns an anthropic-sdk-go middleware that records each
// Messages call (New and NewStreaming, beta included) made with a context
// holding an otelsession session as a GenAI client span ("chat <model>")
// under the context's current agent, or the session. Calls made without a
// session, and other endpoints, pass through untouched.
//
// Install it on the client, or on one call:
//
//	client := anthropic.NewClient(option.WithMiddleware(otelanthropic.Middleware()))
//
// Each HTTP attempt is one span: a retried call has one span per attempt,
// the retries carrying http.request.resend_count. A streamed response's span
// ends at message_stop, at an error event, when the stream fails, or when
// the application closes it early.
//
// The SDK (v2) also emits spans of its own through the global
// TracerProvider when one is registered; pass option.WithoutOpenTelemetry()
// to the client to keep only these.
func Middleware(opts ...Option) option.Middleware {
	cfg := newConfig(opts)
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if !isMessages(req) {
			return next(req)
		}
		sess, ok := otelsession.FromContext(req.Context())
		if !ok {
			return next(req)
		}
		capture := sess.ContentCapture() > 0
		var in request
		if capture {
			llmhttp.ReadRequest(req, &in)
		} else {
			llmhttp.ReadRequest(req, &in.RequestMeta) // the content is not copied
		}
		var prompt string
		if capture {
			prompt = in.prompt()
		}
		ctx, call, err := otelsession.StartLLMCall(req.Context(), otelsession.LLMRequest{
			Provider:  cfg.provider,
			Model:     in.Model,
			Operation: semconv.OperationChat,
			Prompt:    prompt,
		})
		if err != nil { // the session has ended: nothing to record into
			return next(req)
		}
		attrs := in.Attributes(in.Stream)
		if n, _ := strconv.Atoi(req.Header.Get("X-Stainless-Retry-Count")); n > 0 {
			attrs = append(attrs, resendCountKey.Int(n))
		}
		call.SetAttributes(attrs...)
		res, err := next(req.WithContext(ctx))
		if err != nil {
			call.End(otelsession.LLMResponse{}, err)
			return res, err
		}
		// The completion is gathered only when the session captures content.
		r := &result{capture: capture}
		switch {
		case res.StatusCode >= 400:
			endWithErrorBody(call, res)
		case llmhttp.IsEventStream(res.Header):
			res.Body = llmhttp.NewStreamBody(ctx, res.Body, call, r, cutError)
		default:
			endWithJSONBody(call, res, r)
		}
		return res, nil
	}
}

// endWithErrorBody ends the span of a call the API answered with an error status.
func endWithErrorBody(call *otelsession.LLMCall, res *http.Response) {
	b, _ := llmhttp.BufferBody(res, llmhttp.MaxErrorBody)
	var body struct {
		Error *apiErrorBody `json:"error"`
	}
	apiErr := &APIError{StatusCode: res.StatusCode}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		apiErr.Type, apiErr.Message = body.Error.Type, body.Error.Message
	}
	call.End(otelsession.LLMResponse{}, apiErr)
}

// endWithJSONBody ends the span of a call answered with a whole JSON body.
func endWithJSONBody(call *otelsession.LLMCall, res *http.Response, r *result) {
	b, err := llmhttp.BufferBody(res, 0)
	var m message
	if json.Unmarshal(b, &m) == nil {
		r.addMessage(&m)
	}
	call.End(r.response(), err)
}

// response is the otelsession view of what r accumulated. Input tokens
// include the prompt-cache writes and reads, which the API counts apart from
// input_tokens: gen_ai.usage.input_tokens is all the input the model read.
func (r *result) response() otelsession.LLMResponse {
	var reasons []string
	if r.stopReason != "" {
		reasons = []string{r.stopReason}
	}
	return otelsession.LLMResponse{
		ResponseModel: r.model,
		ResponseID:    r.id,
		InputTokens:   r.input + r.cacheCreation + r.cacheRead,
		OutputTokens:  r.output,
		FinishReasons: reasons,
		Completion:    r.content.String(),
	}
}

// Terminal reports whether the stream's end was seen (llmhttp.Result).
func (r *result) Terminal() bool { return r.terminal }

// Outcome is what the stream said so far and the error it carried
// (llmhttp.Result).
func (r *result) Outcome() (otelsession.LLMResponse, error) {
	if r.apiErr != nil {
		return r.response(), r.apiErr
	}
	return r.response(), nil
}
