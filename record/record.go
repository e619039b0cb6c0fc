// Package record defines the session record: the versioned JSON document the
// session exporter writes, one per trace of a session (and one more per
// revision). Traces that share a session ID are one session: a store
// combines a session's records (see SessionID).
// Everything that reads records — the stores, the viewer, a consumer of the
// HTTP sink written in Go — decodes them with this package.
//
// The schema is versioned by SchemaVersion. Adding an optional field keeps the
// version; renaming, removing or changing the meaning of a field bumps it.
// Decode reads every version ever written (see Encoded.Decode).
// Records are keyed by SessionID, TraceID and Revision: a sink that stores
// records keeps, per trace of a session, the one with the highest revision,
// which makes replays and retries idempotent.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SchemaVersion is the version of the record schema written in every record.
//
//   - 1: the first schema.
//   - 2: error_count removed; counts.errors holds the same number. Added:
//     source; tokens.cache_read, cache_write and reasoning (in every tokens
//     object); models; tools; the optional truncated object. A version 2
//     record without them reads them as zero and empty. Also added within
//     version 2 (optional, omitted when empty): events_refused, spans and
//     truncated.spans; cost on the record, on each agent and each model;
//     tokens.cache_write_1h.
const SchemaVersion = 2

// Flush reasons: why a record was emitted when it was.
const (
	// FlushGracePeriod: the root arrived and grace_period passed with no new span.
	FlushGracePeriod = "grace_period"
	// FlushSessionTimeout: no root arrived within session_timeout of the last span.
	FlushSessionTimeout = "session_timeout"
	// FlushLimit: the session was the oldest when max_sessions or max_spans was reached.
	FlushLimit = "limit"
	// FlushShutdown: the exporter shut down while the session was buffered.
	FlushShutdown = "shutdown"
)

// Record is one session, summarised from all of its spans.
type Record struct {
	// SchemaVersion is SchemaVersion at the time of writing.
	SchemaVersion int `json:"schema_version"`
	// SessionID is the session ID the trace's spans carry, in any
	// convention (session.id, gen_ai.conversation.id, langfuse.session.id,
	// an OpenLLMetry association property or AI SDK metadata entry named
	// session_id, sessionId ...); the root span's when spans disagree; the
	// trace ID in hex when no span carries one. Records of several traces
	// with one SessionID are one session.
	SessionID string `json:"session_id"`
	// Revision is 0 for the first record of a trace and +1 for every later one.
	Revision int `json:"revision"`
	// TraceID is the trace's ID in lowercase hex: the record covers this trace.
	TraceID string `json:"trace_id"`
	// Source names the instrumentation convention the trace was read in:
	// crewtrace, otel_genai, openinference, openllmetry, langfuse,
	// vercel_ai; empty when no span was in any.
	Source string `json:"source"`
	// Name is the session name: crewtrace.session.name on a crewtrace
	// session span, else the name the root span states in its convention
	// (gen_ai.workflow.name, traceloop.workflow.name, langfuse.trace.name,
	// ai.telemetry.functionId), else its agent's name, else its span name.
	Name string `json:"name"`
	// Tags are the session tags (crewtrace.session.tags), never null.
	Tags []string `json:"tags"`
	// StartTime is the earliest span start.
	StartTime time.Time `json:"start_time"`
	// EndTime is the latest span end.
	EndTime time.Time `json:"end_time"`
	// DurationMs is EndTime-StartTime in milliseconds.
	DurationMs float64 `json:"duration_ms"`
	// EndState is Success, Fail or Indeterminate: crewtrace's end state on
	// its session span; for other conventions Fail when the root span or an
	// agent span failed, else Success; Indeterminate without a root.
	EndState string `json:"end_state"`
	// EndReason is the reason given at session end, the failed span's error
	// for other conventions (or why the state is unknown).
	EndReason string `json:"end_reason"`
	// Complete is true when the session root span was received.
	Complete bool `json:"complete"`
	// FlushReason says why the record was emitted when it was (Flush* constants).
	FlushReason string `json:"flush_reason"`
	// EmittedAt is when the exporter emitted this revision.
	EmittedAt time.Time `json:"emitted_at"`
	// Resource holds the resource attributes of the root span (service.name ...).
	Resource map[string]any `json:"resource"`
	// SpanCount is the number of distinct spans in the session.
	SpanCount int `json:"span_count"`
	// Counts counts spans and events by kind.
	Counts Counts `json:"counts"`
	// Tokens totals token usage over all LLM spans.
	Tokens Tokens `json:"tokens"`
	// Cost totals the cost of the LLM calls (see Cost); nil (omitted) when
	// the exporter prices nothing (pricing off).
	Cost *Cost `json:"cost,omitempty"`
	// Agents lists the session's agents in order of first start.
	Agents []Agent `json:"agents"`
	// Models lists the models the LLM calls used, in order of first
	// arrival, with each one's calls and tokens (at most 64 models; LLM
	// calls with a model beyond them or with none count in Counts only).
	Models []Model `json:"models"`
	// Tools lists the tools called, in order of first arrival.
	Tools []Tool `json:"tools"`
	// Events lists the session events in time order.
	Events []Event `json:"events"`
	// EventsRefused is the number of events the library refused while the
	// session was open (crewtrace.session.events_refused on a crewtrace
	// session span); omitted when zero or not stated.
	EventsRefused int64 `json:"events_refused,omitempty"`
	// Spans lists the trace's spans in order of start, for a waterfall that
	// needs no trace backend: at most the exporter's max_record_spans of
	// them (Truncated.Spans counts the others); omitted when the exporter
	// lists none.
	Spans []Span `json:"spans,omitempty"`
	// TraceURL links to the trace in the Jaeger UI; empty when no base is configured.
	TraceURL string `json:"trace_url,omitempty"`
	// Truncated counts what the exporter's limits cut from the session's
	// spans; nil (omitted) when they cut nothing.
	Truncated *Truncated `json:"truncated,omitempty"`
	// Fragment names the collector run that assembled this record when
	// several collectors share a trace's spans (the exporter's scale_out
	// section): a store keeps each fragment's highest revision and counts
	// the fragment with most spans. Empty (omitted) for a single collector:
	// the record is the whole trace.
	Fragment string `json:"fragment,omitempty"`
}

// Truncated counts what a session lost to the exporter's limits on client
// values, so a reader knows the record is not the whole of what was sent.
type Truncated struct {
	// Values is the number of strings (attribute values and keys, event
	// fields, tags) cut to max_attribute_bytes.
	Values int `json:"values"`
	// Events is the number of session events dropped from spans that carried
	// more than max_events_per_span.
	Events int `json:"events"`
	// Spans is the number of spans left out of Record.Spans beyond
	// max_record_spans (they still count everywhere else).
	Spans int `json:"spans,omitempty"`
}

// Span kinds of a Span.
const (
	SpanSession  = "session"  // crewtrace's session span
	SpanAgent    = "agent"    // an agent span, in any convention
	SpanLLM      = "llm"      // an LLM call
	SpanTool     = "tool"     // a tool call
	SpanWorkflow = "workflow" // another convention's workflow span
	SpanOther    = "other"    // any other span
)

// Span is one span of a session's trace, compact: what a waterfall shows
// and a click on it details. Attributes beyond these stay in the trace
// backend.
type Span struct {
	// ID is the span ID in lowercase hex.
	ID string `json:"id"`
	// ParentID is the parent span ID in lowercase hex; omitted for a root.
	// The parent may be missing from Spans (not received, or cut).
	ParentID string `json:"parent_id,omitempty"`
	// Kind is one of the Span* kinds.
	Kind string `json:"kind"`
	// Name is the span's name.
	Name string `json:"name"`
	// StartUs is the span's start, in microseconds after the record's
	// StartTime; DurationUs its duration. Both are 0 for a span whose
	// times were unusable.
	StartUs    int64 `json:"start_us"`
	DurationUs int64 `json:"duration_us"`
	// Error is true for a span with status Error (or its convention's
	// error level); Message says why, when known.
	Error   bool   `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// Agent is the index in Record.Agents of the agent the span belongs to,
	// -1 for none.
	Agent int `json:"agent"`
	// Model is the model of an LLM call (the response model, else the
	// request model).
	Model string `json:"model,omitempty"`
	// Tokens is an LLM call's token usage.
	Tokens *Tokens `json:"tokens,omitempty"`
	// Tool is the tool of a tool call.
	Tool string `json:"tool,omitempty"`
	// Events are the indices in Record.Events of the events on this span.
	Events []int `json:"events,omitempty"`
}

// Counts counts a session's (or an agent's) spans and events by kind.
type Counts struct {
	// Agents is the number of agent spans.
	Agents int `json:"agents"`
	// LLMCalls is the number of LLM spans.
	LLMCalls int `json:"llm_calls"`
	// ToolCalls is the number of tool spans.
	ToolCalls int `json:"tool_calls"`
	// Events is the number of events of kind "event" only (actions and
	// errors are counted apart).
	Events int `json:"events"`
	// Actions is the number of events of kind "action".
	Actions int `json:"actions"`
	// Errors is the number of error events, plus spans (other than the root)
	// with status Error that carry no error event.
	Errors int `json:"errors"`
}

// Tokens totals token usage over LLM spans, in the GenAI convention's terms
// whatever the convention read.
type Tokens struct {
	// Input is the sum of input tokens (gen_ai.usage.input_tokens), cache
	// reads and writes included.
	Input int64 `json:"input"`
	// Output is the sum of output tokens (gen_ai.usage.output_tokens),
	// reasoning included.
	Output int64 `json:"output"`
	// Total is Input+Output.
	Total int64 `json:"total"`
	// CacheRead is the part of Input served from a provider cache.
	CacheRead int64 `json:"cache_read"`
	// CacheWrite is the part of Input written to a provider cache.
	CacheWrite int64 `json:"cache_write"`
	// Reasoning is the part of Output spent on reasoning.
	Reasoning int64 `json:"reasoning"`
	// CacheWrite1h is the part of CacheWrite written with a one-hour cache
	// lifetime (priced apart by Anthropic); omitted when 0.
	CacheWrite1h int64 `json:"cache_write_1h,omitempty"`
}

// Currency is the currency of every cost: US dollars.
const Currency = "USD"

// Cost is the cost of a set of LLM calls (a session's, an agent's, a
// model's). Each call is priced once, where its span passes the exporter: a
// cost the span reports (crewtrace.usage.cost, gen_ai.usage.cost, Langfuse's
// cost details) is taken as is; otherwise the exporter's price table prices
// its tokens at the call's start time; a call the table cannot price (an
// unknown model, a price the table lacks) is counted as unpriced and adds
// nothing: USD is then a lower bound, never a silent $0.
type Cost struct {
	// USD is the total, in US dollars: ReportedUSD plus the priced calls' cost.
	USD float64 `json:"usd"`
	// Currency is Currency (on the record's cost only).
	Currency string `json:"currency,omitempty"`
	// PriceTable is the version of the price table that priced the calls
	// (on the record's cost only).
	PriceTable string `json:"price_table,omitempty"`
	// PricedCalls counts the calls priced from the price table.
	PricedCalls int `json:"priced_calls"`
	// ReportedCalls counts the calls whose span reported their cost.
	ReportedCalls int `json:"reported_calls"`
	// ReportedUSD is the part of USD the spans reported.
	ReportedUSD float64 `json:"reported_usd"`
	// UnpricedCalls counts the calls that are neither: their cost is unknown.
	UnpricedCalls int `json:"unpriced_calls"`
	// UnpricedModels names the models of the unpriced calls, as
	// "provider/model" ("model" without a provider), sorted (on the
	// record's cost only; calls without a model name are counted, not named).
	UnpricedModels []string `json:"unpriced_models,omitempty"`
}

// Complete reports whether every call is priced or reported.
func (c *Cost) Complete() bool { return c == nil || c.UnpricedCalls == 0 }

// Model is the rollup of the LLM calls that used one model.
type Model struct {
	// Provider is gen_ai.provider.name (or the convention's provider key).
	Provider string `json:"provider"`
	// Model is the response model, else the request model.
	Model string `json:"model"`
	// LLMCalls is the number of LLM spans with this provider and model.
	LLMCalls int `json:"llm_calls"`
	// Tokens totals their token usage.
	Tokens Tokens `json:"tokens"`
	// Cost totals their cost; nil when pricing is off.
	Cost *Cost `json:"cost,omitempty"`
}

// Tool is the rollup of one tool's calls.
type Tool struct {
	// Name is gen_ai.tool.name (or the convention's tool name).
	Name string `json:"name"`
	// Calls is the number of tool spans with this name.
	Calls int `json:"calls"`
	// Errors counts the errors of those spans, as Counts.Errors.
	Errors int `json:"errors"`
}

// Agent is the rollup of one agent's spans (the agent span and its descendants
// up to the next agent span).
type Agent struct {
	// ID is gen_ai.agent.id.
	ID string `json:"id"`
	// Name is gen_ai.agent.name.
	Name string `json:"name"`
	// SpanCount is the number of spans attributed to the agent, its own included.
	SpanCount int `json:"span_count"`
	// LLMCalls is the number of LLM spans attributed to the agent.
	LLMCalls int `json:"llm_calls"`
	// ToolCalls is the number of tool spans attributed to the agent.
	ToolCalls int `json:"tool_calls"`
	// Tokens totals the agent's token usage.
	Tokens Tokens `json:"tokens"`
	// Cost totals the cost of the agent's LLM calls; nil when pricing is off.
	Cost *Cost `json:"cost,omitempty"`
	// Errors counts the agent's errors, as Counts.Errors.
	Errors int `json:"errors"`
}

// Event is one session event (crewtrace.event.kind on a span event).
type Event struct {
	// Kind is event, action or error.
	Kind string `json:"kind"`
	// Type is crewtrace.event.type.
	Type string `json:"type"`
	// Time is the event timestamp.
	Time time.Time `json:"time"`
	// AgentID and AgentName name the agent the event happened under, if any.
	AgentID string `json:"agent_id,omitempty"`
	// AgentName is the name of that agent.
	AgentName string `json:"agent_name,omitempty"`
	// Returns is crewtrace.event.returns.
	Returns string `json:"returns,omitempty"`
	// Params holds the crewtrace.event.param.<name> attributes by name.
	Params map[string]any `json:"params,omitempty"`
	// ErrorType is error.type or exception.type on error events.
	ErrorType string `json:"error_type,omitempty"`
	// Message is exception.message on error events.
	Message string `json:"message,omitempty"`
}

// Partial reports whether the record was flushed before its session was
// known to be finished (at a limit or at shutdown).
func (r *Record) Partial() bool {
	return r.FlushReason == FlushLimit || r.FlushReason == FlushShutdown
}

// Encoded is a record in its wire form, with the keys a sink needs for
// idempotent storage. Records are encoded once, when emitted; sinks write
// JSON as is and call Decode only when they need the fields.
type Encoded struct {
	// SessionID is Record.SessionID.
	SessionID string
	// Revision is Record.Revision.
	Revision int
	// JSON is the record as one line of JSON, without a trailing newline.
	JSON []byte
}

// ErrInvalid is returned by Decode for a document that is not a record of a
// known schema version.
var ErrInvalid = errors.New("invalid session record")

// Encode renders r as an Encoded record.
func Encode(r *Record) (Encoded, error) {
	var e Encoder
	b, err := e.Encode(r)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{SessionID: r.SessionID, Revision: r.Revision, JSON: slices.Clone(b)}, nil
}

// wire is a record as any version wrote it: the current fields, plus those
// of older versions that the current schema dropped.
type wire struct {
	Record
	// ErrorCount is version 1's error_count, the same number as counts.errors.
	ErrorCount int `json:"error_count"`
}

// Decode parses the record's JSON, of any schema version from 1 to
// SchemaVersion. SchemaVersion stays as written; a field the version does
// not have is zero, and a version 1 error_count fills Counts.Errors when
// that is zero.
func (e Encoded) Decode() (Record, error) {
	var w wire
	if err := json.Unmarshal(e.JSON, &w); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r := w.Record
	if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
		return Record{}, fmt.Errorf("%w: schema_version %d", ErrInvalid, r.SchemaVersion)
	}
	if r.SchemaVersion == 1 && r.Counts.Errors == 0 {
		r.Counts.Errors = w.ErrorCount
	}
	return r, nil
}
