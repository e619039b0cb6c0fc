package postgres

import "github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/postgres/pgtest"

// SharedServer gives the package's external tests (package postgres_test)
// the server TestMain started.
func SharedServer() *pgtest.Server { return srv }
