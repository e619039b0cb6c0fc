package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

var srv *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &srv)) }

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var out string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&out))
	return out
}

func TestServerAcceptsPasswordOnLoopback(t *testing.T) {
	db := srv.NewDatabase(t)
	require.Equal(t, db, query(t, srv.DSN(db), "SELECT current_database()"))
	require.Equal(t, "127.0.0.1/32", query(t, srv.DSN(db), "SELECT inet_server_addr()::text"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, srv.DSNWithoutPassword(db))
	require.Error(t, err, "password authentication must be required")
}

func TestDatabasesAreSeparate(t *testing.T) {
	a, b := srv.NewDatabase(t), srv.NewDatabase(t)
	require.NotEqual(t, a, b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN(a))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.Equal(t, "0", query(t, srv.DSN(b), "SELECT count(*)::text FROM pg_tables WHERE tablename = 'only_in_a'"))
}

func TestStopStartKeepsPortAndData(t *testing.T) {
	db := srv.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN(db))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	port := srv.Port

	require.NoError(t, srv.Stop())
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = pgx.Connect(cctx, srv.DSN(db))
	require.Error(t, err, "a stopped server must refuse connections")
	require.NoError(t, srv.Stop(), "stopping twice is a no-op")

	require.NoError(t, srv.Start())
	require.Equal(t, port, srv.Port)
	require.Equal(t, "before", query(t, srv.DSN(db), "SELECT v FROM kept"))
	require.Error(t, srv.Start(), "starting a running server is an error")
}
