// Package postgres is the session exporter's PostgreSQL sink: it stores each
// session's latest record in crewtrace_sessions (full record as JSONB plus
// the columns that queries need) and its agents in crewtrace_session_agents.
//
// The schema is created and migrated on Start (versioned migrations in
// migrations/, recorded in crewtrace_schema_migrations). Writes upsert by
// session_id: a record replaces the stored one only if its revision is
// higher, and the session's agents are replaced in the same transaction, so
// replays and retries never duplicate. A Write of many records is one
// transaction sent as one pgx batch.
//
// Errors: a database that cannot be reached, a timeout or a serialization
// failure is returned as is, for the exporter's retry; data PostgreSQL
// rejects (SQLSTATE class 22 or 23) is a permanent error, counted and logged
// with the session ID, and the other records of the batch are still written.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/record"
)

// Sink writes session records to PostgreSQL. Its methods are safe for
// concurrent use once Start has returned.
type Sink struct {
	cfg    Config
	logger *zap.Logger

	secrets    []string // masked in every error and log line
	migrations []migration

	pool *pgxpool.Pool

	schemaMu sync.Mutex
	schemaOK atomic.Bool

	written  atomic.Int64
	rejected atomic.Int64
}

// New returns a sink for cfg (which must be valid); it connects on Start.
func New(cfg Config, logger *zap.Logger) *Sink {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Sink{cfg: cfg, logger: logger, secrets: dsnPasswords(string(cfg.DSN))}
}

// Start creates the connection pool and migrates the schema. A database that
// cannot be reached yet does not fail Start: the schema is then migrated
// before the first write, which is retried until the database is up. Any
// other migration error (permissions, a conflicting table) fails Start.
func (s *Sink) Start(ctx context.Context, _ component.Host) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	s.migrations = ms
	pcfg, err := pgxpool.ParseConfig(string(s.cfg.DSN))
	if err != nil {
		return fmt.Errorf("postgres sink: invalid dsn: %w", s.redact(err))
	}
	if s.cfg.PasswordEnv != "" {
		pw := os.Getenv(s.cfg.PasswordEnv)
		if pw == "" {
			return fmt.Errorf("postgres sink: environment variable %s (password_env) is not set", s.cfg.PasswordEnv)
		}
		pcfg.ConnConfig.Password = pw
	}
	if pcfg.ConnConfig.Password != "" {
		s.secrets = append(s.secrets, pcfg.ConnConfig.Password)
	}
	pcfg.MaxConns = s.cfg.MaxConns
	pcfg.MinConns = 0
	pcfg.ConnConfig.ConnectTimeout = s.cfg.Timeout
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("postgres sink: %w", s.redact(err))
	}
	s.pool = pool
	if err := s.ensureSchema(ctx); err != nil {
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) && !retryableState(pgErr.SQLState()) {
			pool.Close()
			s.pool = nil
			return fmt.Errorf("postgres sink: %w", err)
		}
		s.logger.Warn("PostgreSQL not reachable at start; the schema will be migrated before the first write",
			zap.String("host", pcfg.ConnConfig.Host), zap.Error(err))
	}
	return nil
}

// retryableState reports whether a SQLSTATE raised while migrating can pass
// on a later attempt: connection (08), transaction rollback (40), resources
// (53), operator intervention such as a server shutting down (57), system (58).
func retryableState(state string) bool {
	if len(state) < 2 {
		return true
	}
	switch state[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return false
}

// ensureSchema migrates the schema once per sink.
func (s *Sink) ensureSchema(ctx context.Context) error {
	if s.schemaOK.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaOK.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	v, err := migrate(ctx, s.pool, s.migrations)
	if err != nil {
		return s.redact(err)
	}
	if known := len(s.migrations); v > known {
		s.logger.Warn("PostgreSQL schema is newer than this exporter; writing anyway (migrations only add)",
			zap.Int("database_version", v), zap.Int("known_version", known))
	}
	s.schemaOK.Store(true)
	return nil
}

// Write stores records in one transaction. A record with an equal or lower
// revision than the stored one for its session changes nothing.
func (s *Sink) Write(ctx context.Context, records []record.Encoded) error {
	if len(records) == 0 {
		return nil
	}
	if s.pool == nil {
		return errors.New("postgres sink: not started")
	}
	rws := make([]row, 0, len(records))
	var bad []rejection
	for _, e := range records {
		r, err := toRow(e)
		if err != nil {
			bad = append(bad, rejection{e.SessionID, e.Revision, err})
			continue
		}
		rws = append(rws, r)
	}
	if len(rws) > 0 {
		if err := s.ensureSchema(ctx); err != nil {
			return fmt.Errorf("postgres sink: migrate schema: %w", err)
		}
		err := s.writeTx(ctx, rws)
		switch {
		case err == nil:
		case !permanent(err):
			return fmt.Errorf("postgres sink: write %d records: %w", len(rws), s.redact(err))
		case len(rws) == 1:
			bad = append(bad, rejection{rws[0].sessionID, int(rws[0].revision), err})
		default:
			// One record spoilt the transaction: write them one by one so
			// only the bad ones are dropped.
			for _, r := range rws {
				err := s.writeTx(ctx, []row{r})
				switch {
				case err == nil:
				case permanent(err):
					bad = append(bad, rejection{r.sessionID, int(r.revision), err})
				default:
					// The retry of the batch rewrites the records written
					// so far without changing them (same revision), and
					// meets the bad ones again: they are counted then.
					return fmt.Errorf("postgres sink: write record of session %s: %w", r.sessionID, s.redact(err))
				}
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	errs := make([]error, len(bad))
	ids := make([]string, len(bad))
	for i, b := range bad {
		errs[i], ids[i] = s.reject(b), b.sessionID
	}
	// sink.Rejected names the rejected records, so the exporter counts only
	// them as failed: the rest of the batch is stored.
	return consumererror.NewPermanent(&sink.Rejected{SessionIDs: ids, Err: fmt.Errorf(
		"postgres sink: %d of %d session records rejected: %w", len(bad), len(records), errors.Join(errs...))})
}

// rejection is a record that can never be written, and why.
type rejection struct {
	sessionID string
	revision  int
	err       error
}

// reject counts and logs a rejected record.
func (s *Sink) reject(b rejection) error {
	err := s.redact(b.err)
	s.rejected.Add(1)
	s.logger.Error("session record rejected by the postgres sink; dropped",
		zap.String("session_id", b.sessionID), zap.Int("revision", b.revision), zap.Error(err))
	return fmt.Errorf("session %s revision %d: %w", b.sessionID, b.revision, err)
}

// Rejected returns how many records were dropped as permanently invalid.
func (s *Sink) Rejected() int64 { return s.rejected.Load() }

// Written returns how many records were committed (including replays that
// changed nothing).
func (s *Sink) Written() int64 { return s.written.Load() }

// Shutdown closes the pool; it waits for connections in use to be released.
func (s *Sink) Shutdown(context.Context) error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

func (s *Sink) redact(err error) error { return redactErr(err, s.secrets) }

// writeTx writes rws in one transaction: three statements sent as one pgx
// batch, whatever the number of records (rows travel as arrays), in one
// round trip. The batch needs no BEGIN/COMMIT: pgx sends it as one pipeline
// ended by a single Sync, which PostgreSQL runs as one implicit transaction
// (an error in any statement rolls back all of them).
func (s *Sink) writeTx(ctx context.Context, rws []row) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.pool.SendBatch(ctx, newBatch(rws)).Close(); err != nil {
		return err
	}
	s.written.Add(int64(len(rws)))
	return nil
}

// upsertSessions inserts the sessions, or replaces a stored session whose
// revision is lower.
const upsertSessions = `INSERT INTO crewtrace_sessions (
	session_id, revision, schema_version, trace_id, name, tags, start_time, end_time, duration_ms,
	end_state, end_reason, complete, flush_reason, emitted_at, span_count, agent_count, llm_calls,
	tool_calls, event_count, action_count, error_count, input_tokens, output_tokens, total_tokens,
	trace_url, record)
SELECT r.session_id, r.revision, r.schema_version, r.trace_id, r.name,
	ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb)), r.start_time, r.end_time, r.duration_ms,
	r.end_state, r.end_reason, r.complete, r.flush_reason, r.emitted_at, r.span_count, r.agent_count,
	r.llm_calls, r.tool_calls, r.event_count, r.action_count, r.error_count, r.input_tokens,
	r.output_tokens, r.total_tokens, r.trace_url, r.record::jsonb
FROM unnest($1::text[], $2::integer[], $3::integer[], $4::text[], $5::text[], $6::text[],
	$7::timestamptz[], $8::timestamptz[], $9::float8[], $10::text[], $11::text[], $12::boolean[],
	$13::text[], $14::timestamptz[], $15::integer[], $16::integer[], $17::integer[], $18::integer[],
	$19::integer[], $20::integer[], $21::integer[], $22::bigint[], $23::bigint[], $24::bigint[],
	$25::text[], $26::text[])
	AS r(session_id, revision, schema_version, trace_id, name, tags, start_time, end_time, duration_ms,
	end_state, end_reason, complete, flush_reason, emitted_at, span_count, agent_count, llm_calls,
	tool_calls, event_count, action_count, error_count, input_tokens, output_tokens, total_tokens,
	trace_url, record)
ON CONFLICT (session_id) DO UPDATE SET
	revision = EXCLUDED.revision, schema_version = EXCLUDED.schema_version, trace_id = EXCLUDED.trace_id,
	name = EXCLUDED.name, tags = EXCLUDED.tags, start_time = EXCLUDED.start_time,
	end_time = EXCLUDED.end_time, duration_ms = EXCLUDED.duration_ms, end_state = EXCLUDED.end_state,
	end_reason = EXCLUDED.end_reason, complete = EXCLUDED.complete, flush_reason = EXCLUDED.flush_reason,
	emitted_at = EXCLUDED.emitted_at, span_count = EXCLUDED.span_count,
	agent_count = EXCLUDED.agent_count, llm_calls = EXCLUDED.llm_calls, tool_calls = EXCLUDED.tool_calls,
	event_count = EXCLUDED.event_count, action_count = EXCLUDED.action_count,
	error_count = EXCLUDED.error_count, input_tokens = EXCLUDED.input_tokens,
	output_tokens = EXCLUDED.output_tokens, total_tokens = EXCLUDED.total_tokens,
	trace_url = EXCLUDED.trace_url, record = EXCLUDED.record, stored_at = now()
WHERE crewtrace_sessions.revision < EXCLUDED.revision`

// The agent statements act only on sessions whose stored row is the
// record's revision, i.e. that the upsert above wrote (or that were already
// stored at that revision: rewriting the same agents changes nothing).
const deleteAgents = `DELETE FROM crewtrace_session_agents a
USING unnest($1::text[], $2::integer[]) AS k(session_id, revision), crewtrace_sessions s
WHERE a.session_id = k.session_id AND s.session_id = k.session_id AND s.revision = k.revision`

const insertAgents = `INSERT INTO crewtrace_session_agents (
	session_id, ordinal, agent_id, name, span_count, llm_calls, tool_calls, errors,
	input_tokens, output_tokens, total_tokens)
SELECT a.session_id, a.ordinal, a.agent_id, a.name, a.span_count, a.llm_calls, a.tool_calls, a.errors,
	a.input_tokens, a.output_tokens, a.total_tokens
FROM unnest($1::text[], $2::integer[], $3::integer[], $4::text[], $5::text[], $6::integer[],
	$7::integer[], $8::integer[], $9::integer[], $10::bigint[], $11::bigint[], $12::bigint[])
	AS a(session_id, revision, ordinal, agent_id, name, span_count, llm_calls, tool_calls, errors,
	input_tokens, output_tokens, total_tokens)
JOIN crewtrace_sessions s ON s.session_id = a.session_id AND s.revision = a.revision`

// row is one valid record, mapped to column values.
type row struct {
	sessionID                                           string
	revision, schemaVersion                             int32
	traceID, name, tags                                 string // tags as a JSON array
	start, end, emitted                                 time.Time
	durationMs                                          float64
	endState, endReason, flushReason, traceURL          string
	complete                                            bool
	spans, agentCount, llm, tool, events, actions, errs int32
	in, out, total                                      int64
	json                                                string
	agents                                              []agentRow
}

type agentRow struct {
	id, name                 string
	spans, llm, tool, errors int32
	in, out, total           int64
}

// newBatch queues the three statements for rws. Within one batch only the
// highest revision of a session can end up stored, so lower ones are left
// out (one multi-row upsert may not touch a row twice); rows go in
// session_id order so that concurrent batches lock rows in the same order.
func newBatch(rws []row) *pgx.Batch {
	latest := make(map[string]int, len(rws))
	var keep []*row
	for i := range rws {
		r := &rws[i]
		if j, ok := latest[r.sessionID]; ok {
			if keep[j].revision < r.revision {
				keep[j] = r
			}
			continue
		}
		latest[r.sessionID] = len(keep)
		keep = append(keep, r)
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].sessionID < keep[j].sessionID })

	n := len(keep)
	var (
		ids, traceIDs, names, tags, states, reasons, flushes, urls, jsons     = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		revs, schemas, spans, agentCounts, llms, tools, events, actions, errs = mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n), mk[int32](n)
		starts, ends, emitted                                                 = mk[time.Time](n), mk[time.Time](n), mk[time.Time](n)
		durations                                                             = mk[float64](n)
		complete                                                              = mk[bool](n)
		ins, outs, totals                                                     = mk[int64](n), mk[int64](n), mk[int64](n)
	)
	var (
		aSession, aID, aName                   []string
		aRev, aOrd, aSpans, aLLM, aTool, aErrs []int32
		aIn, aOut, aTotal                      []int64
	)
	for i, r := range keep {
		ids[i], revs[i], schemas[i], traceIDs[i], names[i], tags[i] = r.sessionID, r.revision, r.schemaVersion, r.traceID, r.name, r.tags
		starts[i], ends[i], durations[i], states[i], reasons[i], complete[i] = r.start, r.end, r.durationMs, r.endState, r.endReason, r.complete
		flushes[i], emitted[i], spans[i], agentCounts[i], llms[i], tools[i] = r.flushReason, r.emitted, r.spans, r.agentCount, r.llm, r.tool
		events[i], actions[i], errs[i], ins[i], outs[i], totals[i], urls[i], jsons[i] = r.events, r.actions, r.errs, r.in, r.out, r.total, r.traceURL, r.json
		for k, a := range r.agents {
			aSession, aRev, aOrd = append(aSession, r.sessionID), append(aRev, r.revision), append(aOrd, int32(k))
			aID, aName = append(aID, a.id), append(aName, a.name)
			aSpans, aLLM, aTool, aErrs = append(aSpans, a.spans), append(aLLM, a.llm), append(aTool, a.tool), append(aErrs, a.errors)
			aIn, aOut, aTotal = append(aIn, a.in), append(aOut, a.out), append(aTotal, a.total)
		}
	}
	b := &pgx.Batch{}
	b.Queue(upsertSessions, ids, revs, schemas, traceIDs, names, tags, starts, ends, durations, states,
		reasons, complete, flushes, emitted, spans, agentCounts, llms, tools, events, actions, errs,
		ins, outs, totals, urls, jsons)
	b.Queue(deleteAgents, ids, revs)
	if len(aSession) > 0 {
		b.Queue(insertAgents, aSession, aRev, aOrd, aID, aName, aSpans, aLLM, aTool, aErrs, aIn, aOut, aTotal)
	}
	return b
}

func mk[T any](n int) []T { return make([]T, n) }

// errRange is returned for a count that does not fit its column.
var errRange = errors.New("value out of range")

// toRow decodes a record and maps it to column values. A record that does
// not decode, or whose counts overflow their columns, is invalid for good.
func toRow(e record.Encoded) (row, error) {
	rec, err := e.Decode()
	if err != nil {
		return row{}, err
	}
	if rec.SessionID != e.SessionID || rec.Revision != e.Revision {
		return row{}, fmt.Errorf("%w: keys (%s, %d) differ from the JSON's (%s, %d)",
			record.ErrInvalid, e.SessionID, e.Revision, rec.SessionID, rec.Revision)
	}
	var errs []error
	i32 := func(name string, v int) int32 {
		if v < math.MinInt32 || v > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("%s %d: %w", name, v, errRange))
			return 0
		}
		return int32(v)
	}
	tags := rec.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return row{}, fmt.Errorf("%w: tags: %w", record.ErrInvalid, err)
	}
	r := row{
		sessionID: rec.SessionID, revision: i32("revision", rec.Revision),
		schemaVersion: i32("schema_version", rec.SchemaVersion), traceID: rec.TraceID, name: rec.Name,
		tags: string(tagsJSON), start: rec.StartTime, end: rec.EndTime, emitted: rec.EmittedAt,
		durationMs: rec.DurationMs, endState: rec.EndState, endReason: rec.EndReason,
		flushReason: rec.FlushReason, traceURL: rec.TraceURL, complete: rec.Complete,
		spans: i32("span_count", rec.SpanCount), agentCount: i32("agents", rec.Counts.Agents),
		llm: i32("llm_calls", rec.Counts.LLMCalls), tool: i32("tool_calls", rec.Counts.ToolCalls),
		events: i32("events", rec.Counts.Events), actions: i32("actions", rec.Counts.Actions),
		errs: i32("errors", rec.Counts.Errors), // the error_count column
		in:   rec.Tokens.Input, out: rec.Tokens.Output, total: rec.Tokens.Total,
		json: string(e.JSON),
	}
	for _, a := range rec.Agents {
		r.agents = append(r.agents, agentRow{
			id: a.ID, name: a.Name, spans: i32("agent span_count", a.SpanCount),
			llm: i32("agent llm_calls", a.LLMCalls), tool: i32("agent tool_calls", a.ToolCalls),
			errors: i32("agent errors", a.Errors), in: a.Tokens.Input, out: a.Tokens.Output, total: a.Tokens.Total,
		})
	}
	if err := errors.Join(errs...); err != nil {
		return row{}, fmt.Errorf("%w: %w", record.ErrInvalid, err)
	}
	return r, nil
}
