package llmhttp

import (
	"encoding/json"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/otelsession"
)

// API is what an adapter knows about one LLM HTTP API: which requests are
// the calls it records, and where a request keeps its prompt. Its methods
// are called concurrently, for every call; keep the per-call state in the
// [Response].
type API interface {
	// Operation returns the gen_ai.operation.name (a semconv.Operation*
	// value) of the call req makes, or "" when req is not a call the adapter
	// records: the Middleware then passes it through untouched. It is asked
	// about every request the client makes, before the request body is read.
	Operation(req *http.Request) string
	// Prompt returns the prompt content of a request body as the adapter
	// records it (typically the JSON of its messages), or "" when the body
	// has none. It is called only when the session captures content.
	Prompt(body []byte) string
	// NewResponse returns an empty Response for the call req makes (one
	// whose Operation is not ""), whose answer has a success status. capture
	// says whether the session records content: gather the completion only
	// then.
	NewResponse(req *http.Request, capture bool) Response
}

// Response accumulates what the answer to one call says, from a whole JSON
// body or from the events of a stream. The Middleware calls its methods one
// at a time, never concurrently; a body or an event it cannot parse is not
// its to judge (the SDK reports malformed responses) and is skipped.
type Response interface {
	// AddBody reads a whole JSON response body.
	AddBody(body []byte)
	// AddEvent reads the data of one server-sent event of a streamed
	// response.
	AddEvent(data []byte)
	// Terminal reports whether the stream's end marker, or an error event
	// that ends the stream, was seen: the span ends there.
	Terminal() bool
	// Outcome is the response read so far and the error the API reported in
	// it (an error event of a stream), nil when none. It is where the API's
	// usage object becomes LLMResponse token counts.
	Outcome() (otelsession.LLMResponse, *APIError)
}

// resendCountKey is http.request.resend_count, set on the span of a retry.
const resendCountKey = attribute.Key("http.request.resend_count")

// Middleware records the calls of one API made through an SDK's HTTP
// middleware chain. It is safe for concurrent use.
type Middleware struct {
	name     string
	api      API
	provider string
}

// NewMiddleware returns the Middleware of api. name is the API's name as
// gen_ai.provider.name spells it ("openai"): the provider recorded unless
// [WithProviderName] says otherwise, and the prefix of the errors recorded
// ([APIError], [ErrStreamCut]).
func NewMiddleware(name string, api API, opts ...Option) *Middleware {
	c := newConfig(name, opts)
	return &Middleware{name: name, api: api, provider: c.provider}
}

// Do makes the call req through next (the rest of the SDK's middleware chain
// and its HTTP client) and records it when req is a call of the API (see
// [API.Operation]) and its context holds an otelsession session; other
// requests go through untouched. Each HTTP attempt is one span: a retry
// (the SDK's X-Stainless-Retry-Count header) carries
// http.request.resend_count. The span of a streamed response ends with the
// stream, not when Do returns.
func (m *Middleware) Do(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	op := m.api.Operation(req)
	if op == "" {
		return next(req)
	}
	sess, ok := otelsession.FromContext(req.Context())
	if !ok {
		return next(req)
	}
	capture := sess.ContentCapture() > 0
	var meta requestMeta
	var prompt string
	if body := readRequest(req); body != nil {
		// An unparsable body leaves meta empty: the call is recorded without
		// a model, and the SDK (or the API) reports the body.
		_ = json.Unmarshal(body, &meta)
		if capture {
			prompt = m.api.Prompt(body)
		}
	}
	ctx, call, err := otelsession.StartLLMCall(req.Context(), otelsession.LLMRequest{
		Provider:  m.provider,
		Model:     meta.Model,
		Operation: op,
		Prompt:    prompt,
	})
	if err != nil { // the session has ended: nothing to record into
		return next(req)
	}
	attrs := meta.attributes()
	if n, _ := strconv.Atoi(req.Header.Get("X-Stainless-Retry-Count")); n > 0 {
		attrs = append(attrs, resendCountKey.Int(n))
	}
	call.SetAttributes(attrs...)

	res, err := next(req.WithContext(ctx))
	switch {
	case err != nil:
		call.End(otelsession.LLMResponse{}, err)
	case res.StatusCode >= 400:
		call.End(otelsession.LLMResponse{}, m.errorOf(res))
	case isEventStream(res.Header):
		res.Body = newStreamBody(ctx, res.Body, call, m.api.NewResponse(req, capture), m.name)
	default:
		r := m.api.NewResponse(req, capture)
		b, err := bufferBody(res, 0)
		r.AddBody(b)
		// A success status is the API's word: an error object in the body
		// is the SDK's to judge, so only the read error is recorded.
		resp, _ := r.Outcome()
		call.End(resp, err)
	}
	return res, err
}

// errorOf is the error recorded for a response with an error status: the
// error object of its body ({"error": {...}}, which the APIs spell the same
// way), or the status alone. The body is left for the SDK.
func (m *Middleware) errorOf(res *http.Response) *APIError {
	b, _ := bufferBody(res, maxErrorBody)
	var body struct {
		Error *ErrorBody `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		return body.Error.Err(m.name, res.StatusCode)
	}
	return &APIError{API: m.name, StatusCode: res.StatusCode}
}
