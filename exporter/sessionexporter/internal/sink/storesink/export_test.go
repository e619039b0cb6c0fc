package storesink

import "github.com/crewtrace/crewtrace/store/pgtest"

// SharedServer gives the package's external tests (package storesink_test)
// the server TestMain started.
func SharedServer() *pgtest.Server { return srv }
