package store

import (
	"context"
	"embed"
	"fmt"

	"github.com/crewtrace/crewtrace/record"
)

// SchemaVersion is the version of the store schema this package writes and
// reads (the highest migration it knows).
const SchemaVersion = 3

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema change: steps run in order, in the
// migration transaction.
type migration struct {
	version int
	name    string
	steps   []step
}

// step is a migration file or a Go function, for every dialect or one.
type step struct {
	only Dialect // "" = every dialect
	file string  // in migrations/
	run  func(ctx context.Context, s *Store, tx migrationTx) error
}

// migrations is the one sequence of schema versions of both dialects.
// Version 1 is the schema of the first PostgreSQL sink (one row per
// session); a SQLite store never had it and records it as applied.
var migrations = []migration{
	{1, "sessions", []step{{only: Postgres, file: "0001_sessions.postgres.sql"}}},
	{2, "traces", []step{
		{only: Postgres, file: "0002_v1_aside.postgres.sql"},
		{file: "0002_traces.sql"},
	}},
	{3, "cost", []step{
		{file: "0003_cost.sql"},
		// The copy of a version-1 database's sessions (set aside by
		// migration 2 in the same transaction) runs once the tables have
		// every column the write path fills.
		{only: Postgres, run: copyV1IfAside},
	}},
}

// copyV1IfAside runs copyV1 when migration 2 set version-1 tables aside in
// this transaction (a database that was at version 1).
func copyV1IfAside(ctx context.Context, s *Store, tx migrationTx) error {
	n, err := tx.queryInt(ctx, "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'crewtrace_v1_sessions' AND schemaname = current_schema()")
	if err != nil || n == 0 {
		return err
	}
	return copyV1(ctx, s, tx)
}

// migrationsTable is created before anything else; the first PostgreSQL
// sink created the same table (applied_at timestamptz DEFAULT now()).
const migrationsTable = `CREATE TABLE IF NOT EXISTS crewtrace_schema_migrations (
	version    integer PRIMARY KEY,
	name       text    NOT NULL,
	applied_at text    NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

// migrate applies, in one transaction under the migration lock, every
// migration the database has not recorded. It returns the version the
// database is at afterwards; a version higher than this package knows (a
// newer one migrated the database) is left alone.
func (s *Store) migrate(ctx context.Context) (int, error) {
	tx, err := s.b.beginMigration(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.rollback(context.WithoutCancel(ctx)) }()
	if err := tx.exec(ctx, migrationsTable); err != nil {
		return 0, fmt.Errorf("create crewtrace_schema_migrations: %w", err)
	}
	current, err := tx.queryInt(ctx, "SELECT coalesce(max(version), 0) FROM crewtrace_schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		for _, st := range m.steps {
			if st.only != "" && st.only != s.dialect {
				continue
			}
			if st.run != nil {
				err = st.run(ctx, s, tx)
			} else {
				var b []byte
				if b, err = migrationFiles.ReadFile("migrations/" + st.file); err == nil {
					err = tx.exec(ctx, s.b.ddl(string(b)))
				}
			}
			if err != nil {
				return 0, fmt.Errorf("apply migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := tx.exec(ctx, fmt.Sprintf("INSERT INTO crewtrace_schema_migrations (version, name) VALUES (%d, '%s')", m.version, m.name)); err != nil {
			return 0, fmt.Errorf("record migration %d: %w", m.version, err)
		}
		current = m.version
	}
	if err := tx.commit(ctx); err != nil {
		return 0, fmt.Errorf("commit migration: %w", err)
	}
	return current, nil
}

// copyV1 moves every session of a version-1 database (the first sink's
// crewtrace_sessions, set aside as crewtrace_v1_sessions) into the new
// tables through the store's own write path, then drops the old tables. A
// version-1 row holds the session's whole record, so nothing is lost; a
// row that cannot be written fails the migration (and the transaction
// leaves the database at version 1).
func copyV1(ctx context.Context, s *Store, tx migrationTx) error {
	const chunk = 500
	now := s.cfg.now()
	after := ""
	for {
		docs, err := tx.queryStrings(ctx, `SELECT record::text FROM crewtrace_v1_sessions
			WHERE session_id > $1 ORDER BY session_id LIMIT 500`, after)
		if err != nil {
			return fmt.Errorf("read version-1 sessions: %w", err)
		}
		if len(docs) == 0 {
			break
		}
		rows := make([]traceRow, 0, len(docs))
		for _, doc := range docs {
			rec, err := record.Encoded{JSON: []byte(doc)}.Decode()
			if err != nil {
				return fmt.Errorf("version-1 session after %q: %w", ShortID(after), err)
			}
			r, err := toRow(record.Encoded{SessionID: rec.SessionID, Revision: rec.Revision, JSON: []byte(doc)}, now)
			if err != nil {
				return fmt.Errorf("version-1 session %s: %w", ShortID(rec.SessionID), err)
			}
			rows = append(rows, r)
			after = rec.SessionID
		}
		if err := tx.runStmts(ctx, planWrite(rows)); err != nil {
			return fmt.Errorf("copy version-1 sessions up to %s: %w", ShortID(after), err)
		}
		if len(docs) < chunk {
			break
		}
	}
	return tx.exec(ctx, "DROP TABLE crewtrace_v1_session_agents; DROP TABLE crewtrace_v1_sessions")
}

// migrationFileNames lists the files the migrations use (tests check that
// every file in migrations/ is one of them).
func migrationFileNames() []string {
	var out []string
	for _, m := range migrations {
		for _, st := range m.steps {
			if st.file != "" {
				out = append(out, st.file)
			}
		}
	}
	return out
}
