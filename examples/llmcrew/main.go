// Command llmcrew runs a small crew against any OpenAI-compatible endpoint:
// each task is one otelsession session with two agents (a researcher making
// one streamed call, a writer making calls with a tool), and every LLM call
// is recorded by the otelopenai middleware — the crew's code has no tracing
// in its LLM calls.
//
// Usage:
//
//	llmcrew [-tasks 3] [-concurrency 2] [-model gpt-4o-mini] [-content 0]
//
// The endpoint is OPENAI_BASE_URL (with OPENAI_API_KEY). Without
// OPENAI_BASE_URL the crew runs fully offline against an in-process fake
// endpoint on the loopback interface. Telemetry goes where the OTEL_*
// environment variables say (see package otelsetup); the crew prints one
// line per session either way.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/otelsession/otelsetup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: flags, endpoint, setup, crew, shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmcrew", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.IntVar(&cfg.Tasks, "tasks", 3, "number of tasks (one session each)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 2, "tasks running at once")
	fs.StringVar(&cfg.Model, "model", "gpt-4o-mini", "model to call")
	fs.IntVar(&cfg.Content, "content", 0, "record prompt/completion/tool content truncated to this many bytes (0: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.Tasks < 0 || cfg.Concurrency < 1 || cfg.Content < 0 || cfg.Model == "" {
		fmt.Fprintln(stderr, "llmcrew: -tasks >= 0, -concurrency >= 1, -content >= 0 and a -model are required")
		return 2
	}

	baseURL, apiKey := getenv("OPENAI_BASE_URL"), getenv("OPENAI_API_KEY")
	if baseURL == "" {
		fake := NewFakeEndpoint()
		defer fake.Close()
		baseURL, apiKey = fake.URL, "offline"
		fmt.Fprintf(stderr, "llmcrew: OPENAI_BASE_URL not set: offline, against a fake endpoint at %s\n", fake.URL)
	}
	client := openai.NewClient(
		option.WithBaseURL(baseURL),
		option.WithAPIKey(apiKey),
		option.WithMiddleware(otelopenai.Middleware()),
	)

	providers, shutdown, err := otelsetup.Setup(ctx, otelsetup.WithServiceName("llmcrew"), otelsetup.WithExportOnlyIfConfigured())
	if err != nil {
		fmt.Fprintf(stderr, "llmcrew: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "llmcrew: %d tasks, model %s; traces -> %s\n", cfg.Tasks, cfg.Model, providers.TracesExporter)

	var mu sync.Mutex // sessions end concurrently
	results := Run(ctx, cfg, client, providers.SessionOptions(), func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(stdout, s)
	})

	code := 0
	for _, r := range results {
		if r.EndState != otelsession.Success {
			code = 1
		}
	}
	// Flush before exit; a fresh context, so an interrupt still flushes.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "llmcrew: shutdown: %v\n", err)
		code = 1
	}
	if ctx.Err() != nil && code == 0 {
		code = 130
	}
	return code
}
