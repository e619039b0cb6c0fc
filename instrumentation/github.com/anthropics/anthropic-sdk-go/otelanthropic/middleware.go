package otelanthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/internal/sse"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// StreamAbandonedKey is set to true on the span of a streamed response that
// the application closed before the stream's end.
//
// Deprecated: use semconv.LLMStreamAbandonedKey, the shared key.
const StreamAbandonedKey = semconv.LLMStreamAbandonedKey

// resendCountKey is http.request.resend_count, set on the span of a retry.
const resendCountKey = attribute.Key("http.request.resend_count")

// maxErrorBody bounds how much of an error response is read to describe it.
const maxErrorBody = 1 << 20

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
		in := readRequest(req, capture)
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
		attrs := in.attributes(in.Stream)
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
		case isEventStream(res.Header):
			res.Body = &streamBody{rc: res.Body, ctx: ctx, call: call, res: r}
		default:
			endWithJSONBody(call, res, r)
		}
		return res, nil
	}
}

// readRequest reads what the span needs from the request body, leaving the
// body for the SDK; the prompt content only when capture is on. A body that
// cannot be read or parsed yields a zero request: the call is recorded
// without a model.
func readRequest(req *http.Request, capture bool) request {
	var in request
	if req.Body == nil || req.Body == http.NoBody {
		return in
	}
	var b []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return in
		}
		b, err = io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return in
		}
	} else {
		var err error
		b, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		if err != nil {
			return in
		}
	}
	if capture {
		_ = json.Unmarshal(b, &in)
	} else {
		_ = json.Unmarshal(b, &in.requestMeta) // the content is not copied
	}
	return in
}

// errReader returns err, or io.EOF when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

func isEventStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

// bufferBody reads res.Body (up to limit bytes when limit > 0) and gives the
// response a body that replays what was read, then the rest, then the read
// error: the SDK reads exactly what it would have read without us.
func bufferBody(res *http.Response, limit int64) ([]byte, error) {
	orig := res.Body
	src := io.Reader(orig)
	if limit > 0 {
		src = io.LimitReader(orig, limit)
	}
	b, err := io.ReadAll(src)
	var rest io.Reader = errReader{err}
	if err == nil && limit > 0 {
		rest = orig
	}
	res.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), orig}
	return b, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// endWithErrorBody ends the span of a call the API answered with an error status.
func endWithErrorBody(call *otelsession.LLMCall, res *http.Response) {
	b, _ := bufferBody(res, maxErrorBody)
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
	b, err := bufferBody(res, 0)
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

// streamBody is the body of a streamed response: it passes every byte to the
// application unchanged and parses the events on the way, and ends the span
// at message_stop or an error event, at the end of the body, on a read error, or
// when the application closes the body first.
type streamBody struct {
	rc   io.ReadCloser
	ctx  context.Context // the request's: its cancellation is the application's choice
	call *otelsession.LLMCall

	mu     sync.Mutex
	res    *result
	parser sse.Parser
	done   bool
}

// Read implements io.Reader.
func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	if n > 0 {
		if b.parser.OnEvent == nil {
			b.parser.OnEvent = func(_, data []byte) { b.res.addEvent(data) }
		}
		b.parser.Write(p[:n])
	}
	switch {
	case err == io.EOF:
		b.parser.Flush()
		b.finish(nil, false)
	case err != nil && errors.Is(b.ctx.Err(), context.Canceled):
		b.finish(nil, true) // the application cancelled the stream: abandoned
	case err != nil:
		b.finish(&streamCutError{err}, false)
	case b.res.terminal:
		b.finish(nil, false)
	}
	return n, err
}

// Close implements io.Closer.
func (b *streamBody) Close() error {
	err := b.rc.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.finish(nil, !b.res.terminal)
	}
	return err
}

// finish ends the span once; b.mu is held.
func (b *streamBody) finish(err error, abandoned bool) {
	b.done = true
	if abandoned {
		b.call.SetAttributes(semconv.LLMStreamAbandonedKey.Bool(true))
	}
	if err == nil && b.res.apiErr != nil {
		err = b.res.apiErr
	}
	b.call.End(b.res.response(), err)
}
