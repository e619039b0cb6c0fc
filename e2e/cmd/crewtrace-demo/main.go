// Command crewtrace-demo is `make demo`: it builds the crewtrace collector,
// Jaeger v2 and the example crew (reusing earlier builds), starts Jaeger and
// the collector on 127.0.0.1, runs the crew against them, prints a table of
// the session records the collector wrote, and leaves Jaeger and the collector
// running until Ctrl-C. It needs no Docker and no service outside this machine.
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
	printWhereToLook(root, stack, truth)

	if *noWait {
		return nil
	}
	fmt.Println("\nJaeger and the collector keep running; send more OTLP to 127.0.0.1:4317. Ctrl-C stops them.")
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

func printWhereToLook(root string, stack *harness.Stack, truth []harness.Truth) {
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
	fmt.Printf("Logs:            %s\n", strings.Join(relAll(root, stack.Logs()), ", "))
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
