// Package benchmarks compares the session exporter with the collector-contrib
// pipeline that comes closest to it — groupbytraceprocessor feeding
// fileexporter — and with an OTLP-decode→nop ceiling, on the same generated
// session traces in the same run. It is its own module so the exporter's
// go.mod carries no contrib dependency.
//
//	go test -run '^$' -bench . -benchmem -count 3 .
package benchmarks
