// Command crewtrace-demo is `make demo`: it builds what the first screen
// needs — the crewtrace collector, the example crew and the crewtrace
// command — starts the collector on 127.0.0.1, runs the crew, prints the
// sessions as they land and then the session table (`crewtrace sessions`),
// and starts the session viewer (`crewtrace ui`) and prints its URL. Jaeger
// v2 is started with the rest when it is already built; otherwise it is
// built in the background (it takes minutes the first time) and started
// when ready: the collector holds the traces for it meanwhile (its exporter
// to Jaeger queues and retries, see collector-config.yaml) and the session
// records never wait for it. Prometheus is started on 127.0.0.1:9090 when
// the prometheus program is installed. Everything keeps running until
// Ctrl-C. No Docker and no service outside this machine.
//
// Usage (from anywhere in the checkout):
//
//	crewtrace-demo [-tasks 8] [-concurrency 4] [-seed 1] [-no-wait] [-build-only] [-free-ports] [-data DIR] [-logs DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
		os.Exit(1)
	}
}

// out serialises the demo's lines: the background Jaeger build reports
// while the rest goes on.
var out = &lockedWriter{w: os.Stdout}

func say(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

// demoViewerAddr is where the demo's viewer listens when that port is free.
const demoViewerAddr = "127.0.0.1:8080"

func run() error {
	tasks := flag.Int("tasks", 8, "sessions the example crew runs")
	concurrency := flag.Int("concurrency", 4, "sessions the crew runs at once")
	seed := flag.Int64("seed", 1, "the crew's random seed")
	noWait := flag.Bool("no-wait", false, "stop everything after printing the sessions instead of waiting for Ctrl-C (a Jaeger build still running is stopped)")
	buildOnly := flag.Bool("build-only", false, "only build (or reuse) every binary, Jaeger included, into the build directory")
	recordsTimeout := flag.Duration("records-timeout", 2*time.Minute, "how long to wait for the session records after the crew started")
	freePorts := flag.Bool("free-ports", false, "listen on free loopback ports instead of the default ones (for tests)")
	dataDir := flag.String("data", "", "directory of the session store and JSONL file (default ./data in the checkout)")
	logsDir := flag.String("logs", "", "directory of the processes' logs, emptied first (default demo-logs in the build directory)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	buildDir := harness.BuildDir(root)
	if *buildOnly {
		say("building into %s (reused when unchanged) ...", rel(root, buildDir))
		_, err := harness.Build(ctx, root, buildDir, prefixWriter{out, "  "})
		return err
	}
	began := time.Now()

	jaegerBin, jaegerBuilt, err := harness.JaegerBuilt(root, buildDir)
	if err != nil {
		return err
	}
	say("building the collector, the example crew and crewtrace into %s (reused when unchanged) ...", rel(root, buildDir))
	bins, err := harness.BuildFirstScreen(ctx, root, buildDir, prefixWriter{out, "  "})
	if err != nil {
		return err
	}
	bins.Jaeger = jaegerBin

	addrs := harness.DefaultAddrs()
	if *freePorts {
		if addrs, err = harness.FreeAddrSet(); err != nil {
			return err
		}
	}
	if addr, busy := addrs.Busy(); busy {
		return fmt.Errorf("%s is already in use — is another demo (or collector, or Jaeger) running?", addr)
	}
	logDir := *logsDir
	if logDir == "" {
		logDir = filepath.Join(buildDir, "demo-logs")
	}
	if err := os.RemoveAll(logDir); err != nil {
		return err
	}
	sessionsDir := *dataDir
	if sessionsDir == "" {
		sessionsDir = filepath.Join(root, "data")
	}
	if jaegerBuilt {
		say("starting Jaeger and the collector on 127.0.0.1 ...")
	} else {
		say("starting the collector on 127.0.0.1 (Jaeger is not built yet: it builds in the background, see below) ...")
	}
	stack, err := harness.StartStack(ctx, harness.StackOptions{
		Root:        root,
		Bins:        bins,
		Addrs:       addrs,
		LogDir:      logDir,
		SessionsDir: sessionsDir,
		JaegerLater: !jaegerBuilt,
		// Records appear 2 s after a session's last span instead of 5 s.
		CollectorEnv: []string{harness.EnvGracePeriod + "=2s"},
	})
	if err != nil {
		return fmt.Errorf("%w\n(logs in %s)", err, rel(root, logDir))
	}
	// Stopped last (deferred first): after the Jaeger goroutine has ended.
	defer func() {
		say("stopping the collector (it writes every buffered session first) and Jaeger ...")
		if err := stack.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
		}
	}()

	jaeger := &jaegerJob{state: "running", since: time.Now(), done: make(chan struct{})}
	if !jaegerBuilt {
		jaeger.state = "building"
		jctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			jaeger.buildAndStart(jctx, root, buildDir, logDir, stack)
		}()
		defer func() { cancel(); wg.Wait() }()
		say("jaeger: building in the background (the first build takes minutes; log %s). The demo goes on without it.",
			rel(root, filepath.Join(logDir, "jaeger-build.log")))
	} else {
		jaeger.watch(stack.Jaeger)
	}

	promAddr := demoPrometheusAddr
	if *freePorts {
		a, err := harness.FreeAddrs(1)
		if err != nil {
			return err
		}
		promAddr = a[0]
	}
	prom := startPrometheus(ctx, root, logDir, stack, promAddr)
	if prom != nil {
		defer func() {
			if err := prom.Stop(0); err != nil {
				fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
			}
		}()
	}

	storePath := filepath.Join(sessionsDir, "sessions.db")
	truthPath := filepath.Join(logDir, "truth.json")
	say("running the example crew: %d sessions, %d at a time ...", *tasks, *concurrency)
	crewStart := time.Now()
	crew, err := harness.Start("crew", logDir, stack.CrewEnv(), bins.Crew,
		"-tasks", strconv.Itoa(*tasks), "-concurrency", strconv.Itoa(*concurrency),
		"-seed", strconv.FormatInt(*seed, 10), "-truth", truthPath)
	if err != nil {
		return err
	}

	// The sessions as they land: `crewtrace sessions tail` on the store,
	// from the crew's start, until every session of the crew is there.
	say("sessions landing in %s (crewtrace sessions tail):", rel(root, storePath))
	since := crewStart.Add(-time.Millisecond).Format(time.RFC3339Nano)
	if err := crewtrace(ctx, bins.Crewtrace, prefixWriter{out, "  "}, "sessions", "tail", "--store", storePath,
		"--since", since, "--wait", strconv.Itoa(*tasks), "--timeout", recordsTimeout.String()); err != nil {
		_ = crew.Stop(0)
		return fmt.Errorf("%w\n(collector log: %s; crew log: %s)", err, rel(root, stack.Collector.LogPath()), rel(root, crew.LogPath()))
	}
	say("first session on screen %s after make demo began", time.Since(began).Round(100*time.Millisecond))
	if err := crew.Wait(ctx); err != nil {
		_ = crew.Stop(0)
		return fmt.Errorf("example crew: %w\n%s", err, crew.LogTail(20))
	}
	truth, err := harness.ReadTruth(truthPath)
	if err != nil {
		return err
	}
	jaeger.setTraces(truth)

	say("")
	if err := crewtrace(ctx, bins.Crewtrace, out, "sessions", "ls", "--store", storePath,
		"--since", since, "--limit", strconv.Itoa(max(len(truth), 1)), "--oldest-first"); err != nil {
		return err
	}
	say("")

	listen := demoViewerAddr
	if *freePorts || !free(listen) {
		listen = "127.0.0.1:0"
	}
	vctx, vcancel := context.WithTimeout(ctx, 30*time.Second)
	viewer, viewerURL, err := harness.StartViewer(vctx, logDir, nil, bins.Crewtrace,
		"--store", storePath, "--listen", listen, "--jaeger", stack.JaegerUI)
	vcancel()
	switch {
	case err != nil && strings.Contains(err.Error(), `unknown command "ui"`):
		say("Viewer:          unavailable (this crewtrace has no `ui` command); the terminal has it all:")
	case err != nil:
		fmt.Fprintln(os.Stderr, "crewtrace-demo: viewer:", err)
	default:
		defer func() {
			if err := viewer.Stop(0); err != nil {
				fmt.Fprintln(os.Stderr, "crewtrace-demo:", err)
			}
		}()
		say("Viewer:          %s   (crewtrace ui --store %s)", viewerURL, rel(root, storePath))
	}
	if len(truth) > 0 {
		say("In the terminal: %s sessions show --store %s %s", rel(root, bins.Crewtrace), rel(root, storePath), truth[0].SessionID)
	}
	if prom != nil {
		if err := printPrometheus(ctx, root, stack, prom, len(truth)); err != nil {
			fmt.Fprintln(os.Stderr, "crewtrace-demo: prometheus:", err)
		}
		say("")
	}
	printWhereToLook(root, stack, truth, prom, jaeger)

	if *noWait {
		return nil
	}
	say("\nThe collector, the viewer, Jaeger (and Prometheus) keep running; send more OTLP to %s. Ctrl-C stops them.", stack.Addrs.OTLPGRPC)
	var viewerDone <-chan struct{}
	if viewer != nil {
		viewerDone = viewer.Done()
	}
	select {
	case <-ctx.Done():
		say("")
	case <-stack.Collector.Done():
		return fmt.Errorf("the collector exited: %v\n%s", stack.Collector.ExitErr(), stack.Collector.LogTail(20))
	case <-jaeger.exited():
		return fmt.Errorf("jaeger exited: %s", jaeger.status())
	case <-viewerDone:
		return fmt.Errorf("the viewer exited: %v\n%s", viewer.ExitErr(), viewer.LogTail(20))
	}
	return nil
}

// crewtrace runs the crewtrace command with its output on w.
func crewtrace(ctx context.Context, bin string, w io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return fmt.Errorf("crewtrace %s: %w\n%s", strings.Join(args[:2], " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// jaegerJob is Jaeger's state in the demo: building, starting, running or
// failed, and the process once started.
type jaegerJob struct {
	mu     sync.Mutex
	state  string
	since  time.Time
	proc   *harness.Process
	traces []string      // the crew's trace IDs, once known
	done   chan struct{} // closed when a started Jaeger exits
}

// setTraces gives the job the crew's trace IDs, to say when Jaeger has them.
func (j *jaegerJob) setTraces(truth []harness.Truth) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, tr := range truth {
		j.traces = append(j.traces, tr.TraceID)
	}
}

// hasTraces reports whether Jaeger has every trace of the crew (false
// until the crew's trace IDs are known).
func (j *jaegerJob) hasTraces(ctx context.Context, stack *harness.Stack) bool {
	ids := j.traceIDs()
	if len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if _, err := stack.Query.Trace(ctx, id); err != nil {
			return false
		}
	}
	return true
}

func (j *jaegerJob) traceIDs() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.traces
}

func (j *jaegerJob) set(state string) {
	j.mu.Lock()
	j.state, j.since = state, time.Now()
	j.mu.Unlock()
}

func (j *jaegerJob) status() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.proc != nil {
		select {
		case <-j.proc.Done():
			return fmt.Sprintf("exited: %v\n%s", j.proc.ExitErr(), j.proc.LogTail(20))
		default:
		}
	}
	return j.state
}

// watch closes done when p exits.
func (j *jaegerJob) watch(p *harness.Process) {
	j.mu.Lock()
	j.proc = p
	j.mu.Unlock()
	go func() { <-p.Done(); close(j.done) }()
}

func (j *jaegerJob) exited() <-chan struct{} { return j.done }

func (j *jaegerJob) process() *harness.Process {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.proc
}

// buildAndStart builds Jaeger at low priority, starts it on the stack's
// addresses and says so; the collector then delivers the traces it held.
func (j *jaegerJob) buildAndStart(ctx context.Context, root, buildDir, logDir string, stack *harness.Stack) {
	started := time.Now()
	j.set("building")
	logPath := filepath.Join(logDir, "jaeger-build.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		j.set("failed: " + err.Error())
		say("jaeger: cannot build: %v", err)
		return
	}
	defer logFile.Close()
	bin, err := harness.BuildJaegerBackground(ctx, root, buildDir, logFile)
	if err != nil {
		if ctx.Err() != nil {
			return // the demo is stopping
		}
		j.set("build failed (" + rel(root, logPath) + ")")
		say("jaeger: the build failed (%s): %v", rel(root, logPath), err)
		return
	}
	j.set("starting")
	if err := stack.StartJaeger(ctx, bin); err != nil {
		if ctx.Err() != nil {
			return
		}
		j.set("failed to start: " + err.Error())
		say("jaeger: built, but it did not start: %v", err)
		return
	}
	j.set("running")
	j.watch(stack.Jaeger)
	up := time.Now()
	say("jaeger: ready at %s (built in the background in %s); the collector is sending it the traces it held ...",
		stack.JaegerUI, up.Sub(started).Round(time.Second))
	// The collector's gRPC connection to Jaeger reconnects with gRPC's
	// backoff (up to 2 minutes after a long wait), so say when the crew's
	// traces are really there.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !j.hasTraces(ctx, stack) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	say("jaeger: has the crew's %d traces, %s after it started; the viewer's Jaeger links work now.",
		len(j.traceIDs()), time.Since(up).Round(time.Second))
}

// demoPrometheusAddr is where the demo's Prometheus listens: Prometheus's own default port.
const demoPrometheusAddr = "127.0.0.1:9090"

// startPrometheus starts Prometheus on addr with the repository's configuration
// (deploy/prometheus: its targets are the collector's defaults, which the
// demo uses) scraping every 2 s, or says why it does not and returns nil:
// the demo works without it.
func startPrometheus(ctx context.Context, root, logDir string, stack *harness.Stack, addr string) *harness.Prometheus {
	if _, err := harness.PrometheusBinary(); err != nil {
		fmt.Println("prometheus is not installed (apt-get install prometheus): the crew's metrics are at", stack.CrewMetricsURL())
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Printf("%s is in use: not starting Prometheus; the crew's metrics are at %s\n", addr, stack.CrewMetricsURL())
		return nil
	}
	l.Close()
	fmt.Printf("starting Prometheus on %s (deploy/prometheus, scraping every 2s) ...\n", addr)
	prom, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{
		Root: root, LogDir: logDir, Addr: addr, Interval: 2 * time.Second,
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

func printWhereToLook(root string, stack *harness.Stack, truth []harness.Truth, prom *harness.Prometheus, jaeger *jaegerJob) {
	say("Session records: %s (the store the viewer reads) and %s (one JSON object per line)",
		rel(root, filepath.Join(stack.SessionsDir, "sessions.db")), rel(root, stack.SessionsPath()))
	switch st := jaeger.status(); st {
	case "running":
		say("Jaeger:          %s", stack.JaegerUI)
	case "building", "starting":
		say("Jaeger:          %s — still %s in the background (%s so far); the collector holds the traces until it is up, and says here when it is.",
			stack.JaegerUI, st, time.Since(jaeger.since).Round(time.Second))
	default:
		say("Jaeger:          %s — %s", stack.JaegerUI, st)
	}
	say("  This Jaeger is built from the Go module, which does not hold the UI's assets: its pages")
	say("  are a placeholder. Its HTTP query API works, e.g.")
	if len(truth) > 0 {
		say("    curl -s %s/api/traces/%s", stack.JaegerUI, truth[0].TraceID)
	}
	say("    curl -s %s/api/services", stack.JaegerUI)
	say("  For the full UI: `docker compose up` (the jaegertracing/jaeger image has it), or set")
	say("  JAEGER_UI_ASSETS to a built jaeger-ui directory before `make demo`.")
	say("Crew metrics:    %s (the collector's prometheus exporter)", stack.CrewMetricsURL())
	if prom != nil {
		say("Prometheus:      %s (recording rules and alerts of deploy/prometheus; see docs/MONITORING.md)", prom.URL)
	}
	// Not stack.Logs(): Jaeger may be starting in the other goroutine.
	logs := []string{stack.Collector.LogPath()}
	if p := jaeger.process(); p != nil {
		logs = append(logs, p.LogPath())
	}
	if prom != nil {
		logs = append(logs, prom.LogPath())
	}
	say("Logs:            %s", strings.Join(relAll(root, logs), ", "))
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

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
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
