-- 0003: cost. Each trace row, agent row and session gets its cost in USD;
-- a row per model of each trace row keeps the model's calls, tokens by kind
-- and cost, which Reprice recomputes costs from. Both dialects run this file.
-- Rows written before this migration have costed = 0: their cost is unknown,
-- not $0.

ALTER TABLE crewtrace_traces ADD COLUMN cost_usd double precision NOT NULL DEFAULT 0;
ALTER TABLE crewtrace_traces ADD COLUMN reported_usd double precision NOT NULL DEFAULT 0;
ALTER TABLE crewtrace_traces ADD COLUMN unpriced_calls bigint NOT NULL DEFAULT 0;
ALTER TABLE crewtrace_traces ADD COLUMN price_table text NOT NULL DEFAULT '';
-- 1 when the record carries a cost (the exporter priced it).
ALTER TABLE crewtrace_traces ADD COLUMN costed smallint NOT NULL DEFAULT 0;

ALTER TABLE crewtrace_trace_agents ADD COLUMN cost_usd double precision NOT NULL DEFAULT 0;

ALTER TABLE crewtrace_sessions ADD COLUMN cost_usd double precision NOT NULL DEFAULT 0;
ALTER TABLE crewtrace_sessions ADD COLUMN unpriced_calls bigint NOT NULL DEFAULT 0;
-- The number of the session's traces that carry a cost.
ALTER TABLE crewtrace_sessions ADD COLUMN costed_traces bigint NOT NULL DEFAULT 0;

-- The models of each stored trace row, at that row's revision.
CREATE TABLE crewtrace_trace_models (
    session_key           text             NOT NULL,
    trace_id              text             NOT NULL,
    fragment              text             NOT NULL DEFAULT '',
    ordinal               integer          NOT NULL,
    revision              bigint           NOT NULL,
    provider              text             NOT NULL,
    model                 text             NOT NULL,
    model_key             text             NOT NULL,
    llm_calls             bigint           NOT NULL,
    input_tokens          bigint           NOT NULL,
    output_tokens         bigint           NOT NULL,
    cache_read_tokens     bigint           NOT NULL,
    cache_write_tokens    bigint           NOT NULL,
    cache_write_1h_tokens bigint           NOT NULL,
    reasoning_tokens      bigint           NOT NULL,
    cost_usd              double precision NOT NULL,
    reported_usd          double precision NOT NULL,
    priced_calls          bigint           NOT NULL,
    reported_calls        bigint           NOT NULL,
    unpriced_calls        bigint           NOT NULL,
    PRIMARY KEY (session_key, trace_id, fragment, ordinal)
);
CREATE INDEX crewtrace_trace_models_model_idx ON crewtrace_trace_models (model_key);

-- Sort by cost, and the overview's per-bucket cost from its index.
CREATE INDEX crewtrace_sessions_cost_idx ON crewtrace_sessions (cost_usd, session_key);
DROP INDEX crewtrace_sessions_overview_idx;
CREATE INDEX crewtrace_sessions_overview_idx ON crewtrace_sessions (start_us, end_state, complete, duration_ms,
    error_count, total_tokens, events_recorded, events_refused, cost_usd, unpriced_calls);
