package viewer

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// SessionJSON is one session of /api/sessions.
type SessionJSON struct {
	SessionID      string        `json:"session_id"`
	Name           string        `json:"name"`
	Tags           []string      `json:"tags"`
	Service        string        `json:"service"`
	Traces         int           `json:"traces"`
	Start          time.Time     `json:"start"`
	End            time.Time     `json:"end"`
	DurationMs     float64       `json:"duration_ms"`
	EndState       string        `json:"end_state"`
	EndReason      string        `json:"end_reason"`
	Complete       bool          `json:"complete"`
	Spans          int64         `json:"spans"`
	Agents         int64         `json:"agents"`
	LLMCalls       int64         `json:"llm_calls"`
	ToolCalls      int64         `json:"tool_calls"`
	Events         int64         `json:"events"`
	Actions        int64         `json:"actions"`
	Errors         int64         `json:"errors"`
	EventsRecorded int64         `json:"events_recorded"`
	EventsRefused  int64         `json:"events_refused"`
	Tokens         record.Tokens `json:"tokens"`
	// URL is the session's page, relative to the viewer.
	URL string `json:"url"`
}

func sessionJSON(s store.Summary) SessionJSON {
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return SessionJSON{SessionID: s.SessionID, Name: s.Name, Tags: tags, Service: s.Service, Traces: s.Traces,
		Start: s.Start, End: s.End, DurationMs: s.DurationMs, EndState: s.EndState, EndReason: s.EndReason,
		Complete: s.Complete, Spans: s.Spans, Agents: s.Agents, LLMCalls: s.LLMCalls, ToolCalls: s.ToolCalls,
		Events: s.Events, Actions: s.Actions, Errors: s.Errors, EventsRecorded: s.EventsRecorded,
		EventsRefused: s.EventsRefused, Tokens: s.Tokens, URL: sessionURL(s.SessionID)}
}

// ListJSON is the answer of /api/sessions.
type ListJSON struct {
	Sessions []SessionJSON `json:"sessions"`
	// Next is the after= value of the next page; "" on the last page.
	Next string `json:"next"`
}

// DetailJSON is the answer of /api/sessions/{id}.
type DetailJSON struct {
	Session SessionJSON `json:"session"`
	Agents  []AgentJSON `json:"agents"`
	Traces  []TraceJSON `json:"traces"`
}

// AgentJSON is one agent's totals over a session's traces.
type AgentJSON struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Traces    int           `json:"traces"`
	Spans     int64         `json:"spans"`
	LLMCalls  int64         `json:"llm_calls"`
	ToolCalls int64         `json:"tool_calls"`
	Errors    int64         `json:"errors"`
	Tokens    record.Tokens `json:"tokens"`
}

// TraceJSON is one trace of a session with its stored record as is.
type TraceJSON struct {
	TraceID   string          `json:"trace_id"`
	Fragment  string          `json:"fragment,omitempty"`
	Revision  int             `json:"revision"`
	JaegerURL string          `json:"jaeger_url,omitempty"`
	Record    json.RawMessage `json:"record"`
}

// OverviewJSON is the answer of /api/overview.
type OverviewJSON struct {
	From           time.Time     `json:"from"`
	To             time.Time     `json:"to"`
	StepSeconds    float64       `json:"step_seconds"`
	Totals         CountsJSON    `json:"totals"`
	SuccessRate    float64       `json:"success_rate"`
	EventSuccess   float64       `json:"event_success_rate"`
	Durations      DurationsJSON `json:"durations_ms"`
	FailureReasons []ReasonJSON  `json:"failure_reasons"`
	Buckets        []BucketJSON  `json:"buckets"`
}

// CountsJSON counts sessions by end state, with their tokens and events.
type CountsJSON struct {
	Sessions       int64 `json:"sessions"`
	Success        int64 `json:"success"`
	Fail           int64 `json:"fail"`
	Indeterminate  int64 `json:"indeterminate"`
	Other          int64 `json:"other"`
	Complete       int64 `json:"complete"`
	Errors         int64 `json:"with_errors"`
	Tokens         int64 `json:"tokens"`
	EventsRecorded int64 `json:"events_recorded"`
	EventsRefused  int64 `json:"events_refused"`
}

// DurationsJSON are nearest-rank percentiles over Count complete sessions.
type DurationsJSON struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
}

// ReasonJSON is a failure reason and its count.
type ReasonJSON struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// BucketJSON is one bucket of the overview.
type BucketJSON struct {
	Start time.Time `json:"start"`
	CountsJSON
	Concurrent int64 `json:"concurrent"`
}

func countsJSON(c store.Counts) CountsJSON {
	return CountsJSON{Sessions: c.Sessions, Success: c.Success, Fail: c.Fail, Indeterminate: c.Indeterminate,
		Other: c.Other, Complete: c.Complete, Errors: c.Errors, Tokens: c.Tokens,
		EventsRecorded: c.EventsRecorded, EventsRefused: c.EventsRefused}
}

func overviewJSON(o *store.Overview) OverviewJSON {
	out := OverviewJSON{From: o.From, To: o.To, StepSeconds: o.Step.Seconds(), Totals: countsJSON(o.Totals),
		SuccessRate: o.Totals.SuccessRate(), EventSuccess: o.Totals.EventSuccessRate(),
		Durations:      DurationsJSON{Count: o.Durations.Count, P50: o.Durations.P50, P95: o.Durations.P95, P99: o.Durations.P99},
		FailureReasons: []ReasonJSON{}, Buckets: make([]BucketJSON, 0, len(o.Buckets))}
	for _, r := range o.FailureReasons {
		out.FailureReasons = append(out.FailureReasons, ReasonJSON{Reason: r.Reason, Count: r.Count})
	}
	for _, b := range o.Buckets {
		out.Buckets = append(out.Buckets, BucketJSON{Start: b.Start, CountsJSON: countsJSON(b.Counts), Concurrent: b.Concurrent})
	}
	return out
}

func (v *Viewer) apiSessions(w http.ResponseWriter, r *http.Request) {
	_, q, err := parseList(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	page, err := v.cfg.Store.ListSessions(r.Context(), q)
	if err != nil {
		writeError(w, err)
		return
	}
	out := ListJSON{Sessions: make([]SessionJSON, 0, len(page.Sessions)), Next: page.Next}
	for _, s := range page.Sessions {
		out.Sessions = append(out.Sessions, sessionJSON(s))
	}
	writeJSON(w, out)
}

func (v *Viewer) apiSession(w http.ResponseWriter, r *http.Request) {
	s, err := v.cfg.Store.Session(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := DetailJSON{Session: sessionJSON(s.Summary), Agents: []AgentJSON{}, Traces: []TraceJSON{}}
	for _, a := range s.Agents {
		out.Agents = append(out.Agents, AgentJSON{ID: a.ID, Name: a.Name, Traces: a.Traces, Spans: a.Spans,
			LLMCalls: a.LLMCalls, ToolCalls: a.ToolCalls, Errors: a.Errors, Tokens: a.Tokens})
	}
	for _, t := range s.Traces {
		raw := json.RawMessage(t.JSON)
		if !json.Valid(raw) {
			// The stored text is the record the store decoded; re-encode
			// the decoded form rather than pass on what is not JSON.
			if raw, err = json.Marshal(t.Record); err != nil {
				writeError(w, err)
				return
			}
		}
		out.Traces = append(out.Traces, TraceJSON{TraceID: t.Record.TraceID, Fragment: t.Fragment, Revision: t.Revision,
			JaegerURL: v.jaegerTraceURL(t.Record.TraceID), Record: raw})
	}
	writeJSON(w, out)
}

func (v *Viewer) apiOverview(w http.ResponseWriter, r *http.Request) {
	_, q, err := parseOverview(r.URL.Query(), v.cfg.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := v.cfg.Store.Overview(r.Context(), q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, overviewJSON(o))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	// encoding/json escapes <, > and & in strings: the answer is safe even
	// if some client renders it as HTML.
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("crewtrace ui: writing a response: %v", err)
	}
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadQuery), errors.Is(err, store.ErrBadCursor), errors.Is(err, store.ErrInvalidQuery):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrNoJaeger), errors.Is(err, ErrNotInJaeger):
		return http.StatusNotFound
	case errors.Is(err, errJaeger):
		return http.StatusBadGateway
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		log.Printf("crewtrace ui: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
