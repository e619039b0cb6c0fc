package otelopenai

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/internal/llmhttp"
	"github.com/crewtrace/crewtrace/otelsession"
)

// resendCountKey is http.request.resend_count, set on the span of a retry.
const resendCountKey = attribute.Key("http.request.resend_count")

// Middleware returns an openai-go middleware that records each chat
// completion, responses-API and embeddings call made with a context holding
// an otelsession session as a GenAI client span ("chat <model>",
// "embeddings <model>") under the context's current agent, or the session.
// Calls made without a session, and other endpoints, pass through untouched.
//
// Install it on the client, or on one call:
//
//	client := openai.NewClient(option.WithMiddleware(otelopenai.Middleware()))
//
// Each HTTP attempt is one span: a retried call has one span per attempt,
// the retries carrying http.request.resend_count. A streamed response's span
// ends when the stream ends, fails, or is closed by the application.
func Middleware(opts ...Option) option.Middleware {
	cfg := newConfig(opts)
	return func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		op := operationOf(req)
		if op == opNone {
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
			Operation: op.name(),
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
		r := &result{op: op, capture: capture}
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
		apiErr = body.Error.toError(res.StatusCode)
	}
	call.End(otelsession.LLMResponse{}, apiErr)
}

// endWithJSONBody ends the span of a call answered with a whole JSON body.
func endWithJSONBody(call *otelsession.LLMCall, res *http.Response, r *result) {
	b, err := llmhttp.BufferBody(res, 0)
	var o responseObject
	if json.Unmarshal(b, &o) == nil {
		r.addObject(&o, false)
	}
	call.End(r.response(), err)
}

// response is the otelsession view of what r accumulated.
func (r *result) response() otelsession.LLMResponse {
	return otelsession.LLMResponse{
		ResponseModel: r.model,
		ResponseID:    r.id,
		InputTokens:   r.usage.input(),
		OutputTokens:  r.usage.output(),
		FinishReasons: r.finishReasons(),
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
