// Command crew runs a simulated multi-agent crew: N tasks concurrently, each
// in its own otelsession session with 2–4 agents making deterministic
// simulated LLM and tool calls (no network), some of them failing.
//
// Usage:
//
//	crew [-tasks 10] [-concurrency 4] [-seed 1] [-fail-rate 0.2] [-latency 20ms] [-content 0] [-truth FILE]
//
// Telemetry goes where the OTEL_* environment variables say (see package
// otelsetup): with OTEL_EXPORTER_OTLP_ENDPOINT set it is exported over OTLP;
// without it nothing is exported unless OTEL_TRACES_EXPORTER /
// OTEL_METRICS_EXPORTER ask (console prints spans to stdout). Either way the
// crew prints one line per session. -truth writes the ground truth of every
// session as JSON, for end-to-end tests.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crewtrace/crewtrace/otelsession/otelsetup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: flags, setup, crew, truth, shutdown.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("crew", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	var truthPath string
	fs.IntVar(&cfg.Tasks, "tasks", 10, "number of tasks (one session each)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "tasks running at once")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same crew")
	fs.Float64Var(&cfg.FailRate, "fail-rate", 0.2, "probability that a task fails (0..1)")
	fs.DurationVar(&cfg.MaxLatency, "latency", 20*time.Millisecond, "maximum simulated latency of an LLM or tool call")
	fs.IntVar(&cfg.Content, "content", 0, "record prompt/completion/tool content truncated to this many bytes (0: off)")
	fs.StringVar(&truthPath, "truth", "", "write the sessions' ground truth as a JSON array to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.Tasks < 0 || cfg.Concurrency < 1 || cfg.FailRate < 0 || cfg.FailRate > 1 || cfg.MaxLatency < 0 || cfg.Content < 0 {
		fmt.Fprintln(stderr, "crew: -tasks >= 0, -concurrency >= 1, 0 <= -fail-rate <= 1, -latency >= 0 and -content >= 0 are required")
		return 2
	}

	providers, shutdown, err := otelsetup.Setup(ctx, otelsetup.WithServiceName("crew"), otelsetup.WithExportOnlyIfConfigured())
	if err != nil {
		fmt.Fprintf(stderr, "crew: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "crew: %d tasks, concurrency %d, seed %d; traces -> %s, metrics -> %s\n",
		cfg.Tasks, cfg.Concurrency, cfg.Seed, providers.TracesExporter, providers.MetricsExporter)

	truths := Run(ctx, cfg, providers.SessionOptions(), lineWriter(stdout))

	code := 0
	if truthPath != "" {
		if err := writeTruth(truthPath, truths); err != nil {
			fmt.Fprintf(stderr, "crew: %v\n", err)
			code = 1
		}
	}
	// Flush before exit; a fresh context, so an interrupt still flushes.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "crew: shutdown: %v\n", err)
		code = 1
	}
	if ctx.Err() != nil && code == 0 {
		code = 130
	}
	return code
}

func writeTruth(path string, truths []SessionTruth) error {
	if truths == nil {
		truths = []SessionTruth{}
	}
	data, err := json.MarshalIndent(truths, "", "  ")
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	return nil
}
