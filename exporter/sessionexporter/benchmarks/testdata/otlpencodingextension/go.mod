// Stand-in for a contrib module that is not obtainable here. Only
// fileexporter's own tests import it; nothing in this repository builds it.
// The replace directive in ../../go.mod points at this directory so that
// `go mod download` and `go mod tidy` work in the whole workspace.
module github.com/open-telemetry/opentelemetry-collector-contrib/extension/encoding/otlpencodingextension

go 1.26.0
