package otellangchaingo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/tmc/langchaingo/callbacks"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/schema"
	"go.opentelemetry.io/otel"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// Event and action types the handler records.
const (
	// ActionAgentFinish is the action type recorded by HandleAgentFinish.
	ActionAgentFinish = "agent_finish"
	// ErrorTypeChain is the error type recorded by HandleChainError.
	ErrorTypeChain = "chain_error"
	// EventRetrieve is the event type recorded by HandleRetrieverEnd.
	EventRetrieve = "retrieve"
)

// ErrNotEnded is recorded on a span that langchaingo started but never
// ended, when [Handler.Close] ends it.
var ErrNotEnded = errors.New("otellangchaingo: call not ended by langchaingo")

// Handler is a langchaingo callbacks.Handler that records into the
// otelsession session of each callback's context: LLM calls and tool calls
// as spans, agent actions and finishes as action events, chain errors as
// error events. Callbacks whose context holds no session are ignored.
//
// langchaingo's callbacks come in start/end pairs that share only their
// context, so the handler matches an end to the oldest open start with the
// same context. Calls running at once with distinct contexts (the usual case:
// one per agent) are matched exactly; calls running at once with one shared
// context are matched first-in first-out, which keeps counts and token
// totals right but may swap the durations of the spans.
//
// A Handler is safe for concurrent use. Use one per LLM when LLMs differ in
// model or provider (see [WithModel]); tools, agents and chains may share it.
type Handler struct {
	cfg config

	mu      sync.Mutex
	llms    map[any][]*otelsession.LLMCall
	tools   map[any][]*otelsession.ToolCall
	actions map[any]schema.AgentAction // the action announced for the next tool start
}

var _ callbacks.Handler = (*Handler)(nil)

// NewHandler returns a handler with the given options.
func NewHandler(opts ...Option) *Handler {
	return &Handler{
		cfg:     newConfig(opts),
		llms:    make(map[any][]*otelsession.LLMCall),
		tools:   make(map[any][]*otelsession.ToolCall),
		actions: make(map[any]schema.AgentAction),
	}
}

// sharedKey is the matching key of contexts that cannot be map keys safely.
type sharedKey struct{}

// keyOf is the key under which the handler matches the callbacks of ctx.
// Contexts are compared by identity; a context of a non-pointer type (which
// might not be comparable) shares one key.
func keyOf(ctx context.Context) any {
	if reflect.TypeOf(ctx).Kind() == reflect.Pointer {
		return ctx
	}
	return sharedKey{}
}

// inSession reports whether ctx holds a session.
func inSession(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	_, ok := otelsession.FromContext(ctx)
	return ok
}

// captures reports whether the session of ctx captures content: prompts
// and completions are built only then.
func captures(ctx context.Context) bool {
	sess, _ := otelsession.FromContext(ctx)
	return sess.ContentCapture() > 0
}

// report passes an error of otelsession to the OpenTelemetry error handler:
// a callback cannot return it.
func report(err error) {
	if err != nil && !errors.Is(err, otelsession.ErrNoSession) {
		otel.Handle(fmt.Errorf("otellangchaingo: %w", err))
	}
}

func pop[T any](m map[any][]T, key any) (T, bool) {
	q := m[key]
	var zero T
	if len(q) == 0 {
		return zero, false
	}
	v := q[0]
	q[0] = zero
	if len(q) == 1 {
		delete(m, key)
	} else {
		m[key] = q[1:]
	}
	return v, true
}

// HandleText does nothing.
func (h *Handler) HandleText(context.Context, string) {}

// HandleLLMStart does nothing: no LLM of langchaingo v0.1.14 calls it, and
// HandleLLMGenerateContentStart is the callback that brackets an LLM call.
func (h *Handler) HandleLLMStart(context.Context, []string) {}

// HandleLLMGenerateContentStart starts an LLM call span under the current
// agent (or the session) of ctx. The messages are its prompt content,
// recorded only when the session captures content.
func (h *Handler) HandleLLMGenerateContentStart(ctx context.Context, ms []llms.MessageContent) {
	if !inSession(ctx) {
		return
	}
	var prompt string
	if captures(ctx) {
		if b, err := json.Marshal(ms); err == nil {
			prompt = string(b)
		}
	}
	_, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{
		Provider:  h.cfg.provider,
		Model:     h.cfg.model,
		Operation: semconv.OperationChat,
		Prompt:    prompt,
	})
	if err != nil {
		report(err)
		return
	}
	key := keyOf(ctx)
	h.mu.Lock()
	h.llms[key] = append(h.llms[key], call)
	h.mu.Unlock()
}

// HandleLLMGenerateContentEnd ends the LLM call span started with ctx with
// the token counts, finish reasons and completion of res.
func (h *Handler) HandleLLMGenerateContentEnd(ctx context.Context, res *llms.ContentResponse) {
	if !inSession(ctx) {
		return
	}
	h.mu.Lock()
	call, ok := pop(h.llms, keyOf(ctx))
	h.mu.Unlock()
	if ok {
		call.End(llmResponse(res, captures(ctx)), nil)
	}
}

// HandleLLMError ends the LLM call span started with ctx with err.
func (h *Handler) HandleLLMError(ctx context.Context, err error) {
	if !inSession(ctx) {
		return
	}
	h.mu.Lock()
	call, ok := pop(h.llms, keyOf(ctx))
	h.mu.Unlock()
	if ok {
		call.End(otelsession.LLMResponse{}, err)
	}
}

// HandleChainStart does nothing: chains are not spans of the session model.
func (h *Handler) HandleChainStart(context.Context, map[string]any) {}

// HandleChainEnd ends the LLM and tool spans still open under ctx, without
// an error: the chain succeeded, and some langchaingo LLMs (anthropic in
// v0.1.14) return without calling HandleLLMGenerateContentEnd, so the
// surrounding chain's end is the only callback that follows. Such a span has
// no token counts.
func (h *Handler) HandleChainEnd(ctx context.Context, _ map[string]any) {
	if !inSession(ctx) {
		return
	}
	h.endOpen(keyOf(ctx), nil)
}

// HandleChainError records err as an error event (ErrorTypeChain) on the
// current agent of ctx, and ends the LLM and tool spans still open under ctx
// with it: some langchaingo LLMs (openai in v0.1.14) return an error without
// calling HandleLLMError, and the surrounding chain's error is the only
// callback that follows.
func (h *Handler) HandleChainError(ctx context.Context, err error) {
	if !inSession(ctx) {
		return
	}
	h.endOpen(keyOf(ctx), err)
	report(otelsession.RecordError(ctx, ErrorTypeChain, err))
}

// HandleToolStart starts a tool call span under the current agent (or the
// session) of ctx, named after the tool the agent's last action chose with
// ctx (else [WithDefaultToolName]). The input is its arguments content,
// recorded only when the session captures content.
func (h *Handler) HandleToolStart(ctx context.Context, input string) {
	if !inSession(ctx) {
		return
	}
	key := keyOf(ctx)
	h.mu.Lock()
	action, ok := h.actions[key]
	delete(h.actions, key)
	h.mu.Unlock()
	name := h.cfg.toolName
	opts := []otelsession.ToolOption{otelsession.WithToolArguments(input)}
	if ok && action.Tool != "" {
		name = action.Tool
		if action.ToolID != "" {
			opts = append(opts, otelsession.WithToolCallID(action.ToolID))
		}
	}
	_, call, err := otelsession.StartToolCall(ctx, name, opts...)
	if err != nil {
		report(err)
		return
	}
	h.mu.Lock()
	h.tools[key] = append(h.tools[key], call)
	h.mu.Unlock()
}

// HandleToolEnd ends the tool call span started with ctx; the output is its
// result content, recorded only when the session captures content.
func (h *Handler) HandleToolEnd(ctx context.Context, output string) {
	if !inSession(ctx) {
		return
	}
	h.mu.Lock()
	call, ok := pop(h.tools, keyOf(ctx))
	h.mu.Unlock()
	if ok {
		call.End(output, nil)
	}
}

// HandleToolError ends the tool call span started with ctx with err.
func (h *Handler) HandleToolError(ctx context.Context, err error) {
	if !inSession(ctx) {
		return
	}
	h.mu.Lock()
	call, ok := pop(h.tools, keyOf(ctx))
	h.mu.Unlock()
	if ok {
		call.End("", err)
	}
}

// HandleAgentAction records the action as an action event of type
// action.Tool (parameter tool_call_id when the model gave one) on the current
// agent of ctx, and remembers the tool's name for the tool start that
// follows. The tool input is content: it goes to the tool span, not the
// event.
//
// A tool span still open under ctx is ended first: the executor runs one
// action at a time, and some langchaingo tools (the calculator on an
// invalid expression) return without calling HandleToolEnd.
func (h *Handler) HandleAgentAction(ctx context.Context, action schema.AgentAction) {
	if !inSession(ctx) {
		return
	}
	key := keyOf(ctx)
	h.endOpenTools(key)
	h.mu.Lock()
	h.actions[key] = action
	h.mu.Unlock()
	var params map[string]any
	if action.ToolID != "" {
		params = map[string]any{"tool_call_id": action.ToolID}
	}
	typ := action.Tool
	if typ == "" {
		typ = h.cfg.toolName
	}
	report(otelsession.RecordAction(ctx, typ, params))
}

// HandleAgentFinish records an action event of type ActionAgentFinish on
// the current agent of ctx. The return values are content and are not
// recorded. A tool span still open under ctx is ended first.
func (h *Handler) HandleAgentFinish(ctx context.Context, _ schema.AgentFinish) {
	if !inSession(ctx) {
		return
	}
	key := keyOf(ctx)
	h.endOpenTools(key)
	h.mu.Lock()
	delete(h.actions, key)
	h.mu.Unlock()
	report(otelsession.RecordAction(ctx, ActionAgentFinish, nil))
}

// HandleRetrieverStart does nothing.
func (h *Handler) HandleRetrieverStart(context.Context, string) {}

// HandleRetrieverEnd records an event of type EventRetrieve with the number
// of documents retrieved (parameter documents). The query is content and is
// not recorded.
func (h *Handler) HandleRetrieverEnd(ctx context.Context, _ string, documents []schema.Document) {
	if !inSession(ctx) {
		return
	}
	report(otelsession.RecordEvent(ctx, otelsession.Event{Type: EventRetrieve, Params: map[string]any{"documents": len(documents)}}))
}

// HandleStreamingFunc does nothing: the LLM span ends with the whole response.
func (h *Handler) HandleStreamingFunc(context.Context, []byte) {}

// Close ends every span the handler still has open, with [ErrNotEnded], and
// forgets them: call it when the work the handler observed is over, so that
// a call langchaingo never ended still reaches the trace.
func (h *Handler) Close() error {
	h.mu.Lock()
	var llmCalls []*otelsession.LLMCall
	var toolCalls []*otelsession.ToolCall
	for _, q := range h.llms {
		llmCalls = append(llmCalls, q...)
	}
	for _, q := range h.tools {
		toolCalls = append(toolCalls, q...)
	}
	clear(h.llms)
	clear(h.tools)
	clear(h.actions)
	h.mu.Unlock()
	for _, c := range llmCalls {
		c.End(otelsession.LLMResponse{}, ErrNotEnded)
	}
	for _, c := range toolCalls {
		c.End("", ErrNotEnded)
	}
	return nil
}

// endOpen ends the LLM and tool spans open under key, with err (nil: as
// successful).
func (h *Handler) endOpen(key any, err error) {
	h.mu.Lock()
	llmCalls, toolCalls := h.llms[key], h.tools[key]
	delete(h.llms, key)
	delete(h.tools, key)
	h.mu.Unlock()
	for _, c := range llmCalls {
		c.End(otelsession.LLMResponse{}, err)
	}
	for _, c := range toolCalls {
		c.End("", err)
	}
}

// endOpenTools ends the tool spans open under key, without an error: the
// agent went on to its next step.
func (h *Handler) endOpenTools(key any) {
	h.mu.Lock()
	toolCalls := h.tools[key]
	delete(h.tools, key)
	h.mu.Unlock()
	for _, c := range toolCalls {
		c.End("", nil)
	}
}

// llmResponse reads the token counts, finish reasons and completion of res.
// The token counts are those of the first choice that has them: langchaingo
// repeats the response's usage in every choice.
func llmResponse(res *llms.ContentResponse, capture bool) otelsession.LLMResponse {
	var out otelsession.LLMResponse
	if res == nil {
		return out
	}
	var completion strings.Builder
	tokensSet := false
	for _, c := range res.Choices {
		if c == nil {
			continue
		}
		if capture {
			completion.WriteString(c.Content)
		}
		if c.StopReason != "" && !slices.Contains(out.FinishReasons, c.StopReason) {
			out.FinishReasons = append(out.FinishReasons, c.StopReason)
		}
		if !tokensSet {
			tokensSet = setTokens(&out, c.GenerationInfo)
		}
	}
	out.Completion = completion.String()
	return out
}

// setTokens records the token counts of a choice's generation info in
// out, in the spellings langchaingo's LLMs use: InputTokens/OutputTokens
// with CacheCreationInputTokens/CacheReadInputTokens (anthropic, whose input
// count leaves out prompt-cache writes and reads, added here), or
// PromptTokens/CompletionTokens with PromptCachedTokens (part of the prompt
// tokens) and ReasoningTokens (part of the completion tokens) (openai;
// ollama, googleai ... report the first two). It reports whether the info
// held token counts.
func setTokens(out *otelsession.LLMResponse, info map[string]any) bool {
	if in, found := number(info["InputTokens"]); found {
		cw, _ := number(info["CacheCreationInputTokens"])
		cr, _ := number(info["CacheReadInputTokens"])
		out.OutputTokens, _ = number(info["OutputTokens"])
		out.InputTokens = in + cw + cr
		out.CacheCreationInputTokens, out.CacheReadInputTokens = cw, cr
		return true
	}
	in, foundIn := number(info["PromptTokens"])
	o, foundOut := number(info["CompletionTokens"])
	out.InputTokens, out.OutputTokens = in, o
	out.CacheReadInputTokens, _ = number(info["PromptCachedTokens"])
	out.ReasoningOutputTokens, _ = number(info["ReasoningTokens"])
	return foundIn || foundOut
}

// number converts the numeric types generation info holds to int.
func number(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case float32:
		return int(n), true
	}
	return 0, false
}
