package otelsession

import (
	"sync/atomic"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/semconv"
)

// StillRunningReason is the status description of an agent, LLM call or
// tool call that was still open when its session ended: End ends it with
// status Error and error.type "still_running" (semconv.ErrorTypeStillRunning),
// so it is neither lost nor mistaken for a success. When the session ended
// on a panic, the panic follows in parentheses.
const StillRunningReason = "still running when the session ended"

// child is what the session's agents, LLM calls and tool calls share: their
// span, whether it has ended, and their links in the session's list of open
// children, which End walks to end whatever is still running.
//
// The list costs one uncontended lock to join at start and one to leave at
// end; BenchmarkSessionPaired includes both.
type child struct {
	span  trace.Span
	ended atomic.Bool
	// prev, next link the child into Session.open, under Session.openMu.
	prev, next *child
}

// track links c into s's open children. It returns false, linking nothing,
// when End has already taken the list: the caller then ends c itself.
func (s *Session) track(c *child) bool {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return false
	}
	c.next = s.open
	if c.next != nil {
		c.next.prev = c
	}
	s.open = c
	return true
}

// untrack unlinks c, which has ended. Once End took the list (closed), the
// list is End's alone and stays untouched.
func (s *Session) untrack(c *child) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else if s.open == c {
		s.open = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
}

// endOpen ends every child still open, newest first (a tool call before
// the agent it runs in), with status Error and reason, and closes the list
// to children that start later.
func (s *Session) endOpen(reason string) {
	s.openMu.Lock()
	c := s.open
	s.open, s.closed = nil, true
	s.openMu.Unlock()
	for ; c != nil; c = c.next {
		c.endStillRunning(reason)
	}
}

// endStillRunning ends c, unless it ended already, as a child its session
// outlived: error.type still_running, status Error with reason.
func (c *child) endStillRunning(reason string) {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	c.span.SetAttributes(semconv.ErrorTypeKey.String(semconv.ErrorTypeStillRunning))
	c.span.SetStatus(codes.Error, reason)
	c.span.End()
}
