package hotpath

import (
	"fmt"
	"strings"
	"time"
)

// Pipeline is one collector configuration the harness runs: the same OTLP
// receiver, then what the name says.
type Pipeline struct {
	// Name identifies the pipeline in flags and in the report.
	Name string
	// Describe says what it is, for the report.
	Describe string
	// kind selects the exporter side.
	kind pipelineKind
	// Session exporter sinks and storage (kind sessionKind only).
	file, sqlite, storage bool
}

type pipelineKind int

const (
	nopKind pipelineKind = iota
	groupByTraceKind
	sessionKind
)

// Pipeline names: the two references and the session exporter's variants.
const (
	Nop               = "nop"
	GroupByTrace      = "groupbytrace"
	SessionFile       = "session-file"
	SessionSQLite     = "session-sqlite"
	SessionBoth       = "session-file-sqlite"
	SessionFileStore  = "session-file+storage"
	SessionBothStored = "session-file-sqlite+storage"
)

// Pipelines returns every pipeline the harness knows, references first.
func Pipelines() []Pipeline {
	return []Pipeline{
		{Name: Nop, Describe: "OTLP → nop exporter (the ceiling: receive and decode only)", kind: nopKind},
		{Name: GroupByTrace, Describe: "OTLP → contrib groupbytrace → contrib file exporter (OTLP JSON)", kind: groupByTraceKind},
		{Name: SessionFile, Describe: "OTLP → session exporter, file sink", kind: sessionKind, file: true},
		{Name: SessionSQLite, Describe: "OTLP → session exporter, sqlite sink", kind: sessionKind, sqlite: true},
		{Name: SessionBoth, Describe: "OTLP → session exporter, sqlite + file sinks (collector-config.yaml's)", kind: sessionKind, file: true, sqlite: true},
		{Name: SessionFileStore, Describe: "OTLP → session exporter, file sink, file_storage for buffer and queue", kind: sessionKind, file: true, storage: true},
		{Name: SessionBothStored, Describe: "OTLP → session exporter, sqlite + file sinks, file_storage for buffer and queue", kind: sessionKind, file: true, sqlite: true, storage: true},
	}
}

// SelectPipelines returns the named pipelines (comma-separated; "all" or ""
// for every one). The references nop and groupbytrace are always included:
// every ratio is taken against them.
func SelectPipelines(names string) ([]Pipeline, error) {
	all := Pipelines()
	if names == "" || names == "all" {
		return all, nil
	}
	want := map[string]bool{Nop: true, GroupByTrace: true}
	for _, n := range strings.Split(names, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []Pipeline
	for _, p := range all {
		if want[p.Name] {
			out = append(out, p)
			delete(want, p.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("hotpath: unknown pipeline %q (known: %s)", n, pipelineNames(all))
	}
	return out, nil
}

func pipelineNames(ps []Pipeline) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// Output files, relative to the run directory.
const (
	recordsFile = "sessions.jsonl"
	storeFile   = "sessions.db"
	tracesFile  = "traces.jsonl"
	storageDir  = "storage"
)

// sinks returns the number of session sinks (records written per session).
func (p Pipeline) sinks() int {
	n := 0
	if p.file {
		n++
	}
	if p.sqlite {
		n++
	}
	return n
}

// configYAML is the collector configuration of p: receiver on grpcAddr, the
// collector's own metrics on metricsPort, outputs under dir. The session
// exporter keeps its defaults except grace_period (the same wait as
// groupbytrace's wait_duration) and max_sessions, which must hold every
// session of the load at once (the default, 10,000, would flush the rest as
// partial).
func (p Pipeline) configYAML(grpcAddr string, metricsPort int, dir string, grace time.Duration, maxSessions int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: %q\n", grpcAddr)
	var processors, exporters, extensions string
	switch p.kind {
	case nopKind:
		b.WriteString("exporters:\n  nop:\n")
		exporters = "nop"
	case groupByTraceKind:
		fmt.Fprintf(&b, "processors:\n  groupbytrace:\n    wait_duration: %s\n", grace)
		fmt.Fprintf(&b, "exporters:\n  file:\n    path: %q\n", dir+"/"+tracesFile)
		processors, exporters = "groupbytrace", "file"
	case sessionKind:
		if p.storage {
			fmt.Fprintf(&b, "extensions:\n  file_storage:\n    directory: %q\n    create_directory: true\n", dir+"/"+storageDir)
			extensions = "file_storage"
		}
		fmt.Fprintf(&b, "exporters:\n  session:\n    grace_period: %s\n    max_sessions: %d\n", grace, maxSessions)
		if p.file {
			fmt.Fprintf(&b, "    file:\n      path: %q\n", dir+"/"+recordsFile)
		}
		if p.sqlite {
			fmt.Fprintf(&b, "    sqlite:\n      path: %q\n", dir+"/"+storeFile)
		}
		if p.storage {
			b.WriteString("    storage: file_storage\n    sending_queue:\n      storage: file_storage\n")
		}
		exporters = "session"
	}
	fmt.Fprintf(&b, "service:\n  extensions: [%s]\n", extensions)
	fmt.Fprintf(&b, "  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [%s]\n      exporters: [%s]\n", processors, exporters)
	fmt.Fprintf(&b, "  telemetry:\n    logs:\n      level: warn\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: %d\n", metricsPort)
	return b.String()
}
