package otelsession

import (
	"fmt"
	"reflect"
	"runtime/debug"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// maxStackBytes bounds exception.stacktrace. The frames nearest the panic
// come first in a Go stack, so the cut keeps what a reader needs.
const maxStackBytes = 8 << 10

// EndOnExit ends the session from a defer, the try/finally of a crew task:
//
//	func run(ctx context.Context) (err error) {
//		ctx, sess := otelsession.Start(ctx)
//		defer sess.EndOnExit(&err)
//		...
//	}
//
// A panic ends the session Fail with "panic: <value>" as reason, then panics
// again with the same value; the panic is recorded as an error event (see
// Agent.EndOnExit) unless an agent's EndOnExit already recorded it, and the
// agents, LLM and tool calls still open end with StillRunningReason and the
// panic. A non-nil *errp ends the session Fail with the error as reason
// (and the error recorded on the span); otherwise it ends Success. It must
// be called directly by defer. On an ended session it does nothing.
func (s *Session) EndOnExit(errp *error) {
	if r := recover(); r != nil {
		if s != nil {
			msg := panicMessage(r)
			s.mu.Lock()
			if !s.ended.Load() && s.firstRecord(r, msg) {
				s.recordPanic(s.span, msg, debug.Stack())
			}
			s.mu.Unlock()
			_ = s.end(Fail, "panic: "+msg, StillRunningReason+" (panic: "+msg+")")
		}
		panic(r)
	}
	if s == nil {
		return
	}
	if errp != nil && *errp != nil {
		err := *errp
		s.mu.RLock()
		if !s.ended.Load() {
			recordException(s.span, err)
		}
		s.mu.RUnlock()
		msg, _ := errorMessage(err)
		_ = s.end(Fail, msg, StillRunningReason+" ("+msg+")")
		return
	}
	_ = s.End(Success, "")
}

// EndOnExit ends the agent from a defer, as Session.EndOnExit ends a
// session:
//
//	actx, agent, err := sess.StartAgent(ctx, "researcher")
//	if err != nil {
//		return err
//	}
//	defer agent.EndOnExit(&err)
//
// A non-nil *errp ends the agent with that error (as End does); nil ends it
// without one. A panic ends it with status Error, error.type "panic" and
// "panic: <value>" as description, then panics again with the same value.
// The panic is recorded once per session, by the first EndOnExit it unwinds
// through: an error event (the "exception" span event with
// crewtrace.event.kind=error, exception.type "panic", exception.message and
// a stack truncated to 8 KiB in exception.stacktrace), which the session
// record counts as one error. It must be called directly by defer. On an
// ended agent it does nothing.
func (a *Agent) EndOnExit(errp *error) {
	if r := recover(); r != nil {
		if a != nil {
			a.endPanic(r)
		}
		panic(r)
	}
	if a == nil {
		return
	}
	var err error
	if errp != nil {
		err = *errp
	}
	a.End(err)
}

// endPanic ends the agent after a panic with value r.
func (a *Agent) endPanic(r any) {
	s := a.sess
	msg := panicMessage(r)
	s.mu.Lock()
	if !a.ended.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return
	}
	// Under the lock, as every event is added: the session cannot end
	// between the check and the event.
	if !s.ended.Load() && s.firstRecord(r, msg) {
		s.recordPanic(a.span, msg, debug.Stack())
	}
	s.mu.Unlock()
	a.span.SetAttributes(semconv.ErrorTypeKey.String(semconv.ErrorTypePanic))
	a.span.SetStatus(codes.Error, "panic: "+msg)
	a.span.End()
}

// recordPanic adds the error event of a panic to span: OpenTelemetry's
// "exception" event with exception.type "panic", the message and the stack,
// carrying the crewtrace error-event keys, so the record counts it as one
// error event, and counts it on crewtrace.events.recorded.
func (s *Session) recordPanic(span trace.Span, msg string, stack []byte) {
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindError),
		semconv.EventTypeKey.String(semconv.ErrorTypePanic),
		semconv.ExceptionTypeKey.String(semconv.ErrorTypePanic),
		semconv.ExceptionMessageKey.String(msg),
		semconv.ExceptionStacktraceKey.String(truncate(string(stack), maxStackBytes)),
	))
	s.inst.eventRecorded(KindError)
}

// panicMessage renders a panic value: an error's message, else fmt's
// rendering (fmt recovers from panicking String methods).
func panicMessage(r any) string {
	if err, ok := r.(error); ok {
		msg, _ := errorMessage(err)
		return msg
	}
	return fmt.Sprint(r)
}

// firstRecord reports whether the panic r (rendered msg) is not yet
// recorded in s, and notes it as recorded; s.mu must be held. A panic is
// known by its value's type and message: any value can be compared that
// way (comparing two slices with == would panic), and a second panic of the
// same type and message in one session, after the first was recovered, is
// the one case it merges.
func (s *Session) firstRecord(r any, msg string) bool {
	key := panicKey{reflect.TypeOf(r), msg}
	if s.panicked == key {
		return false
	}
	s.panicked = key
	return true
}

// panicKey identifies a panic in a session: its value's type and message.
type panicKey struct {
	typ reflect.Type
	msg string
}
