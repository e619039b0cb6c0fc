-- 0002, PostgreSQL only, before 0002_traces.sql: set the version-1 tables
-- (one row per session) aside under other names, so that the new tables can
-- take theirs. migrate.go copies every stored record into the new tables
-- through the store's own write path and then drops these tables, in the
-- same transaction.

ALTER TABLE crewtrace_session_agents RENAME TO crewtrace_v1_session_agents;
ALTER TABLE crewtrace_sessions RENAME TO crewtrace_v1_sessions;
ALTER INDEX crewtrace_sessions_pkey RENAME TO crewtrace_v1_sessions_pkey;
ALTER INDEX crewtrace_sessions_name_start_idx RENAME TO crewtrace_v1_sessions_name_start_idx;
ALTER INDEX crewtrace_sessions_start_idx RENAME TO crewtrace_v1_sessions_start_idx;
ALTER INDEX crewtrace_session_agents_pkey RENAME TO crewtrace_v1_session_agents_pkey;
ALTER INDEX crewtrace_session_agents_name_idx RENAME TO crewtrace_v1_session_agents_name_idx;
