package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crewtrace/crewtrace/record"
)

// Summary is one session as the list shows it: the aggregate of its traces.
type Summary struct {
	// SessionID is the session's ID in full (NULs as U+FFFD).
	SessionID string
	// Name, Tags and Service are those of the session's first trace.
	Name    string
	Tags    []string
	Service string
	// Traces is the number of traces of the session.
	Traces int
	// Start is the first trace's start, End the latest end of any trace.
	Start, End time.Time
	// DurationMs is End-Start in milliseconds (the record's own figure for
	// a session of one trace).
	DurationMs float64
	// EndState and EndReason are those of the session's last trace (by
	// start). EndState is in its bounded form (see Bounded).
	EndState  string
	EndReason string
	// Complete is true when every trace's root span was received.
	Complete bool
	// Totals over the traces.
	Spans, Agents, LLMCalls, ToolCalls, Events, Actions, Errors int64
	// EventsRecorded counts the events in the records; EventsRefused those
	// the library refused (records without the field count 0).
	EventsRecorded, EventsRefused int64
	// Tokens totals token usage.
	Tokens record.Tokens
	// CostUSD totals the cost of the session's LLM calls in US dollars;
	// UnpricedCalls counts the calls no price was found for (CostUSD is then
	// a lower bound). CostedTraces is the number of traces whose record
	// carries a cost (records stored before pricing do not: their cost is
	// unknown, not $0).
	CostUSD       float64
	UnpricedCalls int64
	CostedTraces  int
	// Seq is the store's change sequence number of the session's last change.
	Seq int64
}

// SortKey orders a session list.
type SortKey string

// Sort orders. Ties are broken by session key, so pages are stable.
const (
	SortStart    SortKey = "start"
	SortDuration SortKey = "duration"
	SortTokens   SortKey = "tokens"
	SortErrors   SortKey = "errors"
	SortCost     SortKey = "cost"
)

var sortColumns = map[SortKey]string{
	SortStart: "start_us", SortDuration: "duration_ms", SortTokens: "total_tokens", SortErrors: "error_count",
	SortCost: "cost_usd",
}

// Filter selects sessions. The zero Filter selects every session.
type Filter struct {
	// EndStates keeps sessions whose end state is one of these (any when empty).
	EndStates []string
	// Text keeps sessions whose name, tags, service or end reason contains
	// it, ignoring case (the first 256 bytes of each are searched).
	Text string
	// From and To keep sessions that started in [From, To); a zero bound is open.
	From, To time.Time
	// HasErrors keeps only sessions with at least one error.
	HasErrors bool
}

// ListQuery asks for one page of sessions.
type ListQuery struct {
	Filter
	// Sort is the order (default SortStart); Ascending reverses the default
	// newest / largest first.
	Sort      SortKey
	Ascending bool
	// Limit is the page size: default 50, at most 1000.
	Limit int
	// After is the Next cursor of the previous page ("" = first page). It
	// must come from a query with the same Sort and Ascending.
	After string
}

// Page is one page of sessions.
type Page struct {
	Sessions []Summary
	// Next is the cursor of the next page; "" when this page is the last.
	Next string
}

// Page size bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// summaryColumns are the crewtrace_sessions columns scanSummary reads.
const summaryColumns = `session_id, name, tags, service, trace_count, start_us, end_us, duration_ms,
	end_state, end_reason, complete, span_count, agent_count, llm_calls, tool_calls, event_count,
	action_count, error_count, events_recorded, events_refused, input_tokens, output_tokens,
	total_tokens, seq, session_key, cost_usd, unpriced_calls, costed_traces`

type scanner interface{ Scan(dest ...any) error }

// scanSummary reads summaryColumns; it returns the session key too.
func scanSummary(sc scanner) (Summary, string, error) {
	var (
		s              Summary
		tags, key      string
		start, end     int64
		traces, compl  int64
		in, out, total int64
		costed         int64
	)
	err := sc.Scan(&s.SessionID, &s.Name, &tags, &s.Service, &traces, &start, &end, &s.DurationMs,
		&s.EndState, &s.EndReason, &compl, &s.Spans, &s.Agents, &s.LLMCalls, &s.ToolCalls, &s.Events,
		&s.Actions, &s.Errors, &s.EventsRecorded, &s.EventsRefused, &in, &out, &total, &s.Seq, &key,
		&s.CostUSD, &s.UnpricedCalls, &costed)
	if err != nil {
		return Summary{}, "", err
	}
	if err := json.Unmarshal([]byte(tags), &s.Tags); err != nil {
		return Summary{}, "", fmt.Errorf("store: tags of session %s: %w", ShortID(s.SessionID), err)
	}
	s.Traces, s.Complete, s.CostedTraces = int(traces), compl == 1, int(costed)
	s.Start, s.End = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC()
	s.Tokens = record.Tokens{Input: in, Output: out, Total: total}
	return s, key, nil
}

// where builds the SQL condition of f; args continue from args.
func (f Filter) where(args []any) (string, []any) {
	conds := []string{"1 = 1"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.EndStates) > 0 {
		ps := make([]string, len(f.EndStates))
		for i, st := range f.EndStates {
			ps[i] = arg(Bounded(clean(st)))
		}
		conds = append(conds, "end_state IN ("+strings.Join(ps, ", ")+")")
	}
	if f.Text != "" {
		conds = append(conds, "search LIKE "+arg("%"+likeEscaper.Replace(strings.ToLower(clean(f.Text)))+"%")+` ESCAPE '\'`)
	}
	if !f.From.IsZero() {
		conds = append(conds, "start_us >= "+arg(f.From.UnixMicro()))
	}
	if !f.To.IsZero() {
		conds = append(conds, "start_us < "+arg(f.To.UnixMicro()))
	}
	if f.HasErrors {
		conds = append(conds, "error_count > 0")
	}
	return strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListSessions returns one page of the sessions f selects, in q's order,
// using keyset pagination: a page costs the same however deep it is, and a
// session stored while a user pages does not shift the pages after it.
func (s *Store) ListSessions(ctx context.Context, q ListQuery) (Page, error) {
	if q.Sort == "" {
		q.Sort = SortStart
	}
	col, ok := sortColumns[q.Sort]
	if !ok {
		return Page{}, fmt.Errorf("%w: sort %q", ErrInvalidQuery, q.Sort)
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return Page{}, fmt.Errorf("%w: limit %d, want 1..%d", ErrInvalidQuery, q.Limit, MaxLimit)
	}
	if err := s.ensureSchema(ctx); err != nil {
		return Page{}, err
	}
	cond, args := q.Filter.where(nil)
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	if q.After != "" {
		c, err := decodeCursor(q.After)
		if err != nil || c.sort != q.Sort || c.asc != q.Ascending {
			return Page{}, fmt.Errorf("%w: not a cursor of this sort order", ErrBadCursor)
		}
		args = append(args, c.value, c.key)
		cond += fmt.Sprintf(" AND (%s, session_key) %s ($%d, $%d)", col, cmp, len(args)-1, len(args))
	}
	args = append(args, q.Limit+1)
	query := fmt.Sprintf("SELECT %s FROM crewtrace_sessions WHERE %s ORDER BY %s %s, session_key %s LIMIT $%d",
		summaryColumns, cond, col, dir, dir, len(args))
	rows, err := s.b.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("store: list sessions: %w", s.redact(err))
	}
	defer rows.Close()
	var page Page
	var lastKey string
	for rows.Next() {
		sum, key, err := scanSummary(rows)
		if err != nil {
			return Page{}, fmt.Errorf("store: list sessions: %w", s.redact(err))
		}
		if len(page.Sessions) == q.Limit {
			last := page.Sessions[len(page.Sessions)-1]
			page.Next = cursor{sort: q.Sort, asc: q.Ascending, value: sortValue(q.Sort, last), key: lastKey}.encode()
			break
		}
		page.Sessions = append(page.Sessions, sum)
		lastKey = key
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: list sessions: %w", s.redact(err))
	}
	return page, nil
}

// CountSessions returns how many sessions f selects.
func (s *Store) CountSessions(ctx context.Context, f Filter) (int64, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return 0, err
	}
	cond, args := f.where(nil)
	var n int64
	if err := s.b.reader().QueryRowContext(ctx, "SELECT count(*) FROM crewtrace_sessions WHERE "+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count sessions: %w", s.redact(err))
	}
	return n, nil
}

// sortValue is the sort column's value of a summary, as stored.
func sortValue(k SortKey, s Summary) any {
	switch k {
	case SortDuration:
		return s.DurationMs
	case SortTokens:
		return s.Tokens.Total
	case SortErrors:
		return s.Errors
	case SortCost:
		return s.CostUSD
	}
	return s.Start.UnixMicro()
}

// cursor is a keyset position: the last row's sort value and session key.
type cursor struct {
	sort  SortKey
	asc   bool
	value any // int64, or float64 for SortDuration and SortCost
	key   string
}

func (c cursor) encode() string {
	var v string
	switch x := c.value.(type) {
	case float64:
		v = strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		v = strconv.FormatInt(x, 10)
	}
	a := "0"
	if c.asc {
		a = "1"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("p1|" + string(c.sort) + "|" + a + "|" + v + "|" + c.key))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	parts := strings.SplitN(string(b), "|", 5)
	if len(parts) != 5 || parts[0] != "p1" {
		return cursor{}, ErrBadCursor
	}
	c := cursor{sort: SortKey(parts[1]), asc: parts[2] == "1", key: parts[4]}
	if _, ok := sortColumns[c.sort]; !ok {
		return cursor{}, ErrBadCursor
	}
	if c.sort == SortDuration || c.sort == SortCost {
		c.value, err = strconv.ParseFloat(parts[3], 64)
	} else {
		c.value, err = strconv.ParseInt(parts[3], 10, 64)
	}
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	return c, nil
}

// Session is one session with its traces and agents.
type Session struct {
	Summary
	// Traces are the session's traces in order of start, each the record
	// that stands for it (see Write).
	Traces []Trace
	// Agents totals each agent (by ID and name) over the traces, in order
	// of first appearance.
	Agents []AgentTotal
	// Models totals each model (by provider and name) over the traces,
	// most expensive first.
	Models []ModelTotal
}

// ModelTotal is one model's totals over a session's traces.
type ModelTotal struct {
	Provider, Model string
	LLMCalls        int64
	Tokens          record.Tokens
	// CostUSD totals the model's calls' cost; ReportedUSD the part the
	// spans reported. PricedCalls, ReportedCalls and UnpricedCalls count
	// the calls by how their cost is known.
	CostUSD, ReportedUSD                      float64
	PricedCalls, ReportedCalls, UnpricedCalls int64
}

// Trace is one trace of a session.
type Trace struct {
	// TraceID is the trace ID (bounded form; the record has it in full).
	TraceID string
	// Fragment is "" unless the record named a fragment.
	Fragment string
	// Revision is the stored record's revision.
	Revision int
	// Record is the stored record, decoded.
	Record record.Record
	// JSON is the stored record as the database returns it (fields this
	// package's record version does not know included; PostgreSQL's jsonb
	// reorders keys and drops insignificant whitespace).
	JSON []byte
}

// AgentTotal is one agent's totals over a session's traces.
type AgentTotal struct {
	ID, Name string
	// Traces is the number of the session's traces the agent appears in.
	Traces                             int
	Spans, LLMCalls, ToolCalls, Errors int64
	Tokens                             record.Tokens
	// CostUSD totals the agent's calls' cost.
	CostUSD float64
}

// Session returns one session by its ID, or ErrNotFound.
func (s *Store) Session(ctx context.Context, sessionID string) (*Session, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	key := Bounded(clean(sessionID))
	db := s.b.reader()
	// One read transaction, so the summary, traces and agents agree.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: session: %w", s.redact(err))
	}
	defer func() { _ = tx.Rollback() }()
	sum, _, err := scanSummary(tx.QueryRowContext(ctx, "SELECT "+summaryColumns+" FROM crewtrace_sessions WHERE session_key = $1", key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ShortID(sessionID))
	}
	if err != nil {
		return nil, fmt.Errorf("store: session %s: %w", ShortID(sessionID), s.redact(err))
	}
	out := &Session{Summary: sum}
	rows, err := tx.QueryContext(ctx, `SELECT trace_id, fragment, revision, record FROM crewtrace_traces
		WHERE session_key = $1 AND chosen = 1 ORDER BY start_us, trace_id`, key)
	if err != nil {
		return nil, fmt.Errorf("store: traces of session %s: %w", ShortID(sessionID), s.redact(err))
	}
	for rows.Next() {
		var t Trace
		var rev int64
		if err := rows.Scan(&t.TraceID, &t.Fragment, &rev, &t.JSON); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: traces of session %s: %w", ShortID(sessionID), s.redact(err))
		}
		t.Revision = int(rev)
		if t.Record, err = (record.Encoded{JSON: t.JSON}).Decode(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: trace %s of session %s: %w", ShortID(t.TraceID), ShortID(sessionID), err)
		}
		out.Traces = append(out.Traces, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: traces of session %s: %w", ShortID(sessionID), s.redact(err))
	}
	rows, err = tx.QueryContext(ctx, `SELECT a.agent_id, a.name, count(*),
		CAST(sum(a.span_count) AS bigint), CAST(sum(a.llm_calls) AS bigint), CAST(sum(a.tool_calls) AS bigint),
		CAST(sum(a.errors) AS bigint), CAST(sum(a.input_tokens) AS bigint),
		CAST(sum(a.output_tokens) AS bigint), CAST(sum(a.total_tokens) AS bigint), sum(a.cost_usd)
		FROM crewtrace_trace_agents a JOIN crewtrace_traces t ON t.session_key = a.session_key
			AND t.trace_id = a.trace_id AND t.fragment = a.fragment AND t.chosen = 1
		WHERE a.session_key = $1
		GROUP BY a.agent_id, a.name
		ORDER BY min(t.start_us), min(a.ordinal), a.agent_id, a.name`, key)
	if err != nil {
		return nil, fmt.Errorf("store: agents of session %s: %w", ShortID(sessionID), s.redact(err))
	}
	defer rows.Close()
	for rows.Next() {
		var a AgentTotal
		var traces int64
		if err := rows.Scan(&a.ID, &a.Name, &traces, &a.Spans, &a.LLMCalls, &a.ToolCalls, &a.Errors,
			&a.Tokens.Input, &a.Tokens.Output, &a.Tokens.Total, &a.CostUSD); err != nil {
			return nil, fmt.Errorf("store: agents of session %s: %w", ShortID(sessionID), s.redact(err))
		}
		a.Traces = int(traces)
		out.Agents = append(out.Agents, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: agents of session %s: %w", ShortID(sessionID), s.redact(err))
	}
	rows.Close()
	if out.Models, err = sessionModels(ctx, tx, key); err != nil {
		return nil, fmt.Errorf("store: models of session %s: %w", ShortID(sessionID), s.redact(err))
	}
	return out, nil
}

// sessionModels totals a session's models over its chosen trace rows.
func sessionModels(ctx context.Context, tx *sql.Tx, key string) ([]ModelTotal, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.provider, m.model, CAST(sum(m.llm_calls) AS bigint),
		CAST(sum(m.input_tokens) AS bigint), CAST(sum(m.output_tokens) AS bigint),
		CAST(sum(m.cache_read_tokens) AS bigint), CAST(sum(m.cache_write_tokens) AS bigint),
		CAST(sum(m.cache_write_1h_tokens) AS bigint), CAST(sum(m.reasoning_tokens) AS bigint),
		sum(m.cost_usd), sum(m.reported_usd), CAST(sum(m.priced_calls) AS bigint),
		CAST(sum(m.reported_calls) AS bigint), CAST(sum(m.unpriced_calls) AS bigint)
		FROM crewtrace_trace_models m JOIN crewtrace_traces t ON t.session_key = m.session_key
			AND t.trace_id = m.trace_id AND t.fragment = m.fragment AND t.chosen = 1
		WHERE m.session_key = $1
		GROUP BY m.provider, m.model
		ORDER BY sum(m.cost_usd) DESC, m.provider, m.model`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ModelTotal
	for rows.Next() {
		var m ModelTotal
		if err := rows.Scan(&m.Provider, &m.Model, &m.LLMCalls, &m.Tokens.Input, &m.Tokens.Output, &m.Tokens.CacheRead,
			&m.Tokens.CacheWrite, &m.Tokens.CacheWrite1h, &m.Tokens.Reasoning, &m.CostUSD, &m.ReportedUSD,
			&m.PricedCalls, &m.ReportedCalls, &m.UnpricedCalls); err != nil {
			return nil, err
		}
		m.Tokens.Total = m.Tokens.Input + m.Tokens.Output
		out = append(out, m)
	}
	return out, rows.Err()
}

// Changes is a page of the tail: sessions changed after a position.
type Changes struct {
	// Sessions changed after the position, in the order of their changes.
	// A session appears again each time one of its traces changes.
	Sessions []Summary
	// Next is the position after these sessions; pass it to the next call.
	Next string
}

// Head returns the tail position after every change stored now: a tail
// that starts here shows only what lands from now on.
func (s *Store) Head(ctx context.Context) (string, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return "", err
	}
	var seq int64
	if err := s.b.reader().QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM crewtrace_sessions").Scan(&seq); err != nil {
		return "", fmt.Errorf("store: head: %w", s.redact(err))
	}
	return tailCursor(seq, "", true), nil
}

// SessionsSince returns up to limit sessions changed after position after
// ("" = from the first session ever stored), oldest change first. Writers
// take the change counter's lock first and hold it to commit, so changes
// become visible in sequence order and a tail that follows Next misses none.
func (s *Store) SessionsSince(ctx context.Context, after string, limit int) (Changes, error) {
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return Changes{}, fmt.Errorf("%w: limit %d, want 1..%d", ErrInvalidQuery, limit, MaxLimit)
	}
	if err := s.ensureSchema(ctx); err != nil {
		return Changes{}, err
	}
	seq, key, whole := int64(0), "", true
	if after != "" {
		var err error
		if seq, key, whole, err = decodeTail(after); err != nil {
			return Changes{}, err
		}
	}
	var query string
	args := []any{seq}
	if whole {
		query = "SELECT " + summaryColumns + " FROM crewtrace_sessions WHERE seq > $1 ORDER BY seq, session_key LIMIT $2"
	} else {
		args = append(args, key)
		query = "SELECT " + summaryColumns + " FROM crewtrace_sessions WHERE (seq, session_key) > ($1, $2) ORDER BY seq, session_key LIMIT $3"
	}
	args = append(args, limit)
	rows, err := s.b.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return Changes{}, fmt.Errorf("store: sessions since: %w", s.redact(err))
	}
	defer rows.Close()
	out := Changes{Next: after}
	if after == "" {
		out.Next = tailCursor(0, "", true)
	}
	for rows.Next() {
		sum, k, err := scanSummary(rows)
		if err != nil {
			return Changes{}, fmt.Errorf("store: sessions since: %w", s.redact(err))
		}
		out.Sessions = append(out.Sessions, sum)
		out.Next = tailCursor(sum.Seq, k, false)
	}
	if err := rows.Err(); err != nil {
		return Changes{}, fmt.Errorf("store: sessions since: %w", s.redact(err))
	}
	return out, nil
}

// tailCursor encodes a tail position: after (seq, key), or after all of
// seq when whole.
func tailCursor(seq int64, key string, whole bool) string {
	w := "0"
	if whole {
		w = "1"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("t1|" + strconv.FormatInt(seq, 10) + "|" + w + "|" + key))
}

func decodeTail(s string) (seq int64, key string, whole bool, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", false, ErrBadCursor
	}
	parts := strings.SplitN(string(b), "|", 4)
	if len(parts) != 4 || parts[0] != "t1" {
		return 0, "", false, ErrBadCursor
	}
	if seq, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return 0, "", false, ErrBadCursor
	}
	return seq, parts[3], parts[2] == "1", nil
}
