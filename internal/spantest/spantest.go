// Package spantest holds the span-inspection helpers the instrumentation
// modules' tests share: the adapters assert the same contract (semconv), so
// they read recorded spans the same way.
//
// The adapter modules import it from their tests only. That is why it may
// stay internal to the root module: a module's tests are not built by the
// programs that depend on it, so no version of an adapter fails to compile
// for a user when this package changes (the reason the adapters' runtime
// code uses the public instrumentation/llmhttp instead).
package spantest

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/semconv"
)

// Attrs returns a span's attributes by key.
func Attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(s.Attributes()))
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// GenAI returns a span's attributes as plain values, without session.id and
// gen_ai.conversation.id: every span the library creates carries them, so
// tests check them once and compare the rest exactly.
func GenAI(s sdktrace.ReadOnlySpan) map[string]any {
	m := make(map[string]any, len(s.Attributes()))
	for _, kv := range s.Attributes() {
		if kv.Key == semconv.SessionIDKey || kv.Key == semconv.ConversationIDKey {
			continue
		}
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// OfKind returns the spans whose crewtrace.span.kind is kind, in order.
func OfKind(spans []sdktrace.ReadOnlySpan, kind string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			if kv.Key == semconv.SpanKindKey && kv.Value.AsString() == kind {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
