package hotpath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a harness run.
type Options struct {
	// Collector is the executable to start as the collector (with
	// CollectorEnv=1): the running program itself (os.Executable).
	Collector string
	// Dir holds each run's configuration, logs and outputs (removed after
	// the run unless Keep).
	Dir  string
	Keep bool
	// Load is the traffic; Workers the exports in flight at once.
	Load    *Load
	Workers int
	// Grace is the session exporter's grace_period and groupbytrace's
	// wait_duration; MaxSessions the session exporter's max_sessions.
	Grace       time.Duration
	MaxSessions int
	// Pipelines to run, Rounds times each, interleaved: every round runs
	// each pipeline once, starting one further down the list each round, so
	// that all of them share the machine's load alike.
	Pipelines []Pipeline
	Rounds    int
	// ProfileDir, if set, gets a CPU and an allocation profile of one more
	// run of each session pipeline after the rounds (<name>.cpu.pprof,
	// <name>.allocs.pprof); profiled runs are not in the figures.
	ProfileDir string
	// Timeout bounds each collector run from its start to its exit.
	Timeout time.Duration
	// Log receives progress lines (may be nil).
	Log io.Writer
}

// Result is what one collector run measured.
type Result struct {
	Pipeline string
	Round    int
	Spans    int
	// CPU is the collector's user+system CPU time (all threads, from
	// /proc/<pid>/stat) from when its pipeline answered the first export to
	// when everything was written; Wall the time from the first export to then.
	CPU, Wall time.Duration
	// PeakRSS is the collector's VmHWM in bytes at that point.
	PeakRSS int64
	// BytesOut is the size of what the pipeline wrote (the JSONL files, the
	// SQLite database with its WAL) after the collector exited; StorageBytes
	// the file_storage directory's size then.
	BytesOut, StorageBytes int64
	// Delivered is what the pipeline wrote by its own count (spans for the
	// references, records for the session exporter), Expected what the load
	// holds: groupbytrace can come up short (see the report).
	Delivered, Expected float64
}

// SpansPerCPUSecond is the result's throughput per collector CPU-second.
func (r Result) SpansPerCPUSecond() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Spans) / r.CPU.Seconds()
}

// Run runs the rounds and returns every result, in the order run.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	var results []Result
	for round := range o.Rounds {
		for k := range o.Pipelines {
			p := o.Pipelines[(round+k)%len(o.Pipelines)]
			r, err := runOne(ctx, o, p, round, "")
			if err != nil {
				return results, fmt.Errorf("round %d, %s: %w", round+1, p.Name, err)
			}
			logf(o.Log, "round %d %-28s %8.0f spans/CPU-s  CPU %6.2fs  wall %6.2fs  RSS %6.1f MiB  out %7.1f MB  delivered %.0f/%.0f\n",
				round+1, p.Name, r.SpansPerCPUSecond(), r.CPU.Seconds(), r.Wall.Seconds(), mib(r.PeakRSS), mb(r.BytesOut), r.Delivered, r.Expected)
			results = append(results, r)
		}
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return results, err
		}
		for _, p := range o.Pipelines {
			if p.kind != sessionKind {
				continue
			}
			if _, err := runOne(ctx, o, p, -1, o.ProfileDir); err != nil {
				return results, fmt.Errorf("profile %s: %w", p.Name, err)
			}
			logf(o.Log, "profiles of %s in %s\n", p.Name, o.ProfileDir)
		}
	}
	return results, nil
}

// runOne starts the collector for p, drives the load into it, waits until
// everything is written, takes the figures, stops it and measures the output.
func runOne(ctx context.Context, o Options, p Pipeline, round int, profileDir string) (res Result, err error) {
	res = Result{Pipeline: p.Name, Round: round, Spans: o.Load.Spans()}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dir, err := os.MkdirTemp(o.Dir, "run-"+safeName(p.Name)+"-")
	if err != nil {
		return res, err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	_, portStr, _ := net.SplitHostPort(metricsAddr)
	metricsPort, _ := strconv.Atoi(portStr)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(p.configYAML(grpcAddr, metricsPort, dir, o.Grace, o.MaxSessions)), 0o644); err != nil {
		return res, err
	}

	logPath := filepath.Join(dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(o.Collector, "--config", cfg)
	cmd.Env = append(os.Environ(), CollectorEnv+"=1")
	if profileDir != "" {
		cmd.Env = append(cmd.Env,
			CPUProfileEnv+"="+filepath.Join(profileDir, safeName(p.Name)+".cpu.pprof"),
			AllocProfileEnv+"="+filepath.Join(profileDir, safeName(p.Name)+".allocs.pprof"))
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if err != nil {
			err = fmt.Errorf("%w\ncollector log (%s):\n%s", err, logPath, tail(logPath, 15))
		}
	}()

	conn, err := dial(grpcAddr)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if err := waitFor(ctx, exited, 20*time.Millisecond, func() (bool, error) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		return ping(pctx, conn) == nil, nil
	}); err != nil {
		return res, fmt.Errorf("collector not up: %w", err)
	}

	pid := cmd.Process.Pid
	cpu0, err := processCPU(pid)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := o.Load.send(ctx, conn, o.Workers); err != nil {
		return res, err
	}
	metricsURL := "http://" + metricsAddr + "/metrics"
	// Done when the pipeline's output counter reaches what the load holds,
	// or when it has not moved for a while: the grace period plus 3 s for
	// groupbytrace (which can lose part of the load: reported), a minute for
	// the session exporter, whose sinks retry failed writes with backoff
	// (then the run fails).
	stall := o.Grace + 3*time.Second
	if p.kind == sessionKind {
		stall = max(stall, time.Minute)
	}
	var last float64
	lastMove := time.Now()
	if err := waitFor(ctx, exited, 100*time.Millisecond, func() (bool, error) {
		got, want, err := p.progress(ctx, metricsURL, o.Load)
		if err != nil || got >= want {
			res.Delivered, res.Expected = got, want
			return true, err
		}
		if got != last {
			last, lastMove = got, time.Now()
		}
		if got > 0 && time.Since(lastMove) > stall {
			res.Delivered, res.Expected = got, want
			return true, nil
		}
		return false, nil
	}); err != nil {
		return res, fmt.Errorf("waiting for the output: %w", err)
	}
	if res.Delivered < res.Expected && p.kind == sessionKind {
		return res, fmt.Errorf("the session exporter wrote %.0f of %.0f records", res.Delivered, res.Expected)
	}
	res.Wall = time.Since(start)
	cpu1, err := processCPU(pid)
	if err != nil {
		return res, err
	}
	res.CPU = cpu1 - cpu0
	if res.PeakRSS, err = peakRSS(pid); err != nil {
		return res, err
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if exitErr != nil {
			return res, fmt.Errorf("collector exited badly: %w", exitErr)
		}
	case <-ctx.Done():
		return res, fmt.Errorf("collector did not stop: %w", ctx.Err())
	}
	for _, f := range []string{recordsFile, storeFile, storeFile + "-wal", tracesFile} {
		if st, serr := os.Stat(filepath.Join(dir, f)); serr == nil {
			res.BytesOut += st.Size()
		}
	}
	res.StorageBytes = dirSize(filepath.Join(dir, storageDir))
	if p.file {
		if n, lerr := countLines(filepath.Join(dir, recordsFile)); lerr != nil || n != o.Load.Sessions {
			return res, fmt.Errorf("the file sink wrote %d records for %d sessions (%v)", n, o.Load.Sessions, lerr)
		}
	}
	return res, nil
}

// progress returns how much of the load the pipeline has written, by the
// collector's own metrics, and how much it should: spans accepted (nop: its
// exporter is synchronous, so every export having returned is all of it),
// spans written by the file exporter (groupbytrace), records written by the
// session exporter's sinks (one per session per sink).
func (p Pipeline) progress(ctx context.Context, metricsURL string, l *Load) (got, want float64, err error) {
	if p.kind == nopKind {
		return float64(l.Spans()), float64(l.Spans()), nil
	}
	m, serr := scrape(ctx, metricsURL)
	if serr != nil {
		return 0, 1, nil // not fatal: the next poll retries
	}
	if p.kind == groupByTraceKind {
		return m.sum("otelcol_exporter_sent_spans"), float64(l.Spans()), nil
	}
	if failed := m.sum("otelcol_exporter_session_spans_dropped") + m.sum("otelcol_exporter_session_partial_flushes"); failed > 0 {
		return 0, 0, fmt.Errorf("the session exporter dropped spans or flushed partial sessions (%v): the load does not fit its limits", failed)
	}
	return m.sum("otelcol_exporter_session_records_written"), float64(l.Sessions * p.sinks()), nil
}

// waitFor polls cond every interval until it holds, fails, the collector
// exits or ctx ends.
func waitFor(ctx context.Context, exited <-chan struct{}, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-exited:
			return errors.New("collector exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// metrics are the sums of the collector's Prometheus series by metric name
// (labels summed over; a counter's _total suffix dropped).
type metrics map[string]float64

func (m metrics) sum(name string) float64 { return m[name] }

func scrape(ctx context.Context, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name := line[:sp]
		if i := strings.IndexAny(name, "{ "); i >= 0 {
			name = name[:i]
		}
		m[strings.TrimSuffix(name, "_total")] += v
	}
	return m, sc.Err()
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns a process's user+system CPU time, all threads.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("hotpath: CPU time: %w", err)
	}
	// Fields after the command name (which may hold spaces, in parentheses):
	// state is field 3, utime 14, stime 15.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("hotpath: CPU time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("hotpath: CPU time: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// peakRSS returns a process's VmHWM (/proc/<pid>/status) in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("hotpath: peak RSS: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("hotpath: peak RSS: %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("hotpath: peak RSS: no VmHWM in /proc/%d/status", pid)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, ierr := d.Info(); ierr == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("hotpath: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func safeName(s string) string { return strings.NewReplacer("+", "_", "/", "_").Replace(s) }

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
func mb(b int64) float64  { return float64(b) / 1e6 }
