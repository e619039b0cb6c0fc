package spantest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/semconv"
)

func TestHelpers(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t")
	_, llm := tr.Start(context.Background(), "chat m")
	llm.SetAttributes(semconv.SpanKindKey.String(semconv.SpanKindLLM), semconv.SessionIDKey.String("s"),
		semconv.ConversationIDKey.String("s"), semconv.InputTokensKey.Int(3))
	llm.End()
	_, tool := tr.Start(context.Background(), "execute_tool x")
	tool.SetAttributes(semconv.SpanKindKey.String(semconv.SpanKindTool))
	tool.End()

	got := OfKind(rec.Ended(), semconv.SpanKindLLM)
	require.Len(t, got, 1)
	assert.Equal(t, "chat m", got[0].Name())
	assert.Empty(t, OfKind(rec.Ended(), semconv.SpanKindAgent))

	assert.Equal(t, attribute.IntValue(3), Attrs(got[0])[semconv.InputTokensKey])
	assert.Equal(t, "s", Attrs(got[0])[semconv.SessionIDKey].AsString())
	assert.Equal(t, map[string]any{"crewtrace.span.kind": "llm", "gen_ai.usage.input_tokens": int64(3)}, GenAI(got[0]),
		"the session IDs are left out, the rest is kept")
}
