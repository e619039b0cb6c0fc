// Command crewtrace-load drives many concurrent crewtrace sessions, alongside
// unrelated telemetrygen traffic, through the real collector (built and run
// on loopback ports by the e2e harness, with Jaeger), then reports sessions/s,
// spans/s, the collector's peak RSS and the exporter's buffer high-water mark,
// and checks that every session started has exactly one complete record and
// that no unrelated trace has one. It exits 1 when the check fails.
//
//	go run ./cmd/crewtrace-load -sessions 10000            # make load
//	go run ./cmd/crewtrace-load -sessions 3000 -rate 200   # sustained rate
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/e2e/load"
)

func main() {
	var (
		sessions    = flag.Int("sessions", 10000, "sessions to run")
		concurrency = flag.Int("concurrency", 0, "sessions open at once (0: all of them)")
		rate        = flag.Float64("rate", 0, "start sessions at this rate per second, each open for -hold (0: waves of -concurrency)")
		hold        = flag.Duration("hold", time.Second, "how long a session stays open with -rate")
		workers     = flag.Int("noise-workers", 2, "telemetrygen workers (0: no unrelated traffic)")
		traces      = flag.Int("noise-traces", 1000, "telemetrygen traces per worker")
		noiseRate   = flag.Float64("noise-rate", 200, "telemetrygen traces per second per worker (0: unthrottled)")
		maxSessions = flag.Int("max-sessions", 0, "override the exporter's max_sessions (0: the config's)")
		grace       = flag.Duration("grace", 2*time.Second, "the exporter's grace_period")
		sessTimeout = flag.Duration("session-timeout", 10*time.Second, "the exporter's session_timeout")
		timeout     = flag.Duration("timeout", 8*time.Minute, "how long to wait for the records")
		keep        = flag.Bool("keep", false, "keep the logs and records directory")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *keep, load.Options{
		Sessions: *sessions, Concurrency: *concurrency, Rate: *rate, Hold: *hold,
		Noise: harness.TelemetrygenTraces{Workers: *workers, Traces: *traces, Rate: *noiseRate,
			ChildSpans: 2, Service: load.ServiceNoise},
		GracePeriod: *grace, SessionTimeout: *sessTimeout, MaxSessions: *maxSessions, Timeout: *timeout,
		Log: os.Stderr,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "crewtrace-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keep bool, o load.Options) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	o.Root = root
	if o.Bins, err = harness.Build(ctx, root, harness.BuildDir(root), os.Stderr); err != nil {
		return err
	}
	if o.LogDir, err = os.MkdirTemp("", "crewtrace-load-"); err != nil {
		return err
	}
	rep, err := load.Run(ctx, o)
	if rep != nil {
		fmt.Println(rep)
	}
	if err == nil {
		err = rep.OK()
	}
	if err != nil || keep {
		fmt.Fprintln(os.Stderr, "logs and records in", o.LogDir)
	} else {
		os.RemoveAll(o.LogDir)
	}
	if err != nil {
		return err
	}
	fmt.Println("count check: OK — one complete record per session started, none lost, none extra, unrelated traces ignored")
	return nil
}
