package llmhttp

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/otelsession"
)

// lines is a Response that keeps the events' data; "END" is its end marker
// and "ERR" an error event.
type lines struct {
	data     []string
	terminal bool
	err      *APIError
}

func (l *lines) AddBody([]byte) {}

func (l *lines) AddEvent(d []byte) {
	l.data = append(l.data, string(d))
	switch string(d) {
	case "END":
		l.terminal = true
	case "ERR":
		l.err, l.terminal = &APIError{API: "test", Type: "overloaded", Message: "busy"}, true
	}
}
func (l *lines) Terminal() bool { return l.terminal }
func (l *lines) Outcome() (otelsession.LLMResponse, *APIError) {
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
	b := newStreamBody(ctx, io.NopCloser(src), call, res, "test")
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
		assert.Equal(t, "test: error in stream: busy", s.Status().Description)
		assert.Equal(t, "overloaded", attrMap(s)["error.type"])
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
		assert.Equal(t, "test: stream cut before its end: unexpected EOF", s.Status().Description)
		assert.Equal(t, "stream_cut", attrMap(s)["error.type"])
		assert.NotContains(t, attrMap(s), "crewtrace.llm.stream.abandoned")
	})
	t.Run("reads pass through unchanged", func(t *testing.T) {
		var got bytes.Buffer
		const stream = "event: x\ndata: a\n\n: comment\ndata: END\n\n"
		streamSpan(t, stream, func(rc io.ReadCloser) { _, _ = io.Copy(&got, rc); _ = rc.Close() }, false)
		assert.Equal(t, stream, got.String())
	})
}

func TestStreamCutError(t *testing.T) {
	err := error(&streamCutError{api: "x", err: io.ErrUnexpectedEOF})
	assert.ErrorIs(t, err, ErrStreamCut)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the read error is kept")
	assert.Equal(t, "x: stream cut before its end: unexpected EOF", err.Error())
}
