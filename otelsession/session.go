package otelsession

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// EndState is how a session ended, as AgentOps names it.
type EndState string

// The end states a session may end with.
const (
	// Success: the session's task completed.
	Success EndState = semconv.EndStateSuccess
	// Fail: the session's task failed; the session span's status is Error.
	Fail EndState = semconv.EndStateFail
	// Indeterminate: the outcome is unknown, e.g. the process exited
	// before the session was ended (see Shutdown).
	Indeterminate EndState = semconv.EndStateIndeterminate
)

// Valid reports whether s is one of Success, Fail and Indeterminate.
func (s EndState) Valid() bool {
	return s == Success || s == Fail || s == Indeterminate
}

// ShutdownReason is the end reason Shutdown gives the sessions it ends.
const ShutdownReason = "process exited without ending the session"

// Session is one observed task: the root span of its own trace and
// everything recorded under it. It is safe for concurrent use. A nil
// *Session is inert: its methods return ErrNoSession or zero values.
type Session struct {
	id         string
	name       string
	attrs      *sessionAttrs // the name's metric attribute sets
	traceID    trace.TraceID
	span       trace.Span
	tracer     trace.Tracer
	tp         trace.TracerProvider
	mp         metric.MeterProvider
	inst       *instruments
	maxContent int
	start      time.Time
	ctx        scopeCtx // the context Start returns
	idBuf      uuidBuf  // id's bytes

	// ended and the ended flags of the session's agents change only under
	// mu; recording an event holds mu for reading, so no event is added to
	// a span after it ended (the SDK would drop it silently). Starting spans
	// only loads the flags.
	mu    sync.RWMutex
	ended atomic.Bool

	// endAttrs holds the attributes End sets (written once, by the End
	// that ends the session): part of the session's allocation.
	endAttrs [3]attribute.KeyValue

	// refused counts the events refused while the session was open (see
	// refuse); End writes it on the session span.
	refused atomic.Int64

	// panicked identifies the panic an EndOnExit of the session recorded
	// (guarded by mu), so that the EndOnExit calls it unwinds through
	// record it once.
	panicked panicKey

	// The agents, LLM and tool calls, ended ones pruned lazily (open.go).
	openMu  sync.Mutex
	open    *child
	openLen int  // children in the list
	pruneAt int  // openLen that triggers the next pruning
	closed  bool // End took the list

	// Links in the registry of open sessions, guarded by registry.mu.
	prev, next *Session

	// sum holds the totals of the end-of-session summary; nil without
	// WithSummary.
	sum *summary
}

// scope is what a context carries: the session and the current agent.
type scope struct {
	sess  *Session
	agent *Agent
	// inTrace: the scope's span (the agent's, else the session's) belongs
	// to the session's trace, so new spans may start right under it.
	inTrace bool
}

type ctxKey struct{}

// scopeCtx is a context carrying a scope. It lives inside the Session or
// Agent it returns, so carrying the scope costs no allocation of its own.
type scopeCtx struct {
	context.Context
	sc scope
}

// Value returns the scope for ctxKey and defers to the parent otherwise.
func (c *scopeCtx) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return &c.sc
	}
	return c.Context.Value(key)
}

func scopeFrom(ctx context.Context) *scope {
	if ctx == nil {
		return nil
	}
	sc, _ := ctx.Value(ctxKey{}).(*scope)
	return sc
}

// FromContext returns the session ctx carries, if any.
func FromContext(ctx context.Context) (*Session, bool) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.sess, true
	}
	return nil, false
}

// Start begins a session and returns a context carrying it.
//
// The session's span "session <name>" is the root of a new trace, even when
// ctx already holds a span (WithLink links the two instead). Start works
// without options: the name is empty, the ID a random UUID and the providers
// the otel globals. It never fails; call End (or defer EndOnExit) on the
// session, or Shutdown before exit.
//
// A session never exports to nowhere in silence: when Start falls back to
// the global TracerProvider and finds a no-op one (the program set none,
// e.g. it never called otelsetup.Setup), it reports ErrNoopTracerProvider
// to otel.Handle, once per process. A provider given with
// WithTracerProvider is taken as the program's choice, no-op or not.
func Start(ctx context.Context, opts ...Option) (context.Context, *Session) {
	if ctx == nil {
		ctx = context.Background()
	}
	var c config
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	global := c.tp == nil
	if global {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if !c.hasID {
		c.id = uuid.New()
	}
	if c.attrs == nil {
		c.attrs = unnamedAttrs
	}
	s := &Session{
		name:       c.name,
		attrs:      c.attrs,
		tracer:     tracerFor(c.tp),
		tp:         c.tp,
		mp:         c.mp,
		inst:       instrumentsFor(c.mp),
		maxContent: c.maxContent,
		sum:        newSummary(c),
	}
	s.id = s.idBuf.format(c.id)
	sb := getScratch()
	attrs := append(sb.attrs[:0], semconv.SessionIDKey.String(s.id), semconv.ConversationIDKey.String(s.id),
		semconv.SpanKindKey.String(semconv.SpanKindSession),
		semconv.OperationNameKey.String(semconv.OperationInvokeWorkflow))
	if c.name != "" {
		attrs = append(attrs, semconv.WorkflowNameKey.String(c.name), semconv.SessionNameKey.String(c.name))
	}
	if len(c.tags) > 0 {
		attrs = append(attrs, semconv.SessionTagsKey.StringSlice(c.tags))
	}
	var startOpts []trace.SpanStartOption
	if c.link.IsValid() {
		startOpts = sb.spanOpts(len(attrs), trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: c.link}))
	} else {
		startOpts = sb.spanOpts(len(attrs), trace.WithNewRoot())
	}
	s.start = time.Now()
	spanName := c.spanName
	if spanName == "" {
		spanName = semconv.SessionSpanName(c.name)
	}
	var parentTrace trace.TraceID
	if global {
		parentTrace = trace.SpanContextFromContext(ctx).TraceID()
	}
	ctx, s.span = s.tracer.Start(ctx, spanName, startOpts...)
	sb.put(len(attrs))
	s.traceID = s.span.SpanContext().TraceID()
	// A real provider starts a new trace (WithNewRoot); a no-op one returns
	// ctx's span context, invalid or the caller's.
	if global && (!s.traceID.IsValid() || s.traceID == parentTrace) {
		warnNoopTracerProvider()
	}

	s.inst.sessionStarted(s.attrs)
	registry.add(s)
	s.ctx = scopeCtx{Context: ctx, sc: scope{sess: s, inTrace: s.traceID.IsValid()}}
	return &s.ctx, s
}

// ID returns the session's UUID (session.id), in canonical string form.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	return s.id
}

// Name returns the session's name.
func (s *Session) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// TraceID returns the ID of the session's trace. It is zero with a no-op
// TracerProvider (e.g. the global one when the program never set one).
func (s *Session) TraceID() trace.TraceID {
	if s == nil {
		return trace.TraceID{}
	}
	return s.traceID
}

// ContentCapture returns the session's content capture limit in bytes (see
// WithContentCapture): 0 when content capture is off, and for a nil
// *Session. Instrumentation can skip building prompt, completion or tool
// content strings when it is 0: the session would drop them anyway.
func (s *Session) ContentCapture() int {
	if s == nil {
		return 0
	}
	return s.maxContent
}

// Ended reports whether the session has ended.
func (s *Session) Ended() bool {
	if s == nil {
		return true
	}
	return s.ended.Load()
}

// End ends the session with state and a free-text reason, recorded as
// crewtrace.session.end_state and crewtrace.session.end_reason. Fail also
// sets the span status to Error with reason as its description.
//
// Agents, LLM calls and tool calls of the session still open are ended
// first, with status Error and StillRunningReason: nothing open vanishes
// from the session. The session span also gets
// crewtrace.session.events_refused, the number of events refused while it
// was open.
//
// Only the first End counts: later calls change nothing and return
// ErrSessionEnded. A state other than Success, Fail or Indeterminate returns
// ErrInvalidEndState and leaves the session open. A call racing with End
// either succeeds or returns ErrSessionEnded; an event is never accepted and
// then lost.
func (s *Session) End(state EndState, reason string) error {
	return s.end(state, reason, StillRunningReason)
}

// end is End, with the reason given to the children still open.
func (s *Session) end(state EndState, reason, childReason string) error {
	if s == nil {
		return ErrNoSession
	}
	if !state.Valid() {
		return fmt.Errorf("%w: %q", ErrInvalidEndState, string(state))
	}
	s.mu.Lock()
	if s.ended.Load() {
		s.mu.Unlock()
		return ErrSessionEnded
	}
	s.ended.Store(true)
	s.mu.Unlock()

	// Nothing is recorded in the session from here on, and a child that
	// starts now finds the list closed and ends itself.
	s.endOpen(childReason)
	attrs := append(s.endAttrs[:0], semconv.SessionEndStateKey.String(string(state)),
		semconv.SessionEventsRefusedKey.Int64(s.refused.Load()))
	if reason != "" {
		attrs = append(attrs, semconv.SessionEndReasonKey.String(reason))
	}
	s.span.SetAttributes(attrs...)
	if state == Fail {
		s.span.SetStatus(codes.Error, reason)
	}
	s.span.End()
	registry.remove(s)
	d := time.Since(s.start)
	s.inst.sessionEnded(s.attrs, state, d)
	if s.sum != nil {
		s.sum.emit(s, state, d)
	}
	return nil
}

// Shutdown ends every session of the process that is still open with
// Indeterminate and ShutdownReason (as AgentOps does at exit), then calls
// ForceFlush on the TracerProviders and MeterProviders those sessions used,
// when they have one. Call it before the program exits and before shutting
// the providers down. It returns the flush errors, joined; ctx bounds the
// flushes. Sessions may be started again afterwards.
func Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	type flusher interface {
		ForceFlush(context.Context) error
	}
	var flush []flusher
	seen := map[any]bool{}
	addFlusher := func(p any) {
		f, ok := p.(flusher)
		if !ok {
			return
		}
		if isPointer(p) {
			if seen[p] {
				return
			}
			seen[p] = true
		}
		flush = append(flush, f)
	}
	for _, s := range registry.snapshot() {
		if s.End(Indeterminate, ShutdownReason) != nil {
			continue // ended concurrently
		}
		addFlusher(s.tp)
		addFlusher(s.mp)
	}
	var errs []error
	for _, f := range flush {
		if err := f.ForceFlush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otelsession: flush: %w", err))
		}
	}
	return errors.Join(errs...)
}

// registry holds the open sessions for Shutdown: an intrusive doubly linked
// list (no allocation, no hashing) under one mutex. (32 shards of it measured
// 1.5 % slower in BenchmarkSessionPaired, a single goroutine's workload.)
var registry sessionRegistry

type sessionRegistry struct {
	mu   sync.Mutex
	head *Session
}

func (r *sessionRegistry) add(s *Session) {
	r.mu.Lock()
	s.next = r.head
	if r.head != nil {
		r.head.prev = s
	}
	r.head = s
	r.mu.Unlock()
}

func (r *sessionRegistry) remove(s *Session) {
	r.mu.Lock()
	if s.prev != nil {
		s.prev.next = s.next
	} else if r.head == s {
		r.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	r.mu.Unlock()
}

func (r *sessionRegistry) snapshot() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Session
	for s := r.head; s != nil; s = s.next {
		out = append(out, s)
	}
	return out
}

// parent returns the context new spans of s start from: ctx itself when its
// current span belongs to the session's trace (an agent, an LLM call or a
// span of the caller), else ctx with fallback as the current span.
func (s *Session) parent(ctx context.Context, fallback trace.Span) context.Context {
	// A context Start or StartAgent returned, unwrapped: its current span
	// is its scope's span, known to be in the trace (no lookup needed).
	if c, ok := ctx.(*scopeCtx); ok && c.sc.sess == s && c.sc.inTrace {
		return ctx
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.TraceID() == s.traceID {
		return ctx
	}
	return trace.ContextWithSpan(ctx, fallback)
}
