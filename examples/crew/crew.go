package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// Config is what a crew run does.
type Config struct {
	Tasks       int           // number of tasks, one session each
	Concurrency int           // tasks running at once
	Seed        uint64        // same seed, same crew (names, agents, tokens, failures)
	FailRate    float64       // probability that a task fails, 0..1
	MaxLatency  time.Duration // simulated LLM/tool latency is in [0, MaxLatency)
	Content     int           // WithContentCapture limit; 0 = off
}

// SessionTruth is what the crew did in one session: the ground truth an
// end-to-end test compares with the exported telemetry.
type SessionTruth struct {
	SessionID    string       `json:"session_id"`
	TraceID      string       `json:"trace_id"`
	Name         string       `json:"name"`
	Tags         []string     `json:"tags"`
	EndState     string       `json:"end_state"`
	EndReason    string       `json:"end_reason"`
	Agents       []AgentTruth `json:"agents"`
	Events       []EventTruth `json:"events"`
	EventCount   int          `json:"event_count"`
	LLMCalls     int          `json:"llm_calls"`
	ToolCalls    int          `json:"tool_calls"`
	InputTokens  int          `json:"input_tokens"`
	OutputTokens int          `json:"output_tokens"`
	// ErrorCount is the session's errors as the session record counts them
	// (the exporter's rule): error events, plus spans other than the session
	// root that ended with an error and carry no error event of their own.
	// Here: every failed LLM or tool call counts twice — its span ended with
	// the error, and the crew's error event on the agent — and a failed agent
	// once more only when no error event was recorded on it.
	ErrorCount  int `json:"error_count"`
	ErrorEvents int `json:"error_events"` // error events in the session
	SpanCount   int `json:"span_count"`   // spans created: session + agents + LLM + tool calls
	// Refused are the calls the library refused, in order: a malformed
	// agent ID (every third task), an event after the end (every other
	// task). Refused events are counted on crewtrace.events.rejected by
	// reason; a refused agent is counted nowhere, as it was never created.
	Refused []RefusalTruth `json:"refused"`
	// Models are the LLM calls per provider and model, in order of first
	// call, with the tokens the crew reported for them (a failed call
	// counts, with no tokens): what the record's models[] and its cost are
	// computed from.
	Models []ModelTruth `json:"models"`
}

// ModelTruth is the LLM calls of one provider and model in a session.
type ModelTruth struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	LLMCalls     int    `json:"llm_calls"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

// RefusalTruth is one call the library refused.
type RefusalTruth struct {
	Call   string `json:"call"`   // CallStartAgent or CallRecordEvent
	Reason string `json:"reason"` // for CallRecordEvent, the error.type of crewtrace.events.rejected
}

// The calls a RefusalTruth names, and the reason of a refused agent ID.
const (
	CallStartAgent       = "start_agent"
	CallRecordEvent      = "record_event"
	ReasonInvalidAgentID = "invalid_agent_id"
	malformedAgentID     = "agent-7" // not a UUID: refused, never replaced
	lateEventType        = "late_note"
	malformedAgentEvery  = 3
	lateEventEvery       = 2
)

// AgentTruth is one agent of a session.
type AgentTruth struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	LLMCalls     int    `json:"llm_calls"`
	ToolCalls    int    `json:"tool_calls"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
	// Errors is the agent's errors as the session record counts them: the
	// error events recorded on the agent, plus the agent's and its calls'
	// spans ended with an error that carry no error event of their own.
	Errors      int `json:"errors"`
	ErrorEvents int `json:"error_events"` // error events recorded on the agent
	ErrorSpans  int `json:"error_spans"`  // spans with status Error: the agent's and its calls'
}

// EventTruth is one recorded event; AgentID is empty for session-level events.
type EventTruth struct {
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	AgentID string `json:"agent_id"`
}

var (
	taskKinds = []string{"triage", "research", "summarise", "plan", "review"}
	roles     = []string{"planner", "researcher", "writer", "critic", "coder"}
	models    = []struct{ provider, model string }{
		{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"anthropic", "claude-sonnet-4"}, {"anthropic", "claude-haiku-4"},
	}
	tools  = []string{"web_search", "calculator", "code_exec", "file_read"}
	errLLM = []string{"rate limit exceeded", "context length exceeded", "upstream timeout"}
)

// errToolFlaky is a tool failure the agent recovers from.
var errToolFlaky = errors.New("tool returned malformed output")

// Run runs cfg.Tasks tasks, cfg.Concurrency at a time, each in its own
// session, and returns their truth in task order. line receives one summary
// line per session as it ends. ctx cancellation stops the tasks between
// steps (their sessions end Fail with the context's error).
func Run(ctx context.Context, cfg Config, opts []otelsession.Option, line func(string)) []SessionTruth {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	truths := make([]SessionTruth, cfg.Tasks)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range cfg.Tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			truths[i] = runTask(ctx, cfg, i, opts)
			if line != nil {
				line(summary(truths[i]))
			}
		})
	}
	wg.Wait()
	return truths
}

// summary is the one line printed per session, AgentOps-style.
func summary(t SessionTruth) string {
	s := fmt.Sprintf("session %s %-14s %-13s agents=%d llm=%d tools=%d tokens=%d/%d errors=%d",
		t.SessionID, t.Name, t.EndState, len(t.Agents), t.LLMCalls, t.ToolCalls, t.InputTokens, t.OutputTokens, t.ErrorCount)
	if t.EndReason != "" {
		s += fmt.Sprintf(" reason=%q", t.EndReason)
	}
	return s
}

// task is one task's script, drawn from its own seeded generator so that it
// does not depend on scheduling.
type task struct {
	rng     *rand.Rand
	cfg     Config
	truth   *SessionTruth
	failAt  int // index of the agent that fails, -1 for none
	failErr string
}

func runTask(ctx context.Context, cfg Config, i int, opts []otelsession.Option) SessionTruth {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
	// The name is the kind of task: it labels the session metrics, so it
	// must not tell tasks apart; the task's number is a tag.
	name := taskKinds[rng.IntN(len(taskKinds))]
	tags := []string{"crew", "seed-" + fmt.Sprint(cfg.Seed), fmt.Sprintf("task-%03d", i)}
	nAgents := 2 + rng.IntN(3)
	t := &task{rng: rng, cfg: cfg, failAt: -1}
	if rng.Float64() < cfg.FailRate {
		t.failAt = rng.IntN(nAgents)
		t.failErr = errLLM[rng.IntN(len(errLLM))]
	}
	perm := rng.Perm(len(roles))

	sopts := append(append([]otelsession.Option{}, opts...), otelsession.WithName(name), otelsession.WithTags(tags...))
	if cfg.Content > 0 {
		sopts = append(sopts, otelsession.WithContentCapture(cfg.Content))
	}
	sctx, sess := otelsession.Start(ctx, sopts...)
	truth := SessionTruth{SessionID: sess.ID(), TraceID: sess.TraceID().String(), Name: name, Tags: tags, SpanCount: 1}
	t.truth = &truth

	var err error
	if i%malformedAgentEvery == 0 {
		err = t.malformedAgent(sctx, sess)
	}
	if err == nil {
		err = t.run(sctx, sess, nAgents, perm)
	}
	if err != nil {
		truth.EndState, truth.EndReason = string(otelsession.Fail), err.Error()
		_ = sess.End(otelsession.Fail, err.Error())
	} else {
		truth.EndState = string(otelsession.Success)
		_ = sess.End(otelsession.Success, "")
	}
	if i%lateEventEvery == 1 {
		t.event(sctx, otelsession.Event{Type: lateEventType}, "")
	}
	for _, a := range truth.Agents {
		truth.LLMCalls += a.LLMCalls
		truth.ToolCalls += a.ToolCalls
		truth.InputTokens += a.InputTokens
		truth.OutputTokens += a.OutputTokens
		truth.ErrorCount += a.Errors
		truth.ErrorEvents += a.ErrorEvents
	}
	truth.EventCount = len(truth.Events)
	return truth
}

// event records ev and its truth: the event when accepted, the refusal
// otherwise.
func (t *task) event(ctx context.Context, ev otelsession.Event, agentID string) {
	err := otelsession.RecordEvent(ctx, ev)
	if err != nil {
		t.truth.Refused = append(t.truth.Refused, RefusalTruth{Call: CallRecordEvent, Reason: refusalReason(err)})
		return
	}
	kind := ev.Kind
	if kind == "" {
		kind = otelsession.KindEvent
	}
	t.truth.Events = append(t.truth.Events, EventTruth{Type: ev.Type, Kind: string(kind), AgentID: agentID})
}

// malformedAgent starts an agent with an ID that is not a UUID, which the
// library refuses (nothing is created). Were it accepted, the task fails
// saying so, and its agent span, absent from the truth, shows downstream.
func (t *task) malformedAgent(ctx context.Context, sess *otelsession.Session) error {
	_, agent, err := sess.StartAgent(ctx, "auditor", otelsession.WithAgentID(malformedAgentID))
	if err == nil {
		agent.End(nil)
		return fmt.Errorf("agent ID %q was accepted", malformedAgentID)
	}
	t.truth.Refused = append(t.truth.Refused, RefusalTruth{Call: CallStartAgent, Reason: refusalReason(err)})
	return nil
}

// refusalReason names why the library refused a call: for events, the
// error.type crewtrace.events.rejected counts it under.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, otelsession.ErrInvalidAgentID):
		return ReasonInvalidAgentID
	case errors.Is(err, otelsession.ErrSessionEnded):
		return semconv.EventRejectSessionEnded
	case errors.Is(err, otelsession.ErrNoSession):
		return semconv.EventRejectNoSession
	default:
		return err.Error()
	}
}

func (t *task) errorEvent(ctx context.Context, typ string, err error, a *AgentTruth) {
	if otelsession.RecordError(ctx, typ, err) == nil {
		t.truth.Events = append(t.truth.Events, EventTruth{Type: typ, Kind: string(otelsession.KindError), AgentID: a.ID})
		a.Errors++
		a.ErrorEvents++
	}
}

func (t *task) run(ctx context.Context, sess *otelsession.Session, nAgents int, perm []int) error {
	t.event(ctx, otelsession.Event{Type: "task_received", Params: map[string]any{"agents": nAgents, "name": sess.Name()}}, "")
	for k := range nAgents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.agent(ctx, sess, roles[perm[k]], k == t.failAt); err != nil {
			return err
		}
	}
	t.event(ctx, otelsession.Event{Type: "task_completed", Returns: "ok"}, "")
	return nil
}

func (t *task) agent(ctx context.Context, sess *otelsession.Session, role string, fails bool) (err error) {
	actx, agent, err := sess.StartAgent(ctx, role)
	if err != nil {
		return fmt.Errorf("start agent %s: %w", role, err)
	}
	t.truth.SpanCount++
	t.truth.Agents = append(t.truth.Agents, AgentTruth{ID: agent.ID(), Name: role})
	a := &t.truth.Agents[len(t.truth.Agents)-1]
	defer func() {
		if err != nil {
			a.ErrorSpans++
			if a.ErrorEvents == 0 {
				a.Errors++ // its span's error carries no error event: one error by itself
			}
		}
		agent.End(err)
	}()

	t.event(actx, otelsession.Event{Type: "thought", Returns: role + " is thinking", Params: map[string]any{"role": role}}, a.ID)
	calls := 1 + t.rng.IntN(3)
	for c := range calls {
		if err := ctx.Err(); err != nil {
			return err
		}
		last := c == calls-1
		if err := t.llm(actx, a, fails && last); err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		for range t.rng.IntN(2) {
			t.tool(actx, a)
		}
	}
	return nil
}

func (t *task) llm(ctx context.Context, a *AgentTruth, fails bool) error {
	m := models[t.rng.IntN(len(models))]
	in, out := 50+t.rng.IntN(1950), 10+t.rng.IntN(790)
	finish := "stop"
	if t.rng.IntN(10) == 0 {
		finish = "length"
	}
	latency := t.latency()
	_, call, err := otelsession.StartLLMCall(ctx, otelsession.LLMRequest{Provider: m.provider, Model: m.model,
		Prompt: fmt.Sprintf("You are the %s. Continue the task.", a.Name)})
	if err != nil {
		return err
	}
	t.truth.SpanCount++
	a.LLMCalls++
	mt := t.modelTruth(m.provider, m.model)
	mt.LLMCalls++
	time.Sleep(latency)
	if fails {
		err := errors.New(t.failErr)
		call.End(otelsession.LLMResponse{}, err)
		a.ErrorSpans++
		a.Errors++ // the call's span ended with the error and carries no error event
		t.errorEvent(ctx, "llm_error", err, a)
		return err
	}
	call.End(otelsession.LLMResponse{ResponseModel: m.model, ResponseID: fmt.Sprintf("resp-%x", t.rng.Uint32()),
		InputTokens: in, OutputTokens: out, FinishReasons: []string{finish},
		Completion: fmt.Sprintf("(%d tokens of %s output)", out, m.model)}, nil)
	a.InputTokens += in
	a.OutputTokens += out
	mt.InputTokens += in
	mt.OutputTokens += out
	return nil
}

// modelTruth returns the session's truth of one provider and model,
// adding it on its first call.
func (t *task) modelTruth(provider, model string) *ModelTruth {
	for i := range t.truth.Models {
		if m := &t.truth.Models[i]; m.Provider == provider && m.Model == model {
			return m
		}
	}
	t.truth.Models = append(t.truth.Models, ModelTruth{Provider: provider, Model: model})
	return &t.truth.Models[len(t.truth.Models)-1]
}

func (t *task) tool(ctx context.Context, a *AgentTruth) {
	name := tools[t.rng.IntN(len(tools))]
	flaky := t.rng.IntN(8) == 0
	latency := t.latency()
	callID := fmt.Sprintf("call_%x", t.rng.Uint32())
	_, call, err := otelsession.StartToolCall(ctx, name, otelsession.WithToolCallID(callID), otelsession.WithToolArguments(`{"q":"`+a.Name+`"}`))
	if err != nil {
		return
	}
	t.truth.SpanCount++
	a.ToolCalls++
	time.Sleep(latency)
	t.event(ctx, otelsession.Event{Type: "use_tool", Kind: otelsession.KindAction, Params: map[string]any{"tool": name, "call_id": callID}}, a.ID)
	if flaky {
		call.End("", errToolFlaky)
		a.ErrorSpans++
		a.Errors++ // the call's span ended with the error and carries no error event
		t.errorEvent(ctx, "tool_error", errToolFlaky, a)
		return
	}
	call.End("ok", nil)
}

func (t *task) latency() time.Duration {
	if t.cfg.MaxLatency <= 0 {
		return 0
	}
	return time.Duration(t.rng.Int64N(int64(t.cfg.MaxLatency)))
}

// lineWriter serialises summary lines from concurrent tasks.
func lineWriter(w io.Writer) func(string) {
	var mu sync.Mutex
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(w, s)
	}
}
