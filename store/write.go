package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crewtrace/crewtrace/record"
)

// Write stores a batch of records in one transaction.
//
// Each record is one trace of its session (or one fragment of a trace, when
// it names a fragment: see the README). The store keeps, per (session,
// trace, fragment), the record with the highest revision: a record whose
// revision is lower than or equal to the stored one changes nothing, so
// replays and retries never duplicate. The session's summary row is
// recomputed from its trace rows in the same transaction.
//
// Before anything is written, NUL bytes in every stored string, and the
// escapes PostgreSQL's jsonb refuses in the record (\u0000, unpaired
// surrogates), become U+FFFD; indexed columns hold bounded forms of their
// values (see Bounded).
//
// Errors: nil when every record is stored. A *Rejected (errors.Is(err,
// ErrPermanent)) when some records can never be written — they do not
// decode, or the database refuses their data; it names them, and every
// other record of the batch is written. Any other error is retryable
// (database down, busy, timeout): write the same batch again later.
func (s *Store) Write(ctx context.Context, recs []record.Encoded) error {
	if s.cfg.readOnly {
		return ErrReadOnly
	}
	if len(recs) == 0 {
		return nil
	}
	now := s.cfg.now()
	rows := make([]traceRow, 0, len(recs))
	var rejected []rejection
	for i, e := range recs {
		r, err := toRow(e, now)
		if err != nil {
			rejected = append(rejected, rejection{i, e, err})
			continue
		}
		r.index = i
		rows = append(rows, r)
	}
	if len(rows) > 0 {
		if err := s.ensureSchema(ctx); err != nil {
			return err
		}
		err := s.writeTx(ctx, rows)
		switch {
		case err == nil:
		case !s.b.permanent(err):
			return fmt.Errorf("store: write %d records: %w", len(rows), s.redact(err))
		default:
			// One record spoilt the transaction: write them one by one so
			// that only the bad ones are refused.
			for _, r := range rows {
				err := s.writeTx(ctx, []traceRow{r})
				switch {
				case err == nil:
				case s.b.permanent(err):
					rejected = append(rejected, rejection{r.index, recs[r.index], s.redact(err)})
				default:
					// A retry rewrites the records written so far without
					// changing them (same revision) and meets the bad ones again.
					return fmt.Errorf("store: write record of session %s: %w", ShortID(r.sessionID), s.redact(err))
				}
			}
		}
	}
	if len(rejected) == 0 {
		return nil
	}
	slices.SortFunc(rejected, func(a, b rejection) int { return a.index - b.index })
	rj := &Rejected{Total: len(recs), Records: make([]RejectedRecord, len(rejected))}
	for i, b := range rejected {
		var traceID string
		if r, err := b.enc.Decode(); err == nil {
			traceID = r.TraceID
		}
		rj.Records[i] = RejectedRecord{SessionID: b.enc.SessionID, TraceID: traceID, Revision: b.enc.Revision, Err: b.err}
	}
	return rj
}

// rejection is a record of the batch that can never be written.
type rejection struct {
	index int
	enc   record.Encoded
	err   error
}

// writeTx writes rows in one transaction, bounded by the store's timeout.
func (s *Store) writeTx(ctx context.Context, rows []traceRow) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.b.runTx(ctx, planWrite(rows))
}

// traceRow is one record mapped to column values, strings cleaned.
type traceRow struct {
	index                                         int // in the batch
	sessionKey, sessionID, traceID, fragment      string
	revision, schemaVersion                       int64
	source, name, nameKey, tags, service          string
	startUs, endUs, emittedUs, storedUs           int64
	durationMs                                    float64
	endState, endReason, reasonKey, flushReason   string
	complete                                      int64
	spans, agentCount, llm, tool, events, actions int64
	errs, eventsRecorded, eventsRefused           int64
	in, out, total                                int64
	traceURL, search, json                        string
	costUSD, reportedUSD                          float64
	unpriced, costed                              int64
	priceTable                                    string
	agents                                        []agentRow
	models                                        []modelRow
}

type agentRow struct {
	id, name, nameKey        string
	spans, llm, tool, errors int64
	in, out, total           int64
	costUSD                  float64
}

// modelRow is one model of a trace row: its calls, tokens by kind and cost.
type modelRow struct {
	provider, model, modelKey                           string
	calls, in, out, cacheRead, cacheWrite, cacheWrite1h int64
	reasoning, priced, reported, unpriced               int64
	costUSD, reportedUSD                                float64
}

// extras are record fields this store reads that the record package may
// not define yet; each is optional (absent = zero).
type extras struct {
	// EventsRefused counts the events the library refused in the session.
	EventsRefused int64 `json:"events_refused"`
	// Source names the instrumentation convention the record was read from.
	Source string `json:"source"`
	// Fragment identifies the part of a trace this record holds when
	// several collectors assembled parts of one trace ("" = the whole trace).
	Fragment string `json:"fragment"`
}

// maxSearchPart bounds each part (name, tags, service, end reason) of a
// trace's search text: text search looks at the first 256 bytes of each.
const maxSearchPart = 256

// toRow decodes a record and maps it to column values. A record that does
// not decode, or whose keys differ from its JSON's, is invalid for good.
func toRow(e record.Encoded, now time.Time) (traceRow, error) {
	rec, err := e.Decode()
	if err != nil {
		return traceRow{}, err
	}
	if rec.SessionID != e.SessionID || rec.Revision != e.Revision {
		return traceRow{}, fmt.Errorf("%w: keys (%s, %d) differ from the JSON's (%s, %d)",
			record.ErrInvalid, ShortID(e.SessionID), e.Revision, ShortID(rec.SessionID), rec.Revision)
	}
	var x extras
	if err := json.Unmarshal(e.JSON, &x); err != nil {
		return traceRow{}, fmt.Errorf("%w: %w", record.ErrInvalid, err)
	}
	if rec.SessionID == "" {
		return traceRow{}, fmt.Errorf("%w: empty session_id", record.ErrInvalid)
	}
	tags := make([]string, len(rec.Tags))
	for i, t := range rec.Tags {
		tags[i] = clean(t)
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return traceRow{}, fmt.Errorf("%w: tags: %w", record.ErrInvalid, err)
	}
	service, _ := rec.Resource["service.name"].(string)
	sessionID, name, endState, endReason := clean(rec.SessionID), clean(rec.Name), clean(rec.EndState), clean(rec.EndReason)
	service = clean(service)
	complete := int64(0)
	if rec.Complete {
		complete = 1
	}
	r := traceRow{
		sessionKey: Bounded(sessionID), sessionID: sessionID,
		traceID: Bounded(clean(rec.TraceID)), fragment: Bounded(clean(x.Fragment)),
		revision: int64(rec.Revision), schemaVersion: int64(rec.SchemaVersion),
		source: Bounded(clean(x.Source)), name: name, nameKey: Bounded(name),
		tags: string(tagsJSON), service: service,
		startUs: rec.StartTime.UnixMicro(), endUs: rec.EndTime.UnixMicro(),
		emittedUs: rec.EmittedAt.UnixMicro(), storedUs: now.UnixMicro(),
		durationMs: rec.DurationMs,
		endState:   Bounded(endState), endReason: endReason, reasonKey: Bounded(endReason),
		flushReason: Bounded(clean(rec.FlushReason)), complete: complete,
		spans: int64(rec.SpanCount), agentCount: int64(rec.Counts.Agents),
		llm: int64(rec.Counts.LLMCalls), tool: int64(rec.Counts.ToolCalls),
		events: int64(rec.Counts.Events), actions: int64(rec.Counts.Actions),
		errs: int64(rec.Counts.Errors), eventsRecorded: int64(len(rec.Events)),
		eventsRefused: max(x.EventsRefused, 0),
		in:            rec.Tokens.Input, out: rec.Tokens.Output, total: rec.Tokens.Total,
		traceURL: clean(rec.TraceURL),
		search: strings.Join([]string{
			strings.ToLower(capBytes(name, maxSearchPart)),
			strings.ToLower(capBytes(strings.Join(tags, " "), maxSearchPart)),
			strings.ToLower(capBytes(service, maxSearchPart)),
			strings.ToLower(capBytes(endReason, maxSearchPart)),
		}, "\n"),
		json: string(cleanJSON(e.JSON)),
	}
	for _, a := range rec.Agents {
		an := clean(a.Name)
		ar := agentRow{
			id: clean(a.ID), name: an, nameKey: Bounded(an),
			spans: int64(a.SpanCount), llm: int64(a.LLMCalls), tool: int64(a.ToolCalls), errors: int64(a.Errors),
			in: a.Tokens.Input, out: a.Tokens.Output, total: a.Tokens.Total,
		}
		if a.Cost != nil {
			ar.costUSD = finite(a.Cost.USD)
		}
		r.agents = append(r.agents, ar)
	}
	if c := rec.Cost; c != nil {
		r.costUSD, r.reportedUSD, r.unpriced, r.costed = finite(c.USD), finite(c.ReportedUSD), int64(max(c.UnpricedCalls, 0)), 1
		r.priceTable = clean(c.PriceTable)
	}
	for _, m := range rec.Models {
		p, name := clean(m.Provider), clean(m.Model)
		mr := modelRow{
			provider: p, model: name, modelKey: Bounded(p + "/" + name), calls: int64(m.LLMCalls),
			in: m.Tokens.Input, out: m.Tokens.Output, cacheRead: m.Tokens.CacheRead, cacheWrite: m.Tokens.CacheWrite,
			cacheWrite1h: m.Tokens.CacheWrite1h, reasoning: m.Tokens.Reasoning,
		}
		if c := m.Cost; c != nil {
			mr.costUSD, mr.reportedUSD = finite(c.USD), finite(c.ReportedUSD)
			mr.priced, mr.reported, mr.unpriced = int64(c.PricedCalls), int64(c.ReportedCalls), int64(c.UnpricedCalls)
		}
		r.models = append(r.models, mr)
	}
	return r, nil
}

// finite is f, or 0 for NaN and infinities (which no database column takes).
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// The write statements. Both dialects run them as they are: $n parameters,
// INSERT … ON CONFLICT … DO UPDATE with excluded, scalar subqueries.
const (
	// bumpSeq is the first statement of every write transaction. The
	// counter row's lock orders writers (see crewtrace_counters).
	bumpSeq = `UPDATE crewtrace_counters SET value = value + 1 WHERE name = 'seq'`

	// curSeq is this transaction's seq.
	curSeq = `(SELECT value FROM crewtrace_counters WHERE name = 'seq')`

	// upsertTrace stores a record unless its fragment's stored revision is
	// higher or equal.
	upsertTrace = `INSERT INTO crewtrace_traces (
	session_key, trace_id, fragment, session_id, revision, schema_version, source, name, name_key,
	tags, service, start_us, end_us, duration_ms, end_state, end_reason, reason_key, complete,
	flush_reason, emitted_us, span_count, agent_count, llm_calls, tool_calls, event_count,
	action_count, error_count, events_recorded, events_refused, input_tokens, output_tokens,
	total_tokens, trace_url, search, record, stored_us, cost_usd, reported_usd, unpriced_calls,
	price_table, costed, seq, chosen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40,
	$41, ` + curSeq + `, 1)
ON CONFLICT (session_key, trace_id, fragment) DO UPDATE SET
	session_id = excluded.session_id, revision = excluded.revision,
	schema_version = excluded.schema_version, source = excluded.source, name = excluded.name,
	name_key = excluded.name_key, tags = excluded.tags, service = excluded.service,
	start_us = excluded.start_us, end_us = excluded.end_us, duration_ms = excluded.duration_ms,
	end_state = excluded.end_state, end_reason = excluded.end_reason, reason_key = excluded.reason_key,
	complete = excluded.complete, flush_reason = excluded.flush_reason, emitted_us = excluded.emitted_us,
	span_count = excluded.span_count, agent_count = excluded.agent_count, llm_calls = excluded.llm_calls,
	tool_calls = excluded.tool_calls, event_count = excluded.event_count,
	action_count = excluded.action_count, error_count = excluded.error_count,
	events_recorded = excluded.events_recorded, events_refused = excluded.events_refused,
	input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
	total_tokens = excluded.total_tokens, trace_url = excluded.trace_url, search = excluded.search,
	record = excluded.record, stored_us = excluded.stored_us, cost_usd = excluded.cost_usd,
	reported_usd = excluded.reported_usd, unpriced_calls = excluded.unpriced_calls,
	price_table = excluded.price_table, costed = excluded.costed, seq = excluded.seq
WHERE crewtrace_traces.revision < excluded.revision`

	// upsertAgentsHead and upsertAgentsTail enclose the VALUES rows of
	// one record's agents (see upsertAgents): each is stored at the
	// record's revision unless a higher revision's agent holds its place.
	upsertAgentsHead = `INSERT INTO crewtrace_trace_agents (
	session_key, trace_id, fragment, ordinal, revision, agent_id, name, name_key, span_count,
	llm_calls, tool_calls, errors, input_tokens, output_tokens, total_tokens, cost_usd)
VALUES `
	upsertAgentsTail = `
ON CONFLICT (session_key, trace_id, fragment, ordinal) DO UPDATE SET
	revision = excluded.revision, agent_id = excluded.agent_id, name = excluded.name,
	name_key = excluded.name_key, span_count = excluded.span_count, llm_calls = excluded.llm_calls,
	tool_calls = excluded.tool_calls, errors = excluded.errors, input_tokens = excluded.input_tokens,
	output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd
WHERE crewtrace_trace_agents.revision < excluded.revision`

	// upsertModelsHead and upsertModelsTail enclose the VALUES rows of one
	// record's models, stored and replaced by revision as its agents are.
	upsertModelsHead = `INSERT INTO crewtrace_trace_models (
	session_key, trace_id, fragment, ordinal, revision, provider, model, model_key, llm_calls,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
	reasoning_tokens, cost_usd, reported_usd, priced_calls, reported_calls, unpriced_calls)
VALUES `
	upsertModelsTail = `
ON CONFLICT (session_key, trace_id, fragment, ordinal) DO UPDATE SET
	revision = excluded.revision, provider = excluded.provider, model = excluded.model,
	model_key = excluded.model_key, llm_calls = excluded.llm_calls, input_tokens = excluded.input_tokens,
	output_tokens = excluded.output_tokens, cache_read_tokens = excluded.cache_read_tokens,
	cache_write_tokens = excluded.cache_write_tokens, cache_write_1h_tokens = excluded.cache_write_1h_tokens,
	reasoning_tokens = excluded.reasoning_tokens, cost_usd = excluded.cost_usd,
	reported_usd = excluded.reported_usd, priced_calls = excluded.priced_calls,
	reported_calls = excluded.reported_calls, unpriced_calls = excluded.unpriced_calls
WHERE crewtrace_trace_models.revision < excluded.revision`

	// deleteStaleModels removes the model rows not of the stored revision.
	deleteStaleModels = `DELETE FROM crewtrace_trace_models
WHERE session_key = $1 AND trace_id = $2 AND fragment = $3 AND revision <> (
	SELECT revision FROM crewtrace_traces WHERE session_key = $1 AND trace_id = $2 AND fragment = $3)`

	// deleteStaleAgents removes the agent rows not of the stored revision:
	// those of the revision a newer record replaced, and those a stale
	// record's upsertAgent added beyond the stored record's agents.
	deleteStaleAgents = `DELETE FROM crewtrace_trace_agents
WHERE session_key = $1 AND trace_id = $2 AND fragment = $3 AND revision <> (
	SELECT revision FROM crewtrace_traces WHERE session_key = $1 AND trace_id = $2 AND fragment = $3)`

	// chooseFragment marks the fragment that stands for its trace: the one
	// with the most spans (then complete, then the highest revision, then
	// the lowest fragment ID). With one fragment per trace (every record
	// without a fragment) it changes nothing.
	chooseFragment = `UPDATE crewtrace_traces SET chosen = 1 - chosen, seq = ` + curSeq + `
WHERE session_key = $1 AND trace_id = $2 AND chosen <> CASE WHEN fragment = (
	SELECT f.fragment FROM crewtrace_traces f WHERE f.session_key = $1 AND f.trace_id = $2
	ORDER BY f.span_count DESC, f.complete DESC, f.revision DESC, f.fragment LIMIT 1) THEN 1 ELSE 0 END`

	// upsertSession recomputes a session's summary from its chosen trace
	// rows: traces in order, totals, first start, last end, the name of
	// its first trace and the end state of its last. It rewrites the row
	// only when a trace row changed (max(seq) moved), so a replay leaves the
	// session where the tail saw it.
	upsertSession = `INSERT INTO crewtrace_sessions (
	session_key, session_id, name, name_key, tags, service, trace_count, start_us, end_us,
	duration_ms, end_state, end_reason, reason_key, complete, span_count, agent_count, llm_calls,
	tool_calls, event_count, action_count, error_count, events_recorded, events_refused,
	input_tokens, output_tokens, total_tokens, cost_usd, unpriced_calls, costed_traces, search, seq)
SELECT a.session_key, f.session_id, f.name, f.name_key, f.tags, f.service, a.trace_count,
	a.start_us, a.end_us,
	CASE WHEN a.trace_count = 1 THEN f.duration_ms ELSE (a.end_us - a.start_us) / 1000.0 END,
	l.end_state, l.end_reason, l.reason_key, a.complete, a.span_count, a.agent_count, a.llm_calls,
	a.tool_calls, a.event_count, a.action_count, a.error_count, a.events_recorded,
	a.events_refused, a.input_tokens, a.output_tokens, a.total_tokens, a.cost_usd, a.unpriced_calls,
	a.costed_traces, a.search, a.seq
FROM (SELECT session_key, count(*) AS trace_count, min(start_us) AS start_us, max(end_us) AS end_us,
		min(complete) AS complete, sum(span_count) AS span_count, sum(agent_count) AS agent_count,
		sum(llm_calls) AS llm_calls, sum(tool_calls) AS tool_calls, sum(event_count) AS event_count,
		sum(action_count) AS action_count, sum(error_count) AS error_count,
		sum(events_recorded) AS events_recorded, sum(events_refused) AS events_refused,
		sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
		sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_calls) AS unpriced_calls,
		sum(costed) AS costed_traces, string_agg(search, ' ') AS search, max(seq) AS seq
	FROM crewtrace_traces WHERE session_key = $1 AND chosen = 1 GROUP BY session_key) a
JOIN (SELECT session_id, name, name_key, tags, service, duration_ms FROM crewtrace_traces
	WHERE session_key = $1 AND chosen = 1 ORDER BY start_us, trace_id LIMIT 1) f ON 1 = 1
JOIN (SELECT end_state, end_reason, reason_key FROM crewtrace_traces
	WHERE session_key = $1 AND chosen = 1 ORDER BY start_us DESC, end_us DESC, trace_id DESC LIMIT 1) l ON 1 = 1
WHERE 1 = 1
ON CONFLICT (session_key) DO UPDATE SET
	session_id = excluded.session_id, name = excluded.name, name_key = excluded.name_key,
	tags = excluded.tags, service = excluded.service, trace_count = excluded.trace_count,
	start_us = excluded.start_us, end_us = excluded.end_us, duration_ms = excluded.duration_ms,
	end_state = excluded.end_state, end_reason = excluded.end_reason, reason_key = excluded.reason_key,
	complete = excluded.complete, span_count = excluded.span_count, agent_count = excluded.agent_count,
	llm_calls = excluded.llm_calls, tool_calls = excluded.tool_calls, event_count = excluded.event_count,
	action_count = excluded.action_count, error_count = excluded.error_count,
	events_recorded = excluded.events_recorded, events_refused = excluded.events_refused,
	input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
	total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd,
	unpriced_calls = excluded.unpriced_calls, costed_traces = excluded.costed_traces,
	search = excluded.search, seq = excluded.seq
WHERE crewtrace_sessions.seq <> excluded.seq`
)

// planWrite returns the statements that store rows in one transaction:
// the seq bump, per record its trace row, agents and fragment choice, then
// one summary per session touched (in key order).
func planWrite(rows []traceRow) []stmt {
	stmts := make([]stmt, 0, 1+len(rows)*6)
	stmts = append(stmts, stmt{sql: bumpSeq})
	sessions := make([]string, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		stmts = append(stmts, stmt{sql: upsertTrace, args: []any{
			r.sessionKey, r.traceID, r.fragment, r.sessionID, r.revision, r.schemaVersion, r.source,
			r.name, r.nameKey, r.tags, r.service, r.startUs, r.endUs, r.durationMs, r.endState,
			r.endReason, r.reasonKey, r.complete, r.flushReason, r.emittedUs, r.spans, r.agentCount,
			r.llm, r.tool, r.events, r.actions, r.errs, r.eventsRecorded, r.eventsRefused, r.in,
			r.out, r.total, r.traceURL, r.search, r.json, r.storedUs, r.costUSD, r.reportedUSD, r.unpriced,
			r.priceTable, r.costed,
		}})
		for lo := 0; lo < len(r.agents); lo += maxAgentsPerStatement {
			chunk := r.agents[lo:min(lo+maxAgentsPerStatement, len(r.agents))]
			args := make([]any, 0, len(chunk)*agentColumns)
			for k, a := range chunk {
				args = append(args, r.sessionKey, r.traceID, r.fragment, int64(lo+k), r.revision, a.id, a.name,
					a.nameKey, a.spans, a.llm, a.tool, a.errors, a.in, a.out, a.total, a.costUSD)
			}
			stmts = append(stmts, stmt{sql: upsertAgents(len(chunk)), args: args})
		}
		if len(r.models) > 0 { // at most 64 per record: one statement
			args := make([]any, 0, len(r.models)*modelColumns)
			for k, m := range r.models {
				args = append(args, r.sessionKey, r.traceID, r.fragment, int64(k), r.revision, m.provider, m.model,
					m.modelKey, m.calls, m.in, m.out, m.cacheRead, m.cacheWrite, m.cacheWrite1h, m.reasoning,
					m.costUSD, m.reportedUSD, m.priced, m.reported, m.unpriced)
			}
			stmts = append(stmts, stmt{sql: valuesSQL(upsertModelsHead, upsertModelsTail, len(r.models), modelColumns), args: args})
		}
		stmts = append(stmts,
			stmt{sql: deleteStaleAgents, args: []any{r.sessionKey, r.traceID, r.fragment}},
			stmt{sql: deleteStaleModels, args: []any{r.sessionKey, r.traceID, r.fragment}},
			stmt{sql: chooseFragment, args: []any{r.sessionKey, r.traceID}})
		sessions = append(sessions, r.sessionKey)
	}
	slices.Sort(sessions)
	for _, k := range slices.Compact(sessions) {
		stmts = append(stmts, stmt{sql: upsertSession, args: []any{k}})
	}
	return stmts
}

// agentColumns is the number of values per agent row in upsertAgents.
const agentColumns = 16

// modelColumns is the number of values per model row.
const modelColumns = 20

// maxAgentsPerStatement keeps upsertAgents under the parameter limits
// (PostgreSQL 65535, SQLite 32766). A variable so that a test can split a
// small crew.
var maxAgentsPerStatement = 2000

var (
	agentSQLMu sync.Mutex
	agentSQL   = map[int]string{}
)

// upsertAgents returns the statement storing n agents of one record in
// one multi-row INSERT (one statement per record, not per agent), cached
// per n.
func upsertAgents(n int) string {
	agentSQLMu.Lock()
	defer agentSQLMu.Unlock()
	if q, ok := agentSQL[n]; ok {
		return q
	}
	q := valuesSQL(upsertAgentsHead, upsertAgentsTail, n, agentColumns)
	if n <= 64 { // the usual sizes; a rare large crew is built each time
		agentSQL[n] = q
	}
	return q
}

// valuesSQL builds head, n rows of cols parameters, tail.
func valuesSQL(head, tail string, n, cols int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", i*cols+c+1)
		}
		b.WriteByte(')')
	}
	b.WriteString(tail)
	return b.String()
}
