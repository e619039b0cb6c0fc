package llmhttp

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/crewtrace/crewtrace/internal/sse"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// streamBody is the body of a streamed response: it passes every byte to the
// application unchanged, parses the events on the way into its Response, and
// ends the call's span once: at the stream's end marker, at the end of the
// body, on a read error (recorded as [ErrStreamCut]), or when the application
// closes the body or cancels the request first (marked
// semconv.LLMStreamAbandonedKey, not failed).
type streamBody struct {
	rc   io.ReadCloser
	ctx  context.Context // the request's: its cancellation is the application's choice
	call *otelsession.LLMCall
	api  string // the API's name, for ErrStreamCut

	mu     sync.Mutex
	res    Response
	parser sse.Parser
	done   bool
}

// newStreamBody wraps the body rc of the streamed response to the request
// made with ctx, whose span is call.
func newStreamBody(ctx context.Context, rc io.ReadCloser, call *otelsession.LLMCall, res Response, api string) *streamBody {
	return &streamBody{rc: rc, ctx: ctx, call: call, res: res, api: api}
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
		b.finish(&streamCutError{api: b.api, err: err}, false)
	case b.res.Terminal():
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
		b.finish(nil, !b.res.Terminal())
	}
	return err
}

// finish ends the span once, with err, else the error the stream carried;
// b.mu is held.
func (b *streamBody) finish(err error, abandoned bool) {
	b.done = true
	if abandoned {
		b.call.SetAttributes(semconv.LLMStreamAbandonedKey.Bool(true))
	}
	resp, apiErr := b.res.Outcome()
	if err == nil && apiErr != nil { // not a nil *APIError in a non-nil error
		err = apiErr
	}
	b.call.End(resp, err)
}
