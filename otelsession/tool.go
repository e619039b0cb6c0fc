package otelsession

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/semconv"
)

// ToolCall is a tool call in progress: an "execute_tool <name>" span. A nil
// *ToolCall is inert.
type ToolCall struct {
	child // span, ended, links in sess.open
	sess  *Session
}

// StartToolCall starts a tool call span ("execute_tool <name>") under the
// current span of ctx when it belongs to the session (an LLM call, an
// agent), else under the current agent or the session. It returns
// ErrInvalidName for an empty name, ErrNoSession when ctx holds no session
// and ErrSessionEnded when the session has ended; the returned context is
// then ctx and the call nil (inert).
func StartToolCall(ctx context.Context, name string, opts ...ToolOption) (context.Context, *ToolCall, error) {
	sc := scopeFrom(ctx)
	if sc == nil {
		return ctx, nil, ErrNoSession
	}
	if name == "" {
		return ctx, nil, fmt.Errorf("%w: empty tool name", ErrInvalidName)
	}
	var c toolConfig
	if len(opts) > 0 {
		c = newToolConfig(opts)
	}
	s := sc.sess
	// Starting a span needs no lock: a span started while End runs is
	// still exported (it merely starts after its parent ended).
	if s.ended.Load() {
		return ctx, nil, ErrSessionEnded
	}
	ctx0 := ctx
	sb := getScratch()
	attrs := append(sb.attrs[:0], semconv.SessionIDKey.String(s.id), semconv.ConversationIDKey.String(s.id),
		semconv.SpanKindKey.String(semconv.SpanKindTool),
		semconv.OperationNameKey.String(semconv.OperationExecuteTool),
		semconv.ToolNameKey.String(name))
	if c.callID != "" {
		attrs = append(attrs, semconv.ToolCallIDKey.String(c.callID))
	}
	if s.maxContent > 0 && c.hasArgs {
		attrs = append(attrs, semconv.ToolCallArgumentsKey.String(truncate(c.arguments, s.maxContent)))
	}
	t := &ToolCall{sess: s}
	ctx, t.span = s.tracer.Start(s.parent(ctx, sc.current()), names.get(nameToolSpan, "", name), sb.spanOpts(len(attrs))...)
	sb.put(len(attrs))
	if !s.track(&t.child) { // End ran since the check above
		t.endStillRunning(StillRunningReason)
		return ctx0, nil, ErrSessionEnded
	}
	if s.sum != nil {
		s.sum.add(&s.sum.tools)
	}
	return ctx, t, nil
}

// End ends the tool call. The result is content, recorded
// (gen_ai.tool.call.result) only when the session has content capture on,
// truncated. A non-nil err is recorded (an exception event, error.type,
// status Error). Only the first call counts; a call still open when its
// session ends is ended by the session (see StillRunningReason).
func (t *ToolCall) End(result string, err error) {
	if t == nil || !t.ended.CompareAndSwap(false, true) {
		return
	}
	if max := t.sess.maxContent; max > 0 && result != "" {
		t.span.SetAttributes(semconv.ToolCallResultKey.String(truncate(result, max)))
	}
	if err != nil {
		setError(t.span, err)
		if t.sess.sum != nil {
			t.sess.sum.add(&t.sess.sum.errors)
		}
	}
	t.span.End()
}

// SetAttributes adds attributes to the tool call's span, for what the
// library's options do not cover. The keys the library owns — session.id,
// gen_ai.conversation.id and crewtrace.span.kind — are ignored. Safe for
// concurrent use; a no-op on a nil *ToolCall and after End.
func (t *ToolCall) SetAttributes(kv ...attribute.KeyValue) {
	if t == nil || t.ended.Load() || len(kv) == 0 {
		return
	}
	setCallAttributes(t.span, kv)
}
