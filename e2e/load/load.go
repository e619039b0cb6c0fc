// Package load drives many concurrent crewtrace sessions, plus unrelated
// telemetrygen traffic, through the real collector (the e2e harness's Stack)
// and checks that every session started gets exactly one complete record and
// that the unrelated traces get none. cmd/crewtrace-load runs it at scale
// (make load); the e2e tests run a small version.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/otelsession"
)

// Service names of the two kinds of traffic.
const (
	ServiceCrew  = "crewtrace-load"
	ServiceNoise = "crewtrace-load-noise"
)

// Shape of every load session: the session root, Agents agents, each with
// one LLM call and one tool call, and one event per agent.
const (
	Agents          = 2
	SpansPerSession = 1 + Agents*3
	InputTokens     = 120
	OutputTokens    = 30
)

// Options configure Run.
type Options struct {
	// Root is the checkout; Bins the programs (harness.Build); LogDir where
	// logs and session records go.
	Root   string
	Bins   harness.Binaries
	LogDir string
	// Sessions is how many sessions to run.
	Sessions int
	// Concurrency is how many sessions are open at once. With Rate 0 they run
	// in waves of Concurrency: every session of a wave is started (and holds
	// an open agent) before any of them ends. Default: Sessions (all at once).
	Concurrency int
	// Rate, if positive, starts sessions at this many per second instead of
	// in waves, each held open for Hold (a sustained rate).
	Rate float64
	// Hold is how long a session stays open in rate mode (default 1 s).
	Hold time.Duration
	// Noise is the unrelated telemetrygen traffic (Workers 0: none).
	Noise harness.TelemetrygenTraces
	// GracePeriod and SessionTimeout configure the session exporter
	// (defaults 2 s and 10 s: a rootless trace is ignored 10 s after its
	// last span).
	GracePeriod, SessionTimeout time.Duration
	// MaxSessions, if positive, overrides the exporter's max_sessions.
	MaxSessions int
	// Timeout bounds the wait for records after the last session ended
	// (default 5 min).
	Timeout time.Duration
	// Log receives progress (may be nil).
	Log io.Writer
}

// Report is what a run measured and checked.
type Report struct {
	Sessions, Concurrency int
	Rate                  float64
	// Spans sent by the sessions and by telemetrygen.
	SessionSpans, NoiseSpans, NoiseTraces int
	// Drive is the time from the first session start until every session
	// ended and all their spans were accepted by the collector (the SDK's
	// flush returned); Total the time from the first session start until
	// every record was written (by the exporter's records_written counter,
	// scraped every 250 ms; it includes the grace period).
	Drive, Total time.Duration
	// SessionsPerSec and SpansPerSec are the ingest rates over Drive (the
	// sessions' spans only; telemetrygen runs at its own configured rate);
	// EndToEndPerSec is sessions over Total.
	SessionsPerSec, SpansPerSec, EndToEndPerSec float64
	// CollectorPeakRSS is the collector's VmHWM in bytes.
	CollectorPeakRSS int64
	// PeakSessionsBuffered and PeakSpansBuffered are the highest values of
	// the exporter's sessions_buffered / spans_buffered gauges seen by
	// scraping its metrics every 250 ms.
	PeakSessionsBuffered, PeakSpansBuffered float64
	// Records counts the record lines written; Latest the distinct sessions
	// among them; Matched the sessions started that have a complete record
	// with the right span count.
	Records, Latest, Matched int
	// Lost are sessions started without a record; Extra records of
	// sessions never started (telemetrygen's included); Wrong records whose
	// content does not match.
	Lost, Extra, Wrong []string
	// Revisions are records beyond the first of a session (allowed: a
	// revision is marked); Duplicates are records repeating a session and
	// revision already written (never allowed).
	Revisions, Duplicates int
	// Exporter counters at the end: traces ignored as rootless, partial
	// flushes, spans dropped.
	TracesIgnored, PartialFlushes, SpansDropped float64
	// LoadAvg is /proc/loadavg at the end.
	LoadAvg string
}

// OK reports whether the count check passed: one complete, matching record
// per session started, nothing lost, nothing extra, every unrelated trace
// ignored and none flushed early.
func (r *Report) OK() error {
	var errs []error
	if len(r.Lost) > 0 {
		errs = append(errs, fmt.Errorf("%d sessions lost (first: %s)", len(r.Lost), r.Lost[0]))
	}
	if len(r.Extra) > 0 {
		errs = append(errs, fmt.Errorf("%d records of sessions never started (first: %s)", len(r.Extra), r.Extra[0]))
	}
	if len(r.Wrong) > 0 {
		errs = append(errs, fmt.Errorf("%d records wrong (first: %s)", len(r.Wrong), r.Wrong[0]))
	}
	if r.Matched != r.Sessions || r.Latest != r.Sessions {
		errs = append(errs, fmt.Errorf("%d sessions started, %d records, %d matching", r.Sessions, r.Latest, r.Matched))
	}
	if r.Duplicates > 0 {
		errs = append(errs, fmt.Errorf("%d duplicate records (same session and revision)", r.Duplicates))
	}
	if r.PartialFlushes != 0 {
		errs = append(errs, fmt.Errorf("%v partial flushes (a limit was hit)", r.PartialFlushes))
	}
	if r.TracesIgnored < float64(r.NoiseTraces) {
		errs = append(errs, fmt.Errorf("%v rootless traces ignored, telemetrygen sent %d", r.TracesIgnored, r.NoiseTraces))
	}
	return errors.Join(errs...)
}

// String renders the report as a few lines.
func (r *Report) String() string {
	var b strings.Builder
	mode := fmt.Sprintf("waves of %d", r.Concurrency)
	if r.Rate > 0 {
		mode = fmt.Sprintf("%.0f sessions/s, up to %d open", r.Rate, r.Concurrency)
	}
	fmt.Fprintf(&b, "sessions        %d (%s), %d spans each; telemetrygen %d traces / %d spans\n",
		r.Sessions, mode, SpansPerSession, r.NoiseTraces, r.NoiseSpans)
	fmt.Fprintf(&b, "time            drive (all sessions run, spans accepted) %s; first start to last record written %s\n", r.Drive.Round(time.Millisecond), r.Total.Round(time.Millisecond))
	fmt.Fprintf(&b, "throughput      ingest %.0f sessions/s, %.0f spans/s; end to end %.0f sessions/s (includes the grace period)\n", r.SessionsPerSec, r.SpansPerSec, r.EndToEndPerSec)
	fmt.Fprintf(&b, "collector       peak RSS (VmHWM) %.1f MiB\n", float64(r.CollectorPeakRSS)/(1<<20))
	fmt.Fprintf(&b, "exporter buffer peak %.0f sessions, %.0f spans (sessions_buffered / spans_buffered)\n", r.PeakSessionsBuffered, r.PeakSpansBuffered)
	fmt.Fprintf(&b, "records         %d lines, %d sessions, %d matching; lost %d, extra %d, wrong %d, duplicates %d, revisions %d\n",
		r.Records, r.Latest, r.Matched, len(r.Lost), len(r.Extra), len(r.Wrong), r.Duplicates, r.Revisions)
	fmt.Fprintf(&b, "exporter        traces_ignored %.0f, partial_flushes %.0f, spans_dropped %.0f\n", r.TracesIgnored, r.PartialFlushes, r.SpansDropped)
	fmt.Fprintf(&b, "load average    %s", r.LoadAvg)
	return b.String()
}

// Run starts a stack, drives the load, waits for the records, checks them
// and stops the stack. The returned report is filled as far as the run got;
// err is an infrastructure failure, Report.OK the count check.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Concurrency <= 0 || o.Concurrency > o.Sessions {
		o.Concurrency = o.Sessions
	}
	if o.Hold <= 0 {
		o.Hold = time.Second
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 2 * time.Second
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	rep := &Report{Sessions: o.Sessions, Concurrency: o.Concurrency, Rate: o.Rate,
		SessionSpans: o.Sessions * SpansPerSession, NoiseSpans: o.Noise.Spans(), NoiseTraces: o.Noise.Workers * o.Noise.Traces}

	configs := []string{filepath.Join(o.Root, "collector-config.yaml")}
	if o.MaxSessions > 0 {
		overlay := filepath.Join(o.LogDir, "load-overrides.yaml")
		body := fmt.Sprintf("exporters:\n  session:\n    max_sessions: %d\n", o.MaxSessions)
		if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
			return rep, err
		}
		if err := os.WriteFile(overlay, []byte(body), 0o644); err != nil {
			return rep, err
		}
		configs = append(configs, overlay)
	}
	stack, err := harness.StartStack(ctx, harness.StackOptions{
		Root: o.Root, Bins: o.Bins, LogDir: o.LogDir, CollectorConfigs: configs,
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=" + o.GracePeriod.String(),
			harness.EnvSessionTimeout + "=" + o.SessionTimeout.String(),
		},
	})
	if err != nil {
		return rep, err
	}
	defer stack.Stop()
	logf(o.Log, "stack up: collector OTLP/gRPC %s, metrics %s\n", stack.Addrs.OTLPGRPC, stack.MetricsURL())

	// Scrape the exporter's buffer gauges and records counter until the end.
	start := time.Now()
	scrapeCtx, stopScrape := context.WithCancel(ctx)
	var scraped sync.WaitGroup
	scraped.Add(1)
	go func() {
		defer scraped.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := harness.ScrapeMetrics(scrapeCtx, stack.MetricsURL()); err == nil {
				if v, ok := m.Get("otelcol_exporter_session_sessions_buffered"); ok {
					rep.PeakSessionsBuffered = max(rep.PeakSessionsBuffered, v)
				}
				if v, ok := m.Get("otelcol_exporter_session_spans_buffered"); ok {
					rep.PeakSpansBuffered = max(rep.PeakSpansBuffered, v)
				}
				if v, _ := m.Get("otelcol_exporter_session_records_written"); v >= float64(o.Sessions) && rep.Total == 0 {
					rep.Total = time.Since(start)
				}
			}
			select {
			case <-scrapeCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { stopScrape(); scraped.Wait() }()

	var noise *harness.Process
	if o.Noise.Workers > 0 {
		if noise, err = stack.StartTelemetrygen(o.Bins.Telemetrygen, o.LogDir, o.Noise); err != nil {
			return rep, err
		}
		defer noise.Stop(0)
	}

	started, err := drive(ctx, stack, o)
	rep.Drive = time.Since(start)
	if err != nil {
		return rep, err
	}
	logf(o.Log, "%d sessions driven in %s\n", len(started), rep.Drive.Round(time.Millisecond))
	if noise != nil {
		wctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := noise.Wait(wctx)
		cancel()
		if err != nil {
			return rep, fmt.Errorf("telemetrygen: %w\n%s", err, noise.LogTail(10))
		}
	}

	// Wait until the exporter wrote a record per session and ignored the
	// unrelated traces, by its own counters (cheaper than rereading the file).
	wctx, cancel := context.WithTimeout(ctx, o.Timeout+o.SessionTimeout)
	defer cancel()
	var last harness.Metrics
	err = harness.Poll(wctx, "records written and rootless traces ignored", func(ctx context.Context) (bool, string, error) {
		m, err := harness.ScrapeMetrics(ctx, stack.MetricsURL())
		if err != nil {
			return false, err.Error(), nil
		}
		last = m
		written, _ := m.Get("otelcol_exporter_session_records_written")
		ignored, _ := m.Get("otelcol_exporter_session_traces_ignored")
		return written >= float64(o.Sessions) && ignored >= float64(rep.NoiseTraces),
			fmt.Sprintf("%.0f of %d records written, %.0f of %d unrelated traces ignored", written, o.Sessions, ignored, rep.NoiseTraces), nil
	})
	stopScrape()
	scraped.Wait()
	if rep.Total == 0 {
		rep.Total = time.Since(start)
	}
	rep.SessionsPerSec = float64(o.Sessions) / rep.Drive.Seconds()
	rep.SpansPerSec = float64(rep.SessionSpans) / rep.Drive.Seconds()
	rep.EndToEndPerSec = float64(o.Sessions) / rep.Total.Seconds()
	rep.TracesIgnored, _ = last.Get("otelcol_exporter_session_traces_ignored")
	rep.PartialFlushes, _ = last.Get("otelcol_exporter_session_partial_flushes")
	rep.SpansDropped, _ = last.Get("otelcol_exporter_session_spans_dropped")
	if rss, rerr := harness.PeakRSS(stack.Collector.Pid()); rerr == nil {
		rep.CollectorPeakRSS = rss
	}
	if b, lerr := os.ReadFile("/proc/loadavg"); lerr == nil {
		rep.LoadAvg = strings.TrimSpace(string(b))
	}

	// A clean shutdown drains; nothing may be written for these sessions on the way out.
	if serr := stack.Stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	check(rep, stack.SessionsPath(), started)
	return rep, err
}

// expected is what the driver knows about one session it ran.
type expected struct {
	traceID string
}

// drive runs the sessions and returns them by session ID.
func drive(ctx context.Context, stack *harness.Stack, o Options) (map[string]expected, error) {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(stack.Addrs.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("load: OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", ServiceCrew))
	// Blocking: a full queue slows the sessions down instead of dropping
	// spans, so a lost session is the pipeline's doing, never the driver's.
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp,
		sdktrace.WithBlocking(), sdktrace.WithMaxQueueSize(1<<16), sdktrace.WithMaxExportBatchSize(2048),
		sdktrace.WithBatchTimeout(200*time.Millisecond)))
	mp := noopmetric.NewMeterProvider()

	var mu sync.Mutex
	started := make(map[string]expected, o.Sessions)
	var failed atomic.Pointer[error]
	one := func(i int, hold func()) {
		ctx, s := otelsession.Start(ctx, otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp),
			otelsession.WithName(fmt.Sprintf("load-%05d", i)), otelsession.WithTags("load"))
		mu.Lock()
		started[s.ID()] = expected{traceID: s.TraceID().String()}
		mu.Unlock()
		fail := func(err error) {
			failed.CompareAndSwap(nil, &err)
			_ = s.End(otelsession.Fail, err.Error())
		}
		agents := make([]*otelsession.Agent, 0, Agents)
		actxs := make([]context.Context, 0, Agents)
		for a := range Agents {
			actx, ag, err := s.StartAgent(ctx, fmt.Sprintf("agent-%d", a))
			if err != nil {
				fail(err)
				return
			}
			agents, actxs = append(agents, ag), append(actxs, actx)
		}
		hold() // every session of the wave is open here
		for a, ag := range agents {
			actx := actxs[a]
			_, c, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "gpt-4o"})
			if err != nil {
				fail(err)
				return
			}
			c.End(otelsession.LLMResponse{InputTokens: InputTokens, OutputTokens: OutputTokens}, nil)
			_, tc, err := otelsession.StartToolCall(actx, "search")
			if err != nil {
				fail(err)
				return
			}
			tc.End("ok", nil)
			if err := otelsession.RecordAction(actx, "search", map[string]any{"q": "load"}); err != nil {
				fail(err)
				return
			}
			ag.End(nil)
		}
		if err := s.End(otelsession.Success, "done"); err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}

	if o.Rate > 0 {
		sem := make(chan struct{}, o.Concurrency)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		for i := range o.Sessions {
			select {
			case <-ctx.Done():
				tick.Stop()
				wg.Wait()
				return started, ctx.Err()
			case <-tick.C:
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				one(i, func() { time.Sleep(o.Hold) }) // simulated work, not a synchronisation
			}()
		}
		tick.Stop()
		wg.Wait()
	} else {
		for base := 0; base < o.Sessions; base += o.Concurrency {
			n := min(o.Concurrency, o.Sessions-base)
			var opened, done sync.WaitGroup
			opened.Add(n)
			done.Add(n)
			for i := base; i < base+n; i++ {
				go func() {
					defer done.Done()
					one(i, func() { opened.Done(); opened.Wait() })
				}()
			}
			done.Wait()
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := tp.Shutdown(sctx); err != nil { // flushes every span
		return started, fmt.Errorf("load: flush spans: %w", err)
	}
	if p := failed.Load(); p != nil {
		return started, fmt.Errorf("load: a session call failed: %w", *p)
	}
	return started, nil
}

// check compares the records written with the sessions started.
func check(rep *Report, path string, started map[string]expected) {
	recs, err := harness.ReadRecords(path)
	if err != nil {
		rep.Wrong = append(rep.Wrong, err.Error())
		return
	}
	rep.Records = len(recs)
	latest := harness.Latest(recs)
	rep.Latest = len(latest)
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		key := fmt.Sprintf("%s/%d", r.SessionID, r.Revision)
		if seen[key] {
			rep.Duplicates++
		}
		seen[key] = true
	}
	rep.Revisions = len(seen) - len(latest)
	for id, r := range latest {
		want, ok := started[id]
		if !ok {
			rep.Extra = append(rep.Extra, fmt.Sprintf("%s (service %v)", id, r.Resource["service.name"]))
			continue
		}
		switch {
		case r.TraceID != want.traceID:
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s: trace %s, want %s", id, r.TraceID, want.traceID))
		case !r.Complete || r.SpanCount != SpansPerSession || r.Counts.Agents != Agents ||
			r.Counts.LLMCalls != Agents || r.Counts.ToolCalls != Agents || r.Counts.Actions != Agents ||
			r.Tokens.Input != Agents*InputTokens || r.Tokens.Output != Agents*OutputTokens ||
			r.EndState != string(otelsession.Success) || r.Resource["service.name"] != ServiceCrew:
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s: complete=%v spans=%d agents=%d llm=%d tools=%d actions=%d tokens=%d/%d state=%s flush=%s",
				id, r.Complete, r.SpanCount, r.Counts.Agents, r.Counts.LLMCalls, r.Counts.ToolCalls, r.Counts.Actions,
				r.Tokens.Input, r.Tokens.Output, r.EndState, r.FlushReason))
		default:
			rep.Matched++
		}
	}
	for id := range started {
		if _, ok := latest[id]; !ok {
			rep.Lost = append(rep.Lost, id)
		}
	}
	sort.Strings(rep.Lost)
	sort.Strings(rep.Extra)
	sort.Strings(rep.Wrong)
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
