package otelsession

import (
	"context"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// LLMRequest describes an LLM call about to be made.
type LLMRequest struct {
	// Provider is gen_ai.provider.name (openai, anthropic ...); optional.
	Provider string
	// Model is gen_ai.request.model and the span name's subject.
	Model string
	// Operation is gen_ai.operation.name; empty means "chat".
	Operation string
	// Prompt is content: recorded as gen_ai.input.messages only when the
	// session has content capture on (WithContentCapture), truncated.
	Prompt string
}

// LLMResponse describes the outcome of an LLM call.
type LLMResponse struct {
	// ResponseModel is gen_ai.response.model.
	ResponseModel string
	// ResponseID is gen_ai.response.id.
	ResponseID string
	// InputTokens is gen_ai.usage.input_tokens, recorded when > 0. As the
	// GenAI convention says, it counts every input token, those read from
	// and written to the provider's cache included.
	InputTokens int
	// OutputTokens is gen_ai.usage.output_tokens, recorded when > 0. It
	// includes the reasoning tokens.
	OutputTokens int
	// CacheReadInputTokens is gen_ai.usage.cache_read.input_tokens, the input
	// tokens served from the provider's cache (part of InputTokens),
	// recorded when > 0.
	CacheReadInputTokens int
	// CacheCreationInputTokens is gen_ai.usage.cache_creation.input_tokens,
	// the input tokens written to the provider's cache (part of
	// InputTokens), recorded when > 0.
	CacheCreationInputTokens int
	// CacheCreation1hInputTokens is the part of CacheCreationInputTokens
	// written with a one-hour cache lifetime
	// (crewtrace.usage.cache_creation_1h.input_tokens; Anthropic prices it
	// apart), recorded when > 0.
	CacheCreation1hInputTokens int
	// ReasoningOutputTokens is gen_ai.usage.reasoning.output_tokens, the
	// output tokens spent on reasoning (part of OutputTokens), recorded
	// when > 0.
	ReasoningOutputTokens int
	// CostUSD is the call's cost in US dollars as the provider reported it
	// (crewtrace.usage.cost), recorded when > 0. The session exporter uses
	// it instead of its price table. Leave it 0 unless the provider or a
	// gateway states the cost: the exporter prices every call itself.
	CostUSD float64
	// FinishReasons is gen_ai.response.finish_reasons.
	FinishReasons []string
	// Completion is content: recorded as gen_ai.output.messages only when
	// the session has content capture on, truncated.
	Completion string
}

// LLMCall is an LLM call in progress: a "chat <model>" client span. A nil
// *LLMCall is inert.
type LLMCall struct {
	child // span, ended, links in sess.open
	sess  *Session
	// end holds the response attributes End sets: part of the call's own
	// allocation instead of one more (written once, by the first End). Six
	// cover the usual response; a response with cache or reasoning token
	// counts on top spills to the heap.
	end [6]attribute.KeyValue
	// The request's provider and model and the call's start, kept for the
	// session's summary only (see WithSummary).
	provider, model string
	start           time.Time
}

// StartLLMCall starts an LLM call span ("<operation> <model>", SpanKind
// client) under the current agent of ctx, or its session. It returns
// ErrNoSession when ctx holds no session and ErrSessionEnded when the session
// has ended; the returned context is then ctx and the call nil (inert).
func StartLLMCall(ctx context.Context, req LLMRequest) (context.Context, *LLMCall, error) {
	sc := scopeFrom(ctx)
	if sc == nil {
		return ctx, nil, ErrNoSession
	}
	s := sc.sess
	op := req.Operation
	if op == "" {
		op = semconv.OperationChat
	}
	// Starting a span needs no lock: a span started while End runs is
	// still exported (it merely starts after its parent ended).
	if s.ended.Load() {
		return ctx, nil, ErrSessionEnded
	}
	ctx0 := ctx
	sb := getScratch()
	attrs := append(sb.attrs[:0], semconv.SessionIDKey.String(s.id), semconv.ConversationIDKey.String(s.id),
		semconv.SpanKindKey.String(semconv.SpanKindLLM),
		semconv.OperationNameKey.String(op))
	if req.Provider != "" {
		attrs = append(attrs, semconv.ProviderNameKey.String(req.Provider))
	}
	if req.Model != "" {
		attrs = append(attrs, semconv.RequestModelKey.String(req.Model))
	}
	if s.maxContent > 0 && req.Prompt != "" {
		attrs = append(attrs, semconv.InputMessagesKey.String(truncate(req.Prompt, s.maxContent)))
	}
	c := &LLMCall{sess: s}
	ctx, c.span = s.tracer.Start(s.parent(ctx, sc.current()), names.get(nameLLMSpan, op, req.Model),
		sb.spanOpts(len(attrs), spanKindClient)...)
	sb.put(len(attrs))
	if !s.track(&c.child) { // End ran since the check above
		c.endStillRunning(StillRunningReason)
		return ctx0, nil, ErrSessionEnded
	}
	if s.sum != nil {
		c.provider, c.model, c.start = req.Provider, req.Model, time.Now()
		s.sum.add(&s.sum.llm)
	}
	return ctx, c, nil
}

// spanKindClient is made once: trace.WithSpanKind allocates on every call.
var spanKindClient = trace.WithSpanKind(trace.SpanKindClient)

// End ends the LLM call with its response. A non-nil err is recorded (an
// exception event, error.type, status Error). Only the first call counts; a
// call still open when its session ends is ended by the session (see
// StillRunningReason).
func (c *LLMCall) End(resp LLMResponse, err error) {
	if c == nil || !c.ended.CompareAndSwap(false, true) {
		return
	}
	attrs := c.end[:0]
	if resp.ResponseModel != "" {
		attrs = append(attrs, semconv.ResponseModelKey.String(resp.ResponseModel))
	}
	if resp.ResponseID != "" {
		attrs = append(attrs, semconv.ResponseIDKey.String(resp.ResponseID))
	}
	if resp.InputTokens > 0 {
		attrs = append(attrs, semconv.InputTokensKey.Int(resp.InputTokens))
	}
	if resp.OutputTokens > 0 {
		attrs = append(attrs, semconv.OutputTokensKey.Int(resp.OutputTokens))
	}
	if resp.CacheReadInputTokens > 0 {
		attrs = append(attrs, semconv.CacheReadInputTokensKey.Int(resp.CacheReadInputTokens))
	}
	if resp.CacheCreationInputTokens > 0 {
		attrs = append(attrs, semconv.CacheCreationInputTokensKey.Int(resp.CacheCreationInputTokens))
	}
	if resp.CacheCreation1hInputTokens > 0 {
		attrs = append(attrs, semconv.CacheCreation1hInputTokensKey.Int(resp.CacheCreation1hInputTokens))
	}
	if resp.CostUSD > 0 {
		attrs = append(attrs, semconv.UsageCostKey.Float64(resp.CostUSD))
	}
	if resp.ReasoningOutputTokens > 0 {
		attrs = append(attrs, semconv.ReasoningOutputTokensKey.Int(resp.ReasoningOutputTokens))
	}
	if len(resp.FinishReasons) > 0 {
		attrs = append(attrs, semconv.FinishReasonsKey.StringSlice(resp.FinishReasons))
	}
	if max := c.sess.maxContent; max > 0 && resp.Completion != "" {
		attrs = append(attrs, semconv.OutputMessagesKey.String(truncate(resp.Completion, max)))
	}
	if len(attrs) > 0 {
		c.span.SetAttributes(attrs...)
	}
	if err != nil {
		setError(c.span, err)
	}
	c.span.End()
	if c.sess.sum != nil {
		c.sess.sum.llmEnded(c.provider, c.model, c.start, resp, err)
	}
}

// SetAttributes adds attributes to the call's span, for what LLMRequest and
// LLMResponse do not cover (request parameters, a retry count, a provider's
// own keys). The keys the library owns — session.id,
// gen_ai.conversation.id and crewtrace.span.kind — are ignored, so the
// call stays in its session. Safe for concurrent use; a no-op on a nil
// *LLMCall and after End.
func (c *LLMCall) SetAttributes(kv ...attribute.KeyValue) {
	if c == nil || c.ended.Load() || len(kv) == 0 {
		return
	}
	setCallAttributes(c.span, kv)
}

// current is the span events go to and new child spans fall back to: the
// agent's while it is open, else the session's.
func (sc *scope) current() trace.Span {
	if a := sc.agent; a != nil && !a.ended.Load() {
		return a.span
	}
	return sc.sess.span
}

// truncate cuts s to at most max bytes without splitting a UTF-8 sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// setCallAttributes sets kv on span, without the keys that tie a span to its
// session and its place in the session model (a copy is made only when kv
// holds one of them).
func setCallAttributes(span trace.Span, kv []attribute.KeyValue) {
	for i := range kv {
		if reservedKey(kv[i].Key) {
			kept := make([]attribute.KeyValue, 0, len(kv)-1)
			for _, a := range kv {
				if !reservedKey(a.Key) {
					kept = append(kept, a)
				}
			}
			kv = kept
			break
		}
	}
	if len(kv) > 0 {
		span.SetAttributes(kv...)
	}
}

// reservedKey reports whether k is set by the library alone.
func reservedKey(k attribute.Key) bool {
	return k == semconv.SessionIDKey || k == semconv.ConversationIDKey || k == semconv.SpanKindKey
}
