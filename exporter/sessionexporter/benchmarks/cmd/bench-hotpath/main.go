// Command bench-hotpath runs the side-by-side collector benchmark of package
// hotpath and prints its tables (make bench-hotpath):
//
//	go run ./cmd/bench-hotpath -sessions 20000 -rounds 5
//	go run ./cmd/bench-hotpath -pipelines session-file -profile /tmp/prof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/benchmarks/hotpath"
)

func main() {
	hotpath.MaybeRunCollector() // a child started by the harness: be the collector
	var (
		sessions    = flag.Int("sessions", 20000, "sessions in the load")
		spans       = flag.Int("spans", 10, "spans per session")
		batch       = flag.Int("batch", 1000, "spans per OTLP export request")
		wave        = flag.Int("wave", 500, "sessions whose child spans are sent before their roots")
		workers     = flag.Int("workers", 2, "export requests in flight")
		rounds      = flag.Int("rounds", 5, "rounds (each runs every pipeline once)")
		pipelines   = flag.String("pipelines", "all", "comma-separated pipelines beside nop and groupbytrace (all: "+pipelineList()+")")
		grace       = flag.Duration("grace", 2*time.Second, "the session exporter's grace_period and groupbytrace's wait_duration")
		maxSessions = flag.Int("max-sessions", 0, "the session exporter's max_sessions (0: the number of sessions, so every one fits)")
		profile     = flag.String("profile", "", "write CPU and allocation profiles of one extra run of each session pipeline here")
		dir         = flag.String("dir", "", "directory for the runs' files (default: a temporary one)")
		keep        = flag.Bool("keep", false, "keep each run's configuration, log and outputs")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *sessions, *spans, *batch, *wave, *workers, *rounds, *pipelines, *grace, *maxSessions, *profile, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench-hotpath:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sessions, spans, batch, wave, workers, rounds int, names string,
	grace time.Duration, maxSessions int, profile, dir string, keep bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ps, err := hotpath.SelectPipelines(names)
	if err != nil {
		return err
	}
	load, err := hotpath.NewLoad(sessions, spans, batch, wave)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-hotpath-"); err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(dir)
		}
	}
	if maxSessions <= 0 {
		maxSessions = sessions
	}
	o := hotpath.Options{Collector: self, Dir: dir, Keep: keep, Load: load, Workers: workers,
		Grace: grace, MaxSessions: maxSessions, Pipelines: ps, Rounds: rounds, ProfileDir: profile,
		Log: os.Stderr}
	results, err := hotpath.Run(ctx, o)
	if len(results) > 0 {
		hotpath.WriteReport(os.Stdout, o, hotpath.Summarise(ps, results))
	}
	if b, lerr := os.ReadFile("/proc/loadavg"); lerr == nil {
		fmt.Printf("\nload average at the end: %s", b)
	}
	return err
}

func pipelineList() string {
	s := ""
	for i, p := range hotpath.Pipelines() {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}
