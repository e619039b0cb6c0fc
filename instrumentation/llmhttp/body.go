package llmhttp

import (
	"bytes"
	"io"
	"mime"
	"net/http"
)

// maxErrorBody bounds how much of an error response is read to describe it.
const maxErrorBody = 1 << 20

// readRequest returns the body of req, leaving it for the SDK, or nil when
// there is none or it cannot be read (the call is then recorded without a
// model; the SDK sees the same read error).
func readRequest(req *http.Request) []byte {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody != nil { // the SDK can replay the body: read a copy
		rc, err := req.GetBody()
		if err != nil {
			return nil
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil
		}
		return b
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
	if err != nil {
		return nil
	}
	return b
}

// errReader returns err, or io.EOF when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// isEventStream reports whether a response is a server-sent event stream.
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
