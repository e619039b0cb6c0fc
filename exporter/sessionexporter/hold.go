package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// With scale_out, a ConsumeTraces call returns only once every trace it
// carried has been settled — its record queued, or the trace ignored — so
// that the kafka receiver (message_marking.after) marks, and commits, a
// message's offset only when nothing of it waits in this collector's
// memory:
//
//	ConsumeTraces ─▶ buffer.AddHolding ── under the buffer's lock ──▶ holds.add(step, pending traces)
//	      │                                                                  │
//	      ▼ waits: settled, or ctx done (partition revoked: the message is   │
//	        not marked, its next owner reads it again)                       │
//	ticker ─▶ buffer.Tick (step k) ─▶ emit: records queued ─▶ holds.settle(k, emitted and released traces)
//
// A batch of step k settles the holds of steps below k only: a batch built
// before the spans arrived cannot release them. Registering under the
// buffer's lock means no later batch can be built, and settle, before the
// hold exists.

// errHoldClosed is returned by a held call when the exporter shuts down.
var errHoldClosed = errors.New("exporter shutting down before the trace's record was written")

// hold is one waiting ConsumeTraces call.
type hold struct {
	step   uint64
	traces []pcommon.TraceID
	left   int           // traces not yet settled; under holds.mu
	done   chan struct{} // closed when left reaches 0 or on close
	err    error         // set before done is closed by close
}

// holds is the registry of waiting calls by trace.
type holds struct {
	mu     sync.Mutex
	byID   map[pcommon.TraceID][]*hold
	closed bool
}

func newHolds() *holds {
	return &holds{byID: make(map[pcommon.TraceID][]*hold)}
}

// add registers a call of step that waits for the pending traces; nil when
// there is nothing to wait for.
func (h *holds) add(step uint64, pending []pcommon.TraceID) *hold {
	if len(pending) == 0 {
		return nil
	}
	w := &hold{step: step, traces: pending, left: len(pending), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		w.err = errHoldClosed
		close(w.done)
		return w
	}
	for _, tid := range pending {
		h.byID[tid] = append(h.byID[tid], w)
	}
	return w
}

// settle releases, for each trace, the holds registered by steps below step.
func (h *holds) settle(step uint64, traces []pcommon.TraceID) {
	if len(traces) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tid := range traces {
		ws := h.byID[tid]
		if len(ws) == 0 {
			continue
		}
		kept := ws[:0]
		for _, w := range ws {
			if w.step >= step {
				kept = append(kept, w)
				continue
			}
			if w.left--; w.left == 0 {
				close(w.done)
			}
		}
		if len(kept) == 0 {
			delete(h.byID, tid)
		} else {
			clear(ws[len(kept):])
			h.byID[tid] = kept
		}
	}
}

// cancel forgets a call that stopped waiting (its context ended).
func (h *holds) cancel(w *hold) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tid := range w.traces {
		ws := h.byID[tid]
		i := 0
		for _, x := range ws {
			if x != w {
				ws[i] = x
				i++
			}
		}
		clear(ws[i:])
		if i == 0 {
			delete(h.byID, tid)
		} else {
			h.byID[tid] = ws[:i]
		}
	}
}

// close releases every waiting call with errHoldClosed; later adds return
// at once with it.
func (h *holds) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	seen := make(map[*hold]struct{})
	for _, ws := range h.byID {
		for _, w := range ws {
			if _, ok := seen[w]; ok {
				continue
			}
			seen[w] = struct{}{}
			w.err = errHoldClosed
			close(w.done)
		}
	}
	clear(h.byID)
}

// waiting returns the number of calls waiting.
func (h *holds) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[*hold]struct{})
	for _, ws := range h.byID {
		for _, w := range ws {
			seen[w] = struct{}{}
		}
	}
	return len(seen)
}
