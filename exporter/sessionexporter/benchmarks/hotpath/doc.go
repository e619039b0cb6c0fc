// Package hotpath measures collector pipelines side by side as separate
// processes: the same OTLP/gRPC receiver in front of (a) a nop exporter, the
// ceiling of receive-and-decode; (b) contrib groupbytrace feeding the contrib
// file exporter, the closest contrib pipeline that writes whole traces; (c)
// the session exporter with each sink and with file_storage. Every pipeline
// gets the same load, encoded once; the pipelines run interleaved over
// several rounds so that they share the machine's load; each run reports
// spans per collector CPU-second (utime+stime of the collector process, all
// threads), its peak RSS (VmHWM), the bytes it wrote, and the ratios to (a)
// and (b) within the round.
//
// The collector is the running program itself, started again with
// CollectorEnv set (MaybeRunCollector): a bench-only build with nop,
// groupbytrace and fileexporter beside the session exporter, which the
// shipped distribution (cmd/otelcol-crewtrace) never links. Run it with
// `make bench-hotpath` (cmd/bench-hotpath).
package hotpath
