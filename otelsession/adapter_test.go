package otelsession_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/otelsession"
)

// What instrumentation of LLM SDKs needs from a session: its content capture
// limit, and attributes of its own on the call spans.

func TestContentCaptureLimit(t *testing.T) {
	e := newEnv(t)
	_, off := otelsession.Start(context.Background(), e.opts()...)
	assert.Equal(t, 0, off.ContentCapture(), "off by default")
	_, on := otelsession.Start(context.Background(), e.opts(otelsession.WithContentCapture(512))...)
	assert.Equal(t, 512, on.ContentCapture())
	_, neg := otelsession.Start(context.Background(), e.opts(otelsession.WithContentCapture(-3))...)
	assert.Equal(t, 0, neg.ContentCapture(), "a negative limit keeps capture off")
	var none *otelsession.Session
	assert.Equal(t, 0, none.ContentCapture(), "nil session: off")
	for _, s := range []*otelsession.Session{off, on, neg} {
		require.NoError(t, s.End(otelsession.Success, ""))
	}
}

func TestCallSetAttributes(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	_, llm, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Provider: "openai", Model: "m"})
	require.NoError(t, err)
	llm.SetAttributes(attribute.Int("http.request.resend_count", 2), attribute.Bool("crewtrace.llm.stream.abandoned", true))
	llm.SetAttributes() // nothing: no-op
	llm.SetAttributes(attribute.String("session.id", "other"), attribute.String("crewtrace.span.kind", "tool"),
		attribute.String("gen_ai.conversation.id", "other"), attribute.String("gen_ai.request.temperature", "0.2"))
	llm.End(otelsession.LLMResponse{}, nil)
	llm.SetAttributes(attribute.String("after.end", "x"))

	_, tool, err := otelsession.StartToolCall(ctx, "calc")
	require.NoError(t, err)
	tool.SetAttributes(attribute.String("tool.version", "1.2"), attribute.String("crewtrace.span.kind", "llm"))
	tool.End("", nil)
	tool.SetAttributes(attribute.String("after.end", "x"))
	require.NoError(t, sess.End(otelsession.Success, ""))

	spans := e.byName(t)
	l := attrs(spans["chat m"].Attributes())
	assert.Equal(t, int64(2), l["http.request.resend_count"])
	assert.Equal(t, true, l["crewtrace.llm.stream.abandoned"])
	assert.Equal(t, "0.2", l["gen_ai.request.temperature"], "kept next to an ignored reserved key")
	assert.Equal(t, sess.ID(), l["session.id"], "session.id cannot be overwritten")
	assert.Equal(t, sess.ID(), l["gen_ai.conversation.id"])
	assert.Equal(t, "llm", l["crewtrace.span.kind"])
	assert.NotContains(t, l, "after.end", "no-op after End")

	tl := attrs(spans["execute_tool calc"].Attributes())
	assert.Equal(t, "1.2", tl["tool.version"])
	assert.Equal(t, "tool", tl["crewtrace.span.kind"])
	assert.NotContains(t, tl, "after.end")

	var nl *otelsession.LLMCall
	var nt *otelsession.ToolCall
	assert.NotPanics(t, func() {
		nl.SetAttributes(attribute.Bool("x", true))
		nt.SetAttributes(attribute.Bool("x", true))
	}, "nil calls are inert")
}
