package otelsession

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// Agent is one agent's turn in a session: an "invoke_agent <name>" span. It
// is safe for concurrent use. A nil *Agent is inert.
type Agent struct {
	child // span, ended (changes under sess.mu), links in sess.open
	id    string
	name  string
	sess  *Session
	ctx   scopeCtx // the context StartAgent returns

	idBuf uuidBuf // id's bytes
}

// StartAgent starts an agent in the session and returns a context carrying
// it: events recorded and LLM or tool calls started with that context belong
// to the agent. The span is a child of ctx's current span when that belongs
// to the session (so agents may nest), else of the session span.
//
// The agent's ID (gen_ai.agent.id) is a random UUID unless WithAgentID gives
// one. Errors, with nothing recorded: an empty name returns ErrInvalidName, an
// ID that is not a UUID ErrInvalidAgentID, an ended session ErrSessionEnded;
// the returned context is then ctx and the agent nil (and inert).
func (s *Session) StartAgent(ctx context.Context, name string, opts ...AgentOption) (context.Context, *Agent, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if s == nil {
		return ctx, nil, ErrNoSession
	}
	if name == "" {
		return ctx, nil, fmt.Errorf("%w: empty agent name", ErrInvalidName)
	}
	var c agentConfig
	if len(opts) > 0 {
		c = newAgentConfig(opts)
	}
	var u uuid.UUID
	if c.hasID { // an explicit empty ID is malformed too: never silently replaced
		var err error
		if u, err = uuid.Parse(c.id); err != nil {
			return ctx, nil, fmt.Errorf("%w: %q: %w", ErrInvalidAgentID, c.id, err)
		}
	} else {
		u = uuid.New()
	}

	// Starting a span needs no lock: a span started while End runs is
	// still exported (it merely starts after its parent ended).
	if s.ended.Load() {
		return ctx, nil, ErrSessionEnded
	}
	ctx0 := ctx
	a := &Agent{name: name, sess: s}
	id := a.idBuf.format(u)
	a.id = id
	sb := getScratch()
	attrs := append(sb.attrs[:0],
		semconv.SessionIDKey.String(s.id), semconv.ConversationIDKey.String(s.id),
		semconv.SpanKindKey.String(semconv.SpanKindAgent),
		semconv.OperationNameKey.String(semconv.OperationInvokeAgent),
		semconv.AgentNameKey.String(name),
		semconv.AgentIDKey.String(id),
	)
	ctx, a.span = s.tracer.Start(s.parent(ctx, s.span), names.get(nameAgentSpan, "", name), sb.spanOpts(len(attrs))...)
	sb.put(len(attrs))
	if !s.track(&a.child) { // End ran since the check above
		a.endStillRunning(StillRunningReason)
		return ctx0, nil, ErrSessionEnded
	}
	s.inst.agents.Add(context.Background(), 1)
	inTrace := s.traceID.IsValid() && a.span.SpanContext().TraceID() == s.traceID
	a.ctx = scopeCtx{Context: ctx, sc: scope{sess: s, agent: a, inTrace: inTrace}}
	return &a.ctx, a, nil
}

// AgentFromContext returns the current agent ctx carries, if any.
func AgentFromContext(ctx context.Context) (*Agent, bool) {
	if sc := scopeFrom(ctx); sc != nil && sc.agent != nil {
		return sc.agent, true
	}
	return nil, false
}

// ID returns the agent's UUID (gen_ai.agent.id), in canonical string form.
func (a *Agent) ID() string {
	if a == nil {
		return ""
	}
	return a.id
}

// Name returns the agent's name.
func (a *Agent) Name() string {
	if a == nil {
		return ""
	}
	return a.name
}

// Session returns the session the agent belongs to.
func (a *Agent) Session() *Session {
	if a == nil {
		return nil
	}
	return a.sess
}

// End ends the agent's span. A non-nil err is recorded on it (an exception
// event, error.type, status Error). Only the first call counts; an agent
// still open when its session ends is ended by the session (see
// StillRunningReason). Events recorded with the agent's context after End go
// to the session span. To end an agent from a defer, panics included, use
// EndOnExit.
func (a *Agent) End(err error) {
	if a == nil {
		return
	}
	s := a.sess
	s.mu.Lock()
	if !a.ended.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if err != nil {
		setError(a.span, err)
		if s.sum != nil {
			s.sum.add(&s.sum.errors)
		}
	}
	a.span.End()
}

// setError records err on span the way OTel conventions ask: an exception
// event, error.type and status Error.
func setError(span trace.Span, err error) {
	msg := recordException(span, err)
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	span.SetStatus(codes.Error, msg)
}

// errorType is the error.type of err (semconv.ErrorType: its ErrorType
// method, else its Go type); the Go type alone if that method panics.
func errorType(err error) (typ string) {
	defer func() {
		if recover() != nil {
			typ = fmt.Sprintf("%T", err)
		}
	}()
	return semconv.ErrorType(err)
}

// errorMessage is err.Error(), or a description when Error panics (a typed
// nil pointer, say): user errors must not crash the program through us.
func errorMessage(err error) (msg string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, ok = fmt.Sprintf("%T (Error panicked: %v)", err, r), false
		}
	}()
	return err.Error(), true
}

// recordException adds OTel's "exception" event for err with opts (the
// event's other attributes), via span.RecordError unless err.Error panics,
// and returns the message.
func recordException(span trace.Span, err error, opts ...trace.EventOption) string {
	msg, ok := errorMessage(err)
	if ok {
		span.RecordError(err, opts...)
		return msg
	}
	opts = append(opts[:len(opts):len(opts)], trace.WithAttributes(
		semconv.ExceptionTypeKey.String(errorType(err)), semconv.ExceptionMessageKey.String(msg)))
	span.AddEvent(semconv.ExceptionEventName, opts...)
	return msg
}
