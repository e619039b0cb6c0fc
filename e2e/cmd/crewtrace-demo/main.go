// Command crewtrace-demo is `make demo`: it builds the crewtrace collector,
// Jaeger v2 and the example crew (reusing earlier builds), starts Jaeger and
// the collector on 127.0.0.1 — and Prometheus on 127.0.0.1:9090 when the
// prometheus program is installed — runs the crew against them, prints a
// table of the session records the collector wrote and the crew's numbers as
// Prometheus has them, and leaves everything running until Ctrl-C. It needs
// no Docker and no service outside this machine.
//
// Usage (from anywhere in the checkout):
//
//	crewtrace-demo [-tasks 8] [-concurrency 4] [-seed 1] [-no-wait] [-build-only]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	tasks := flag.Int("tasks", 8, "sessions the example crew runs")
	concurrency := flag.Int("concurrency", 4, "sessions the crew runs at once")
	seed := flag.Int64("seed", 1, "the crew's random seed")
	noWait := flag.Bool("no-wait", false, "stop Jaeger and the collector after printing the records instead of waiting for Ctrl-C")
	buildOnly := flag.Bool("build-only", false, "only build (or reuse) the binaries into the build directory")
	recordsTimeout := flag.Duration("records-timeout", 2*time.Minute, "how long to wait for the session records after the crew finished")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	buildDir := harness.BuildDir(root)
	fmt.Printf("building into %s (reused when unchanged) ...\n", rel(root, buildDir))
	bins, err := harness.Build(ctx, root, buildDir, prefixWriter{os.Stdout, "  "})
	if err != nil || *buildOnly {
		return err
	}

	addrs := harness.DefaultAddrs()
	if addr, busy := addrs.Busy(); busy {
		return fmt.Errorf("%s is already in use — is another demo (or collector, or Jaeger) running?", addr)
	}
	logDir := filepath.Join(buildDir, "demo-logs")
	if err := os.RemoveAll(logDir); err != nil {
		return err
	}
	sessionsDir := filepath.Join(root, "data")
	fmt.Println("starting Jaeger and the collector on 127.0.0.1 ...")
	stack, err := harness.StartStack(ctx, harness.StackOptions{
		Root:        root,
		Bins:        bins,
		Addrs:       addrs,
		LogDir:      logDir,
		SessionsDir: sessionsDir,
		// Records appear 2 s after a session's last span instead of 5 s.
		CollectorEnv: []string{harness.EnvGracePeriod + "=2s"},
	})
	if err != nil {
		return fmt.Errorf("%w\n(logs in %s)", err, rel(root, logDir))
	}
	defer func() {
		fmt.Println("stopping the collector (it writes every buffered session first) and Jaeger ...")
		if err := stack.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
		}
	}()

	prom := startPrometheus(ctx, root, logDir, stack)
	if prom != nil {
		defer func() {
			if err := prom.Stop(0); err != nil {
				fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
			}
		}()
	}

	truthPath := filepath.Join(logDir, "truth.json")
	fmt.Printf("running the example crew: %d sessions, %d at a time ...\n", *tasks, *concurrency)
	crew, err := harness.Start("crew", logDir, stack.CrewEnv(), bins.Crew,
		"-tasks", strconv.Itoa(*tasks), "-concurrency", strconv.Itoa(*concurrency),
		"-seed", strconv.FormatInt(*seed, 10), "-truth", truthPath)
	if err != nil {
		return err
	}
	if err := crew.Wait(ctx); err != nil {
		_ = crew.Stop(0)
		return fmt.Errorf("example crew: %w\n%s", err, crew.LogTail(20))
	}
	truth, err := harness.ReadTruth(truthPath)
	if err != nil {
		return err
	}

	fmt.Printf("waiting for the collector to write the %d session records ...\n", len(truth))
	records, err := waitForRecords(ctx, stack.SessionsPath(), truth, *recordsTimeout)
	if err != nil {
		return fmt.Errorf("%w\n(collector log: %s)", err, rel(root, stack.Collector.LogPath()))
	}
	fmt.Println()
	printTable(os.Stdout, truth, records)
	fmt.Println()
	if prom != nil {
		if err := printPrometheus(ctx, root, stack, prom, len(truth)); err != nil {
			fmt.Fprintln(os.Stderr, "crewtrace-demo: prometheus:", err)
		}
		fmt.Println()
	}
	printWhereToLook(root, stack, truth, prom)

	if *noWait {
		return nil
	}
	fmt.Println("\nJaeger, the collector (and Prometheus) keep running; send more OTLP to 127.0.0.1:4317. Ctrl-C stops them.")
	select {
	case <-ctx.Done():
		fmt.Println()
	case <-stack.Collector.Done():
		return fmt.Errorf("the collector exited: %v\n%s", stack.Collector.ExitErr(), stack.Collector.LogTail(20))
	case <-stack.Jaeger.Done():
		return fmt.Errorf("jaeger exited: %v\n%s", stack.Jaeger.ExitErr(), stack.Jaeger.LogTail(20))
	}
	return nil
}

// waitForRecords polls the records file until it holds a record for every
// session of this run (the file also holds earlier runs' records).
func waitForRecords(ctx context.Context, path string, truth []harness.Truth, timeout time.Duration) (map[string]harness.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var latest map[string]harness.Record
	err := harness.Poll(ctx, "session records in "+path, func(context.Context) (bool, string, error) {
		recs, err := harness.ReadRecords(path)
		if err != nil {
			return false, "", err
		}
		latest = harness.Latest(recs)
		missing := 0
		for _, tr := range truth {
			if _, ok := latest[tr.SessionID]; !ok {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d sessions have no record yet", missing, len(truth)), nil
	})
	if errors.Is(err, context.Canceled) {
		return nil, errors.New("interrupted")
	}
	return latest, err
}

func printTable(w io.Writer, truth []harness.Truth, records map[string]harness.Record) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tEND STATE\tAGENTS\tEVENTS\tTOKENS IN/OUT\tDURATION\tTRACE")
	for _, tr := range truth {
		r := records[tr.SessionID]
		state := r.EndState
		if !r.Complete {
			state += " (incomplete)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\n",
			r.Name, state, len(r.Agents), len(r.Events), r.Tokens.Input, r.Tokens.Output,
			time.Duration(r.DurationMs*float64(time.Millisecond)).Round(time.Millisecond), r.TraceURL)
	}
	tw.Flush()
}

// demoPrometheusAddr is where the demo's Prometheus listens: Prometheus's own default port.
const demoPrometheusAddr = "127.0.0.1:9090"

// startPrometheus starts Prometheus with the repository's configuration
// (deploy/prometheus: its targets are the collector's defaults, which the
// demo uses) scraping every 2 s, or says why it does not and returns nil:
// the demo works without it.
func startPrometheus(ctx context.Context, root, logDir string, stack *harness.Stack) *harness.Prometheus {
	if _, err := harness.PrometheusBinary(); err != nil {
		fmt.Println("prometheus is not installed (apt-get install prometheus): the crew's metrics are at", stack.CrewMetricsURL())
		return nil
	}
	l, err := net.Listen("tcp", demoPrometheusAddr)
	if err != nil {
		fmt.Printf("%s is in use: not starting Prometheus; the crew's metrics are at %s\n", demoPrometheusAddr, stack.CrewMetricsURL())
		return nil
	}
	l.Close()
	fmt.Printf("starting Prometheus on %s (deploy/prometheus, scraping every 2s) ...\n", demoPrometheusAddr)
	prom, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{
		Root: root, LogDir: logDir, Addr: demoPrometheusAddr, Interval: 2 * time.Second,
		Targets: map[string][]string{
			harness.JobCrewtrace: {stack.Addrs.CrewMetrics},
			harness.JobOtelcol:   {stack.Addrs.Metrics},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crewtrace-demo: prometheus:", err)
		return nil
	}
	return prom
}

// printPrometheus waits until Prometheus has scraped the crew's final
// numbers, then prints some of docs/MONITORING.md's queries and their results.
func printPrometheus(ctx context.Context, root string, stack *harness.Stack, prom *harness.Prometheus, sessions int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := harness.Poll(ctx, "the crew's metrics in the collector", func(ctx context.Context) (bool, string, error) {
		n, _, err := harness.ScrapeMetric(ctx, stack.CrewMetricsURL(), "crewtrace_sessions_ended_total", nil)
		if err != nil {
			return false, err.Error(), nil
		}
		return int(n) == sessions, fmt.Sprintf("%v of %d sessions", n, sessions), nil
	})
	if err != nil {
		return err
	}
	if err := prom.WaitScrapedAfter(ctx, time.Now(), harness.JobCrewtrace, harness.JobOtelcol); err != nil {
		return err
	}
	queries, err := harness.MonitoringQueries(root)
	if err != nil {
		return err
	}
	fmt.Printf("In Prometheus (%s; queries from %s):\n", prom.URL, harness.MonitoringDoc)
	show := map[string]bool{"sessions_ended_by_state": true, "events_recorded_by_kind": true, "events_rejected_by_reason": true, "agents_created": true}
	for _, q := range queries {
		if !show[q.Name] {
			continue
		}
		res, err := prom.Query(ctx, q.Query)
		if err != nil {
			return err
		}
		fmt.Printf("  %s\n", q.Name)
		for _, s := range res {
			fmt.Printf("    {%s} %g\n", s.Key(), s.Value)
		}
	}
	return nil
}

func printWhereToLook(root string, stack *harness.Stack, truth []harness.Truth, prom *harness.Prometheus) {
	fmt.Printf("Session records: %s (one JSON object per line)\n", rel(root, stack.SessionsPath()))
	fmt.Printf("Jaeger:          %s\n", stack.JaegerUI)
	fmt.Println("  This Jaeger is built from the Go module, which does not hold the UI's assets: its pages")
	fmt.Println("  are a placeholder. Its HTTP query API works, e.g.")
	if len(truth) > 0 {
		fmt.Printf("    curl -s %s/api/traces/%s\n", stack.JaegerUI, truth[0].TraceID)
	}
	fmt.Printf("    curl -s %s/api/services\n", stack.JaegerUI)
	fmt.Println("  For the full UI: `docker compose up` (the jaegertracing/jaeger image has it), or set")
	fmt.Println("  JAEGER_UI_ASSETS to a built jaeger-ui directory before `make demo`.")
	fmt.Printf("Crew metrics:    %s (the collector's prometheus exporter)\n", stack.CrewMetricsURL())
	if prom != nil {
		fmt.Printf("Prometheus:      %s (recording rules and alerts of deploy/prometheus; see docs/MONITORING.md)\n", prom.URL)
	}
	logs := stack.Logs()
	if prom != nil {
		logs = append(logs, prom.LogPath())
	}
	fmt.Printf("Logs:            %s\n", strings.Join(relAll(root, logs), ", "))
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return "./" + r
	}
	return path
}

func relAll(root string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = rel(root, p)
	}
	return out
}

// prefixWriter indents build progress under its heading.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	for _, l := range lines {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+l); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
