// Package llmhttp is what the HTTP middlewares of the LLM SDK adapters under
// instrumentation/ (otelopenai, otelanthropic) share: reading a request body
// without taking it from the SDK, the gen_ai.request.* parameters both APIs
// spell the same way, buffering a response body so that the SDK reads
// exactly what it would have read, and the body of a streamed response that
// ends the call's span when the stream ends, fails or is abandoned. The
// provider-specific parts (paths, response objects, errors) stay in each
// adapter.
package llmhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	// The crewtrace semconv package holds the keys of the session contract;
	// these request parameters are plain GenAI keys, from the last Go semconv
	// package that has them.
	genai "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/crewtrace/crewtrace/internal/sse"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// MaxErrorBody bounds how much of an error response is read to describe it.
const MaxErrorBody = 1 << 20

// RequestMeta is the part of a request body read whatever the session's
// content capture: everything but the content. Embed it in a provider's
// request type next to the content fields.
type RequestMeta struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
	Params
}

// Params are the request parameters recorded as gen_ai.request.* attributes.
type Params struct {
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	MaxOutputTokens     *int     `json:"max_output_tokens"`
	Temperature         *float64 `json:"temperature"`
	TopP                *float64 `json:"top_p"`
}

// Attributes are the gen_ai.request.* attributes of the parameters that are
// set; stream is whether the request asked for a stream.
func (p *Params) Attributes(stream bool) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	for _, max := range []*int{p.MaxTokens, p.MaxCompletionTokens, p.MaxOutputTokens} {
		if max != nil {
			attrs = append(attrs, genai.GenAIRequestMaxTokensKey.Int(*max))
			break
		}
	}
	if p.Temperature != nil {
		attrs = append(attrs, genai.GenAIRequestTemperatureKey.Float64(*p.Temperature))
	}
	if p.TopP != nil {
		attrs = append(attrs, genai.GenAIRequestTopPKey.Float64(*p.TopP))
	}
	if stream {
		attrs = append(attrs, genai.GenAIRequestStreamKey.Bool(true))
	}
	return attrs
}

// ReadRequest decodes the JSON request body of req into v, leaving the body
// for the SDK. A body that cannot be read or parsed leaves v as it is (the
// call is recorded without a model). Decode into a RequestMeta alone when
// the session does not capture content: the content is then not copied.
func ReadRequest(req *http.Request, v any) {
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	var b []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return
		}
		b, err = io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return
		}
	} else {
		var err error
		b, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		if err != nil {
			return
		}
	}
	_ = json.Unmarshal(b, v)
}

// errReader returns err, or io.EOF when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// IsEventStream reports whether a response is a server-sent event stream.
func IsEventStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

// BufferBody reads res.Body (up to limit bytes when limit > 0) and gives the
// response a body that replays what was read, then the rest, then the read
// error: the SDK reads exactly what it would have read without us.
func BufferBody(res *http.Response, limit int64) ([]byte, error) {
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

// Result accumulates what the events of a stream say; a StreamBody calls
// it under its lock, never concurrently.
type Result interface {
	// AddEvent records the data of one event.
	AddEvent(data []byte)
	// Terminal reports whether the stream's end marker (or an error event
	// that ends it) was seen.
	Terminal() bool
	// Outcome is the response accumulated so far and the error the stream
	// carried, nil when none (an untyped nil: not a nil pointer in an error).
	Outcome() (otelsession.LLMResponse, error)
}

// StreamBody is the body of a streamed response: it passes every byte to the
// application unchanged, parses the events on the way into its Result, and
// ends the call's span once: at the stream's end marker, at the end of the
// body, on a read error (recorded as cut(err)), or when the application
// closes the body or cancels the request first (marked
// semconv.LLMStreamAbandonedKey, not failed).
type StreamBody struct {
	rc   io.ReadCloser
	ctx  context.Context // the request's: its cancellation is the application's choice
	call *otelsession.LLMCall
	cut  func(error) error

	mu     sync.Mutex
	res    Result
	parser sse.Parser
	done   bool
}

// NewStreamBody wraps the body rc of the streamed response to the request
// made with ctx, whose span is call; cut turns a read error into the error
// recorded on the span.
func NewStreamBody(ctx context.Context, rc io.ReadCloser, call *otelsession.LLMCall, res Result, cut func(error) error) *StreamBody {
	return &StreamBody{rc: rc, ctx: ctx, call: call, res: res, cut: cut}
}

// Read implements io.Reader.
func (b *StreamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	if n > 0 {
		if b.parser.OnEvent == nil {
			b.parser.OnEvent = func(_, data []byte) { b.res.AddEvent(data) }
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
		b.finish(b.cut(err), false)
	case b.res.Terminal():
		b.finish(nil, false)
	}
	return n, err
}

// Close implements io.Closer.
func (b *StreamBody) Close() error {
	err := b.rc.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.finish(nil, !b.res.Terminal())
	}
	return err
}

// finish ends the span once; b.mu is held.
func (b *StreamBody) finish(err error, abandoned bool) {
	b.done = true
	if abandoned {
		b.call.SetAttributes(semconv.LLMStreamAbandonedKey.Bool(true))
	}
	resp, streamErr := b.res.Outcome()
	if err == nil {
		err = streamErr
	}
	b.call.End(resp, err)
}
