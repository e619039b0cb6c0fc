-- 0001: one row per session (the highest revision seen) and one row per agent of it.
-- The full record is kept as JSONB; the columns are what the documented queries need.

CREATE TABLE crewtrace_sessions (
    session_id     text             PRIMARY KEY CHECK (session_id <> ''),
    revision       integer          NOT NULL CHECK (revision >= 0),
    schema_version integer          NOT NULL,
    trace_id       text             NOT NULL,
    name           text             NOT NULL,
    tags           text[]           NOT NULL DEFAULT '{}',
    start_time     timestamptz      NOT NULL,
    end_time       timestamptz      NOT NULL,
    duration_ms    double precision NOT NULL CHECK (duration_ms >= 0),
    end_state      text             NOT NULL,
    end_reason     text             NOT NULL,
    complete       boolean          NOT NULL,
    flush_reason   text             NOT NULL,
    emitted_at     timestamptz      NOT NULL,
    span_count     integer          NOT NULL,
    agent_count    integer          NOT NULL,
    llm_calls      integer          NOT NULL,
    tool_calls     integer          NOT NULL,
    event_count    integer          NOT NULL,
    action_count   integer          NOT NULL,
    error_count    integer          NOT NULL,
    input_tokens   bigint           NOT NULL,
    output_tokens  bigint           NOT NULL,
    total_tokens   bigint           NOT NULL,
    trace_url      text             NOT NULL DEFAULT '',
    record         jsonb            NOT NULL,
    stored_at      timestamptz      NOT NULL DEFAULT now()
);

-- Success rate by name per day, p95 duration by name: filter on name and a time range.
CREATE INDEX crewtrace_sessions_name_start_idx ON crewtrace_sessions (name, start_time);
-- Everything over a time range (dashboards, retention).
CREATE INDEX crewtrace_sessions_start_idx ON crewtrace_sessions (start_time);

CREATE TABLE crewtrace_session_agents (
    session_id    text    NOT NULL REFERENCES crewtrace_sessions (session_id) ON DELETE CASCADE,
    ordinal       integer NOT NULL,
    agent_id      text    NOT NULL,
    name          text    NOT NULL,
    span_count    integer NOT NULL,
    llm_calls     integer NOT NULL,
    tool_calls    integer NOT NULL,
    errors        integer NOT NULL,
    input_tokens  bigint  NOT NULL,
    output_tokens bigint  NOT NULL,
    total_tokens  bigint  NOT NULL,
    PRIMARY KEY (session_id, ordinal)
);

-- Tokens per agent name.
CREATE INDEX crewtrace_session_agents_name_idx ON crewtrace_session_agents (name) INCLUDE (input_tokens, output_tokens, total_tokens);
