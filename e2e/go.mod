module github.com/crewtrace/crewtrace/e2e

go 1.26.0

replace github.com/crewtrace/crewtrace => ..

require (
	github.com/crewtrace/crewtrace v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6
)
