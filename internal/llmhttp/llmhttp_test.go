package llmhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/otelsession"
)

const body = `{"model":"m","stream":true,"max_completion_tokens":7,"temperature":0.5,"messages":[{"role":"user","content":"hi"}]}`

func TestReadRequestLeavesTheBody(t *testing.T) {
	for _, getBody := range []bool{true, false} {
		req, err := http.NewRequest(http.MethodPost, "http://x/v1/chat/completions", strings.NewReader(body))
		require.NoError(t, err)
		if !getBody {
			req.GetBody = nil
		}
		var meta RequestMeta
		ReadRequest(req, &meta)
		assert.Equal(t, "m", meta.Model)
		assert.True(t, meta.Stream)
		rest, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		assert.Equal(t, body, string(rest), "the SDK still reads the whole body (GetBody %v)", getBody)
		assert.Equal(t, []attribute.KeyValue{
			attribute.Int("gen_ai.request.max_tokens", 7),
			attribute.Float64("gen_ai.request.temperature", 0.5),
			attribute.Bool("gen_ai.request.stream", true),
		}, meta.Attributes(meta.Stream))
	}
	var meta RequestMeta
	req, err := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader("not json"))
	require.NoError(t, err)
	ReadRequest(req, &meta)
	assert.Equal(t, RequestMeta{}, meta, "an unparsable body leaves v as it is")
	ReadRequest(&http.Request{Body: http.NoBody}, &meta)
	assert.Empty(t, meta.Attributes(false), "no parameters, no attributes")
}

func TestBufferBody(t *testing.T) {
	res := &http.Response{Body: io.NopCloser(strings.NewReader("0123456789"))}
	b, err := BufferBody(res, 4)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(b), "read up to the limit")
	all, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(all), "the body replays what was read, then the rest")

	cut := errors.New("cut")
	res = &http.Response{Body: io.NopCloser(io.MultiReader(strings.NewReader("ab"), &failReader{cut}))}
	b, err = BufferBody(res, 0)
	assert.ErrorIs(t, err, cut)
	assert.Equal(t, "ab", string(b))
	all, err = io.ReadAll(res.Body)
	assert.ErrorIs(t, err, cut, "the SDK sees the same read error")
	assert.Equal(t, "ab", string(all))
}

type failReader struct{ err error }

func (r *failReader) Read([]byte) (int, error) { return 0, r.err }

func TestIsEventStream(t *testing.T) {
	assert.True(t, IsEventStream(http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}))
	assert.False(t, IsEventStream(http.Header{"Content-Type": {"application/json"}}))
	assert.False(t, IsEventStream(http.Header{}))
}

// lines is a Result that keeps the events' data; "END" is its end marker and
// "ERR" an error event.
type lines struct {
	data     []string
	terminal bool
	err      error
}

func (l *lines) AddEvent(d []byte) {
	l.data = append(l.data, string(d))
	switch string(d) {
	case "END":
		l.terminal = true
	case "ERR":
		l.err, l.terminal = errors.New("error event"), true
	}
}
func (l *lines) Terminal() bool { return l.terminal }
func (l *lines) Outcome() (otelsession.LLMResponse, error) {
	return otelsession.LLMResponse{OutputTokens: len(l.data)}, l.err
}

func streamSpan(t *testing.T, stream string, read func(io.ReadCloser), cancel bool) (sdktrace.ReadOnlySpan, *lines) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithTracerProvider(tp))
	ctx, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Model: "m"})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	res := &lines{}
	var src io.Reader = strings.NewReader(stream)
	if cancel {
		src = io.MultiReader(src, &failReader{context.Canceled})
		stop()
	} else if strings.HasSuffix(stream, "!") {
		src = io.MultiReader(strings.NewReader(strings.TrimSuffix(stream, "!")), &failReader{io.ErrUnexpectedEOF})
	}
	b := NewStreamBody(ctx, io.NopCloser(src), call, res, func(err error) error { return errors.Join(errors.New("cut"), err) })
	read(b)
	require.NoError(t, sess.End(otelsession.Success, ""))
	for _, s := range rec.Ended() {
		if s.Name() == "chat m" {
			return s, res
		}
	}
	t.Fatal("no LLM span")
	return nil, nil
}

func readAll(rc io.ReadCloser) { _, _ = io.ReadAll(rc); _ = rc.Close() }

func attrMap(s sdktrace.ReadOnlySpan) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func TestStreamBody(t *testing.T) {
	t.Run("end marker", func(t *testing.T) {
		s, res := streamSpan(t, "data: a\n\ndata: END\n\n", readAll, false)
		assert.Equal(t, []string{"a", "END"}, res.data)
		assert.Equal(t, codes.Unset, s.Status().Code)
		assert.Equal(t, int64(2), attrMap(s)["gen_ai.usage.output_tokens"])
		assert.NotContains(t, attrMap(s), "crewtrace.llm.stream.abandoned")
	})
	t.Run("body end without marker", func(t *testing.T) {
		s, res := streamSpan(t, "data: a\n\ndata: b", readAll, false)
		assert.Equal(t, []string{"a", "b"}, res.data, "the unterminated last event is flushed")
		assert.Equal(t, codes.Unset, s.Status().Code)
	})
	t.Run("error event", func(t *testing.T) {
		s, _ := streamSpan(t, "data: ERR\n\n", readAll, false)
		assert.Equal(t, codes.Error, s.Status().Code)
		assert.Equal(t, "error event", s.Status().Description)
	})
	t.Run("closed early", func(t *testing.T) {
		s, res := streamSpan(t, "data: a\n\ndata: b\n\ndata: END\n\n", func(rc io.ReadCloser) {
			p := make([]byte, 9)
			_, _ = io.ReadFull(rc, p)
			_ = rc.Close()
		}, false)
		assert.Equal(t, []string{"a"}, res.data)
		assert.Equal(t, true, attrMap(s)["crewtrace.llm.stream.abandoned"])
		assert.Equal(t, codes.Unset, s.Status().Code, "abandoned, not failed")
	})
	t.Run("cancelled", func(t *testing.T) {
		s, _ := streamSpan(t, "data: a\n\n", readAll, true)
		assert.Equal(t, true, attrMap(s)["crewtrace.llm.stream.abandoned"])
		assert.Equal(t, codes.Unset, s.Status().Code)
	})
	t.Run("cut", func(t *testing.T) {
		s, _ := streamSpan(t, "data: a\n\n!", readAll, false)
		assert.Equal(t, codes.Error, s.Status().Code)
		assert.Contains(t, s.Status().Description, "cut")
		assert.NotContains(t, attrMap(s), "crewtrace.llm.stream.abandoned")
	})
	t.Run("reads pass through unchanged", func(t *testing.T) {
		var got bytes.Buffer
		const stream = "event: x\ndata: a\n\n: comment\ndata: END\n\n"
		streamSpan(t, stream, func(rc io.ReadCloser) { _, _ = io.Copy(&got, rc); _ = rc.Close() }, false)
		assert.Equal(t, stream, got.String())
	})
}
