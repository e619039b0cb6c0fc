-- 0002: a row per trace of a session (per fragment of a trace), its agents,
-- and a summary row per session recomputed from its trace rows in the
-- transaction that writes them. Both dialects run this file; {{json}} is
-- jsonb on PostgreSQL and text on SQLite.
--
-- Conventions: times are integer microseconds since the Unix epoch (UTC);
-- flags are 0/1 smallints; every indexed text column holds a bounded form
-- (the value itself up to 128 bytes, else a prefix and a SHA-256 digest: see
-- bounds.go), so no client-chosen value can make a row unindexable. The full
-- values are in the unindexed columns and in record.

-- A counter bumped once by every write transaction. Taking its row lock
-- first orders writers, so seq values become visible in commit order and a
-- reader can follow changes by seq without missing any.
CREATE TABLE crewtrace_counters (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO crewtrace_counters (name, value) VALUES ('seq', 0);

-- One row per (session, trace, fragment): the highest revision of that
-- fragment's record. fragment is '' unless records name one (several
-- collectors assembling parts of one trace); chosen = 1 marks the fragment
-- that stands for its trace in the session (see README, "Fragments").
CREATE TABLE crewtrace_traces (
    session_key     text             NOT NULL CHECK (session_key <> ''),
    trace_id        text             NOT NULL,
    fragment        text             NOT NULL DEFAULT '',
    session_id      text             NOT NULL,
    revision        bigint           NOT NULL CHECK (revision >= 0),
    chosen          smallint         NOT NULL DEFAULT 1,
    schema_version  integer          NOT NULL,
    source          text             NOT NULL DEFAULT '',
    name            text             NOT NULL,
    name_key        text             NOT NULL,
    tags            text             NOT NULL DEFAULT '[]',
    service         text             NOT NULL DEFAULT '',
    start_us        bigint           NOT NULL,
    end_us          bigint           NOT NULL,
    duration_ms     double precision NOT NULL CHECK (duration_ms >= 0),
    end_state       text             NOT NULL,
    end_reason      text             NOT NULL,
    reason_key      text             NOT NULL,
    complete        smallint         NOT NULL,
    flush_reason    text             NOT NULL,
    emitted_us      bigint           NOT NULL,
    span_count      bigint           NOT NULL,
    agent_count     bigint           NOT NULL,
    llm_calls       bigint           NOT NULL,
    tool_calls      bigint           NOT NULL,
    event_count     bigint           NOT NULL,
    action_count    bigint           NOT NULL,
    error_count     bigint           NOT NULL,
    events_recorded bigint           NOT NULL,
    events_refused  bigint           NOT NULL,
    input_tokens    bigint           NOT NULL,
    output_tokens   bigint           NOT NULL,
    total_tokens    bigint           NOT NULL,
    trace_url       text             NOT NULL DEFAULT '',
    search          text             NOT NULL DEFAULT '',
    record          {{json}}         NOT NULL,
    stored_us       bigint           NOT NULL,
    seq             bigint           NOT NULL,
    PRIMARY KEY (session_key, trace_id, fragment)
);
CREATE INDEX crewtrace_traces_start_idx ON crewtrace_traces (start_us);

-- The agents of each stored trace row, at that row's revision.
CREATE TABLE crewtrace_trace_agents (
    session_key   text    NOT NULL,
    trace_id      text    NOT NULL,
    fragment      text    NOT NULL DEFAULT '',
    ordinal       integer NOT NULL,
    revision      bigint  NOT NULL,
    agent_id      text    NOT NULL,
    name          text    NOT NULL,
    name_key      text    NOT NULL,
    span_count    bigint  NOT NULL,
    llm_calls     bigint  NOT NULL,
    tool_calls    bigint  NOT NULL,
    errors        bigint  NOT NULL,
    input_tokens  bigint  NOT NULL,
    output_tokens bigint  NOT NULL,
    total_tokens  bigint  NOT NULL,
    PRIMARY KEY (session_key, trace_id, fragment, ordinal)
);
CREATE INDEX crewtrace_trace_agents_name_idx ON crewtrace_trace_agents (name_key);

-- One row per session: the aggregate of its chosen trace rows.
CREATE TABLE crewtrace_sessions (
    session_key     text             PRIMARY KEY,
    session_id      text             NOT NULL,
    name            text             NOT NULL,
    name_key        text             NOT NULL,
    tags            text             NOT NULL DEFAULT '[]',
    service         text             NOT NULL DEFAULT '',
    trace_count     bigint           NOT NULL,
    start_us        bigint           NOT NULL,
    end_us          bigint           NOT NULL,
    duration_ms     double precision NOT NULL,
    end_state       text             NOT NULL,
    end_reason      text             NOT NULL,
    reason_key      text             NOT NULL,
    complete        smallint         NOT NULL,
    span_count      bigint           NOT NULL,
    agent_count     bigint           NOT NULL,
    llm_calls       bigint           NOT NULL,
    tool_calls      bigint           NOT NULL,
    event_count     bigint           NOT NULL,
    action_count    bigint           NOT NULL,
    error_count     bigint           NOT NULL,
    events_recorded bigint           NOT NULL,
    events_refused  bigint           NOT NULL,
    input_tokens    bigint           NOT NULL,
    output_tokens   bigint           NOT NULL,
    total_tokens    bigint           NOT NULL,
    search          text             NOT NULL DEFAULT '',
    seq             bigint           NOT NULL
);
-- The list's sort orders (each with session_key, the keyset tie-break).
CREATE INDEX crewtrace_sessions_start_idx    ON crewtrace_sessions (start_us, session_key);
-- (start_us, complete make it covering for the overview's duration percentiles)
CREATE INDEX crewtrace_sessions_duration_idx ON crewtrace_sessions (duration_ms, session_key, start_us, complete);
CREATE INDEX crewtrace_sessions_tokens_idx   ON crewtrace_sessions (total_tokens, session_key);
CREATE INDEX crewtrace_sessions_errors_idx   ON crewtrace_sessions (error_count, session_key);
-- Filter by end state, newest first; failure reasons over a time range
-- (reason_key makes it covering for them).
CREATE INDEX crewtrace_sessions_state_idx    ON crewtrace_sessions (end_state, start_us, session_key, reason_key);
-- The overview reads only indexes: per-bucket counts from this one,
-- concurrency from the next, percentiles from the duration index.
CREATE INDEX crewtrace_sessions_overview_idx ON crewtrace_sessions (start_us, end_state, complete, duration_ms,
    error_count, total_tokens, events_recorded, events_refused);
CREATE INDEX crewtrace_sessions_end_idx      ON crewtrace_sessions (end_us, start_us);
-- Per-name reports (success rate per day ...).
CREATE INDEX crewtrace_sessions_name_idx     ON crewtrace_sessions (name_key, start_us);
-- The tail: sessions changed after a cursor.
CREATE INDEX crewtrace_sessions_seq_idx      ON crewtrace_sessions (seq, session_key);
