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
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/record"
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
	var bad []error
	for _, e := range records {
		r, err := toRow(e)
		if err != nil {
			bad = append(bad, s.reject(e.SessionID, e.Revision, err))
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
			bad = append(bad, s.reject(rws[0].sessionID, int(rws[0].revision), err))
		default:
			// One record spoilt the transaction: write them one by one so
			// only the bad ones are dropped.
			for _, r := range rws {
				err := s.writeTx(ctx, []row{r})
				switch {
				case err == nil:
				case permanent(err):
					bad = append(bad, s.reject(r.sessionID, int(r.revision), err))
				default:
					// Retrying the batch rewrites the records written so
					// far without changing them (same revision).
					return fmt.Errorf("postgres sink: write record of session %s: %w", r.sessionID, s.redact(err))
				}
			}
		}
	}
	if len(bad) > 0 {
		return consumererror.NewPermanent(fmt.Errorf("postgres sink: %d of %d session records rejected: %w",
			len(bad), len(records), errors.Join(bad...)))
	}
	return nil
}

// reject counts and logs a record that can never be written.
func (s *Sink) reject(sessionID string, revision int, err error) error {
	err = s.redact(err)
	s.rejected.Add(1)
	s.logger.Error("session record rejected by the postgres sink; dropped",
		zap.String("session_id", sessionID), zap.Int("revision", revision), zap.Error(err))
	return fmt.Errorf("session %s revision %d: %w", sessionID, revision, err)
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

// writeTx writes rws in one transaction, as one batch.
func (s *Sink) writeTx(ctx context.Context, rws []row) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	b := &pgx.Batch{}
	for i := range rws {
		rws[i].queue(b)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	s.written.Add(int64(len(rws)))
	return nil
}

const upsertSession = `INSERT INTO crewtrace_sessions (
	session_id, revision, schema_version, trace_id, name, tags, start_time, end_time, duration_ms,
	end_state, end_reason, complete, flush_reason, emitted_at, span_count, agent_count, llm_calls,
	tool_calls, event_count, action_count, error_count, input_tokens, output_tokens, total_tokens,
	trace_url, record
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
	$20, $21, $22, $23, $24, $25, $26)
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

// The agent statements act only when the stored row is this record's
// revision, i.e. when the upsert above wrote it (or it was already stored:
// rewriting the same agents is harmless).
const deleteAgents = `DELETE FROM crewtrace_session_agents
WHERE session_id = $1
  AND EXISTS (SELECT 1 FROM crewtrace_sessions s WHERE s.session_id = $1 AND s.revision = $2)`

const insertAgents = `INSERT INTO crewtrace_session_agents (
	session_id, ordinal, agent_id, name, span_count, llm_calls, tool_calls, errors,
	input_tokens, output_tokens, total_tokens)
SELECT $1, a.* FROM unnest($3::integer[], $4::text[], $5::text[], $6::integer[], $7::integer[],
	$8::integer[], $9::integer[], $10::bigint[], $11::bigint[], $12::bigint[])
	AS a(ordinal, agent_id, name, span_count, llm_calls, tool_calls, errors, input_tokens, output_tokens, total_tokens)
WHERE EXISTS (SELECT 1 FROM crewtrace_sessions s WHERE s.session_id = $1 AND s.revision = $2)`

// row is a record mapped to the statements' parameters.
type row struct {
	sessionID string
	revision  int32
	session   []any
	agents    []any // parameters $3.. of insertAgents; nil without agents
}

func (r *row) queue(b *pgx.Batch) {
	b.Queue(upsertSession, r.session...)
	b.Queue(deleteAgents, r.sessionID, r.revision)
	if r.agents != nil {
		b.Queue(insertAgents, append([]any{r.sessionID, r.revision}, r.agents...)...)
	}
}

// errRange is returned for a count that does not fit its column.
var errRange = errors.New("value out of range")

func int32Of(name string, v int) (int32, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s %d: %w", name, v, errRange)
	}
	return int32(v), nil
}

// toRow decodes a record and maps it to parameters. A record that does not
// decode, or whose counts overflow their columns, is invalid for good.
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
		n, err := int32Of(name, v)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	tags := rec.Tags
	if tags == nil {
		tags = []string{}
	}
	r := row{sessionID: rec.SessionID, revision: i32("revision", rec.Revision)}
	r.session = []any{
		rec.SessionID, r.revision, i32("schema_version", rec.SchemaVersion), rec.TraceID, rec.Name, tags,
		rec.StartTime, rec.EndTime, rec.DurationMs, rec.EndState, rec.EndReason, rec.Complete,
		rec.FlushReason, rec.EmittedAt, i32("span_count", rec.SpanCount), i32("agents", rec.Counts.Agents),
		i32("llm_calls", rec.Counts.LLMCalls), i32("tool_calls", rec.Counts.ToolCalls),
		i32("events", rec.Counts.Events), i32("actions", rec.Counts.Actions),
		i32("error_count", rec.ErrorCount), rec.Tokens.Input, rec.Tokens.Output, rec.Tokens.Total,
		rec.TraceURL, json.RawMessage(e.JSON),
	}
	if n := len(rec.Agents); n > 0 {
		var (
			ord, spans, llm, tool, errc = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
			ids, names                  = make([]string, n), make([]string, n)
			in, out, total              = make([]int64, n), make([]int64, n), make([]int64, n)
		)
		for i, a := range rec.Agents {
			ord[i] = int32(i)
			ids[i], names[i] = a.ID, a.Name
			spans[i] = i32("agent span_count", a.SpanCount)
			llm[i] = i32("agent llm_calls", a.LLMCalls)
			tool[i] = i32("agent tool_calls", a.ToolCalls)
			errc[i] = i32("agent errors", a.Errors)
			in[i], out[i], total[i] = a.Tokens.Input, a.Tokens.Output, a.Tokens.Total
		}
		r.agents = []any{ord, ids, names, spans, llm, tool, errc, in, out, total}
	}
	if err := errors.Join(errs...); err != nil {
		return row{}, fmt.Errorf("%w: %w", record.ErrInvalid, err)
	}
	return r, nil
}
