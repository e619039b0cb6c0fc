// Package harness runs crewtrace's real programs — the collector distribution
// (cmd/otelcol-crewtrace), Jaeger v2 (tools/jaeger) and the example crew
// (examples/crew) — as processes on loopback, for the end-to-end tests, the
// reliability tests and `make demo`.
//
// It builds the binaries into one directory and reuses them ([Build]), picks
// free loopback ports ([FreeAddr]), starts processes in their own process
// group with their output captured to a log file ([Start]), waits with
// deadlines rather than sleeps ([Poll], [WaitHTTP]), and stops what it started,
// the whole process group, also when the caller fails ([Process.Stop]).
// [StartStack] wires Jaeger and the collector together the way
// collector-config.yaml and deploy/jaeger-config.yaml expect, and
// [Stack.RestartCollector] brings the collector back after a [Process.Kill].
//
// It reads what those programs produce with types of its own (session records,
// the crew's ground truth, Jaeger's query API), so a test using it checks the
// documented JSON contracts rather than sharing code with what it tests.
package harness
