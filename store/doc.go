// Package store keeps session records in a database and answers what the
// viewer asks of them. One schema, one sequence of migrations and one set
// of queries serve two dialects: PostgreSQL (through pgx) for production
// and SQLite (through modernc.org/sqlite, pure Go) embedded, with zero
// set-up. Open chooses the dialect from the DSN.
//
// The data model: a record is one trace of a session. The store keeps a
// row per (session, trace) — per fragment of a trace when several
// collectors assembled parts of it — holding the record with the highest
// revision, so replays and retries never duplicate. A session is the
// aggregate of its trace rows; a summary row per session is recomputed by
// SQL from them in the transaction that writes them, which keeps list pages
// cheap.
//
// Writers (the exporter's sinks) call Write. Readers (the viewer, the
// command line) call ListSessions, CountSessions, Session, Overview, Head
// and SessionsSince; Open with ReadOnly for them.
//
//	s, err := store.Open(ctx, "sqlite:/var/lib/crewtrace/sessions.db")
//	...
//	err = s.Write(ctx, records)            // nil, *store.Rejected, or retryable
//	page, err := s.ListSessions(ctx, store.ListQuery{Filter: store.Filter{EndStates: []string{"Fail"}}})
//	next, err := s.ListSessions(ctx, store.ListQuery{Filter: ..., After: page.Next})
//
// See README.md for the schema, the guarantees and measured figures.
package store
