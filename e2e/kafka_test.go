package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/pgtest"
)

// The Kafka tests run the shipped deploy/kafka configurations as processes
// on 127.0.0.1: a Kafka-protocol broker (franz-go's kfake, the fake cluster
// the franz-go client — and so the collector's kafka exporter and receiver
// — is tested against: real wire protocol, consumer groups, offset
// commits), 2 gateway collectors, 3 session collectors in one consumer
// group writing to one PostgreSQL store (pgtest), the example crew and
// telemetrygen. Each checks that the store holds exactly one session per
// session ID the crew ran, equal to the crew's truth, and logs its figures:
// sessions complete / split (a trace written by two collectors) / lost /
// duplicated (a span counted twice) / wrong.
//
// CREWTRACE_KAFKA_SESSIONS sets the session count of TestKafkaScaleOut
// (make kafka-load). CREWTRACE_KAFKA_PLAIN=1 runs every test on the plain
// setup — no scale_out, the kafka receiver's defaults (message marking
// before the pipeline) — to measure what the faults do without the fix;
// the figures are then logged, not required (make kafka-plain).

const kafkaPartitions = 12

// kafkaPlain reports whether CREWTRACE_KAFKA_PLAIN asks for the plain setup.
func kafkaPlain() bool { return os.Getenv("CREWTRACE_KAFKA_PLAIN") == "1" }

// plainOverlay turns deploy/kafka/session-collector.yaml into the plain
// setup: no scale_out (no fragment, no hold) and the kafka receiver's
// defaults for marking and partition processing.
const plainOverlay = `exporters:
  session:
    scale_out:
      enabled: false
receivers:
  kafka:
    message_marking:
      after: false
    error_backoff:
      enabled: false
    partition_processing:
      independent: false
`

type kafkaEnv struct {
	testEnv
	stack    *harness.KafkaStack
	dsn, pw  string
	kfakeBin string
}

// startKafka starts PostgreSQL, the broker and the collectors.
func startKafka(t *testing.T, sessionEnv ...string) (context.Context, *kafkaEnv) {
	t.Helper()
	ctx, env := newEnv(t)
	kfake, err := harness.BuildKfake(ctx, env.root, harness.BuildDir(env.root), testWriter{t})
	require.NoError(t, err)
	pg, err := pgtest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	db := pg.NewDatabase(t)
	o := harness.KafkaOptions{
		Root: env.root, Collector: env.bins.Collector, Kfake: kfake, LogDir: env.logDir,
		Partitions: kafkaPartitions, Gateways: 2, Sessions: 3,
		StoreDSN: pg.DSNWithoutPassword(db), StorePassword: pg.Password,
		SessionEnv: append([]string{
			harness.EnvGracePeriod + "=1s",
			harness.EnvSessionTimeout + "=5s",
		}, sessionEnv...),
	}
	if kafkaPlain() {
		p, err := harness.WriteFile(env.logDir, "plain.yaml", plainOverlay)
		require.NoError(t, err)
		o.SessionConfigs = []string{p}
		t.Log("plain setup: no scale_out, kafka receiver defaults")
	}
	stack, err := harness.StartKafkaStack(ctx, o)
	k := &kafkaEnv{testEnv: env, stack: stack, dsn: o.StoreDSN, pw: pg.Password, kfakeBin: kfake}
	if stack != nil {
		t.Cleanup(func() {
			_ = stack.Stop()
			if t.Failed() {
				for _, p := range stack.Processes() {
					logTail(t, p)
				}
			}
		})
	}
	require.NoError(t, err)
	return ctx, k
}

// crews starts one example crew per gateway, tasks split between them,
// and returns them with their truth files.
func (k *kafkaEnv) crews(t *testing.T, tasks, concurrency int, latency string, seed int) ([]*harness.Process, []string) {
	t.Helper()
	var procs []*harness.Process
	var truths []string
	for i := range k.stack.Gateways {
		n := tasks / len(k.stack.Gateways)
		if i == 0 {
			n += tasks % len(k.stack.Gateways)
		}
		path := filepath.Join(k.logDir, fmt.Sprintf("truth-%d.json", i))
		p, err := harness.Start(fmt.Sprintf("crew-%d", i+1), k.logDir, append(k.stack.CrewEnv(i),
			// The SDK's batch span processor drops spans when its queue
			// is full (2,048 by default): a crew running 100 sessions at
			// once with 2 ms calls outruns it, so the queue holds a whole
			// run and the truth is what the gateways receive.
			"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_BSP_MAX_QUEUE_SIZE=200000", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048",
			"OTEL_EXPORTER_OTLP_TIMEOUT=60000", "OTEL_BSP_EXPORT_TIMEOUT=60000"),
			k.bins.Crew, "-tasks", strconv.Itoa(n), "-concurrency", strconv.Itoa(concurrency),
			"-latency", latency, "-seed", strconv.Itoa(seed+i), "-truth", path)
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = p.Stop(0)
			if t.Failed() {
				logTail(t, p)
			}
		})
		procs, truths = append(procs, p), append(truths, path)
	}
	return procs, truths
}

// noise starts telemetrygen against the last gateway: traces that are no
// session, which the session collectors must ignore.
func (k *kafkaEnv) noise(t *testing.T, traces int) *harness.Process {
	t.Helper()
	gw := k.stack.Gateways[len(k.stack.Gateways)-1]
	p, err := harness.Start("telemetrygen", k.logDir, nil, k.bins.Telemetrygen, "traces",
		"--otlp-endpoint", gw.OTLP, "--otlp-insecure", "--workers", "2", "--traces", strconv.Itoa(traces),
		"--rate", "200", "--child-spans", "3", "--service", "noise")
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(0) })
	return p
}

// waitAll waits for the processes to exit successfully.
func waitAll(t *testing.T, ctx context.Context, ps ...*harness.Process) {
	t.Helper()
	for _, p := range ps {
		require.NoError(t, p.Wait(ctx), "%s failed, last lines:\n%s", p.Name, p.LogTail(logTailLines))
	}
}

// readTruths reads and joins the crews' truth files.
func readTruths(t *testing.T, paths []string) []harness.Truth {
	t.Helper()
	var out []harness.Truth
	for _, p := range paths {
		tr, err := harness.ReadTruth(p)
		require.NoError(t, err)
		out = append(out, tr...)
	}
	return out
}

// kafkaFigures is what the store holds against the truth.
type kafkaFigures struct {
	Sessions   int // sessions the crew ran
	Complete   int // in the store, equal to the truth
	Split      int // of those in the store: a trace of theirs written as more than one fragment
	Lost       int // not in the store
	Duplicated int // more spans than the truth: a span counted twice
	Wrong      int // in the store, otherwise different from the truth (a part of it)
	Extra      int // sessions in the store the crew did not run
	Fragments  int // trace rows in the store (one per fragment)
	examples   []string
}

func (f kafkaFigures) String() string {
	return fmt.Sprintf("sessions %d: complete %d, split %d, lost %d, duplicated %d, wrong %d; extra sessions %d; trace rows %d",
		f.Sessions, f.Complete, f.Split, f.Lost, f.Duplicated, f.Wrong, f.Extra, f.Fragments)
}

// measure compares the store with the truth.
func (k *kafkaEnv) measure(ctx context.Context, truth []harness.Truth) (kafkaFigures, error) {
	f := kafkaFigures{Sessions: len(truth)}
	st, err := store.Open(ctx, k.dsn, store.WithPassword(k.pw), store.ReadOnly())
	if err != nil {
		return f, err
	}
	defer st.Close()
	n, err := st.CountSessions(ctx, store.Filter{})
	if err != nil {
		return f, err
	}
	frags, err := k.fragments(ctx)
	if err != nil {
		return f, err
	}
	for _, c := range frags {
		f.Fragments += c
	}
	for _, tr := range truth {
		s, err := st.Session(ctx, tr.SessionID)
		if errors.Is(err, store.ErrNotFound) {
			f.Lost++
			f.example("lost " + tr.SessionID)
			continue
		}
		if err != nil {
			return f, err
		}
		if frags[tr.SessionID] > 1 {
			f.Split++
		}
		switch why := sessionMismatch(tr, s); {
		case why == "":
			f.Complete++
		case s.Spans > int64(tr.SpanCount):
			f.Duplicated++
			f.example(fmt.Sprintf("duplicated %s: %s", tr.SessionID, why))
		default:
			f.Wrong++
			f.example(fmt.Sprintf("wrong %s: %s", tr.SessionID, why))
		}
	}
	f.Extra = int(n) - (len(truth) - f.Lost)
	return f, nil
}

func (f *kafkaFigures) example(s string) {
	if len(f.examples) < 5 {
		f.examples = append(f.examples, s)
	}
}

// fragments returns the number of trace rows (fragments) per session.
func (k *kafkaEnv) fragments(ctx context.Context) (map[string]int, error) {
	cfg, err := pgx.ParseConfig(k.dsn)
	if err != nil {
		return nil, err
	}
	cfg.Password = k.pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT session_id, count(*) FROM crewtrace_traces GROUP BY session_id`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// sessionMismatch returns why the stored session differs from the truth,
// "" when it does not: one trace, complete, and every count, token total,
// agent and event the crew did.
func sessionMismatch(tr harness.Truth, s *store.Session) string {
	if len(s.Traces) != 1 {
		return fmt.Sprintf("%d traces", len(s.Traces))
	}
	r := s.Traces[0].Record
	type cmp struct {
		what      string
		got, want any
	}
	checks := []cmp{
		{"trace_id", r.TraceID, tr.TraceID}, {"name", r.Name, tr.Name},
		{"end_state", r.EndState, tr.EndState}, {"end_reason", r.EndReason, tr.EndReason},
		{"complete", r.Complete, true}, {"span_count", r.SpanCount, tr.SpanCount},
		{"events", len(r.Events), tr.EventCount}, {"llm_calls", r.Counts.LLMCalls, tr.LLMCalls},
		{"tool_calls", r.Counts.ToolCalls, tr.ToolCalls}, {"errors", r.Counts.Errors, tr.ErrorCount},
		{"input_tokens", r.Tokens.Input, tr.InputTokens}, {"output_tokens", r.Tokens.Output, tr.OutputTokens},
		{"agents", len(r.Agents), len(tr.Agents)},
		{"summary spans", s.Spans, int64(tr.SpanCount)}, {"summary tokens", s.Tokens.Total, tr.InputTokens + tr.OutputTokens},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			return fmt.Sprintf("%s %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, want := range tr.Agents {
		i := slices.IndexFunc(r.Agents, func(a record.Agent) bool { return a.ID == want.ID })
		if i < 0 {
			return "agent " + want.ID + " missing"
		}
		a := r.Agents[i]
		if a.Name != want.Name || a.LLMCalls != want.LLMCalls || a.ToolCalls != want.ToolCalls ||
			a.Tokens.Input != want.InputTokens || a.Tokens.Output != want.OutputTokens || a.Errors != want.Errors {
			return fmt.Sprintf("agent %s: %+v, want %+v", want.Name, a, want)
		}
	}
	return ""
}

// settle polls the store until every session equals the truth or until
// limit passes, and returns the last figures.
func (k *kafkaEnv) settle(t *testing.T, ctx context.Context, truth []harness.Truth, limit time.Duration) kafkaFigures {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var f kafkaFigures
	err := harness.Poll(wctx, "every session in the store, equal to the truth", func(ctx context.Context) (bool, string, error) {
		var err error
		if f, err = k.measure(ctx, truth); err != nil {
			return false, err.Error(), nil // the store may not be migrated yet
		}
		return f.Complete == f.Sessions && f.Extra == 0, f.String(), nil
	})
	if err != nil && wctx.Err() == nil {
		require.NoError(t, err)
	}
	if f2, err := k.measure(ctx, truth); err == nil {
		f = f2
	}
	t.Logf("figures: %s", f)
	for _, e := range f.examples {
		t.Logf("  e.g. %s", e)
	}
	return f
}

// requireExact requires every session complete and nothing else, unless
// the plain setup is being measured.
func requireExact(t *testing.T, f kafkaFigures) {
	t.Helper()
	if kafkaPlain() {
		return
	}
	assert.Equal(t, f.Sessions, f.Complete, "every session complete and equal to the truth: %s", f)
	assert.Zero(t, f.Lost, "lost")
	assert.Zero(t, f.Duplicated, "duplicated")
	assert.Zero(t, f.Wrong, "wrong")
	assert.Zero(t, f.Extra, "no session the crew did not run")
}

// kafkaSessions is TestKafkaScaleOut's session count.
func kafkaSessions(t *testing.T) int {
	n := 3000
	if v := os.Getenv("CREWTRACE_KAFKA_SESSIONS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "CREWTRACE_KAFKA_SESSIONS")
	}
	return n
}

// TestKafkaScaleOut sends 3,000 sessions of the example crew (half through
// each gateway) and telemetrygen traffic through Kafka to three session
// collectors: the store holds exactly one session per session ID, equal to
// the crew's truth, and nothing for the telemetrygen traces.
func TestKafkaScaleOut(t *testing.T) {
	ctx, k := startKafka(t)
	n := kafkaSessions(t)
	cpu0 := k.cpuTimes(t)
	start := time.Now()
	crews, truths := k.crews(t, n, 100, "2ms", 1600)
	noise := k.noise(t, 100)
	waitAll(t, ctx, append(crews, noise)...)
	truth := readTruths(t, truths)
	require.Len(t, truth, n)
	t.Logf("crews done: %d sessions, %d spans in %s", n, spanTotal(truth), time.Since(start).Round(time.Millisecond))
	// The store catches up in seconds; larger runs (make kafka-load) get
	// 20 ms per session.
	f := k.settle(t, ctx, truth, max(90*time.Second, time.Duration(n)*20*time.Millisecond))
	t.Logf("all in the store %s after the start", time.Since(start).Round(time.Millisecond))
	k.logUsage(t, ctx, cpu0, start)
	requireExact(t, f)
	if !kafkaPlain() {
		// No partition moved: each trace was written by one collector.
		assert.Equal(t, f.Sessions, f.Fragments, "one record row per session")
		assert.Zero(t, f.Split, "split")
	}
}

// cpuTimes returns the CPU time each collector has used so far, by name.
func (k *kafkaEnv) cpuTimes(t *testing.T) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, c := range k.collectors() {
		d, err := harness.CPUTime(c.Proc.Pid())
		require.NoError(t, err)
		out[c.Name] = d
	}
	return out
}

func (k *kafkaEnv) collectors() []*harness.KafkaCollector {
	return append(append([]*harness.KafkaCollector{}, k.stack.Gateways...), k.stack.Sessions...)
}

// idleSample is how long logUsage watches the idle collectors.
const idleSample = 3 * time.Second

// logUsage logs, per collector, the spans it received since cpu0 was taken
// at t0, the CPU it used meanwhile beyond its idle rate (heartbeats,
// fetch polls and tickers, measured right after over idleSample), its
// spans and sessions per CPU-second, peak RSS and the bytes per span read
// from Kafka — the figures docs/SCALE.md sizes from.
func (k *kafkaEnv) logUsage(t *testing.T, ctx context.Context, cpu0 map[string]time.Duration, t0 time.Time) {
	t.Helper()
	cpu1, t1 := k.cpuTimes(t), time.Now()
	time.Sleep(idleSample)
	cpu2 := k.cpuTimes(t)
	for _, c := range k.collectors() {
		m, err := harness.ScrapeMetrics(ctx, "http://"+c.Metrics+"/metrics")
		require.NoError(t, err)
		spans, _ := m.Get("otelcol_receiver_accepted_spans")
		rss, err := harness.PeakRSS(c.Proc.Pid())
		require.NoError(t, err)
		idle := time.Duration(float64(cpu2[c.Name]-cpu1[c.Name]) * float64(t1.Sub(t0)) / float64(idleSample))
		used := max(cpu1[c.Name]-cpu0[c.Name]-idle, 10*time.Millisecond)
		line := fmt.Sprintf("usage %s: %.0f spans, CPU %s beyond %s idle: %.0f spans per CPU-second",
			c.Name, spans, used.Round(10*time.Millisecond), idle.Round(10*time.Millisecond), spans/used.Seconds())
		if recs, ok := m.Get("otelcol_exporter_session_records_written"); ok {
			line += fmt.Sprintf(", %.0f records (%.0f per CPU-second)", recs, recs/used.Seconds())
		}
		if b, ok := m.Get("otelcol_kafka_receiver_bytes"); ok && spans > 0 {
			raw, _ := m.Get("otelcol_kafka_receiver_bytes_uncompressed")
			line += fmt.Sprintf(", %.0f B/span from Kafka (%.0f uncompressed)", b/spans, raw/spans)
		}
		t.Logf("%s; peak RSS %.1f MiB", line, float64(rss)/(1<<20))
	}
}

func spanTotal(truth []harness.Truth) int {
	n := 0
	for _, tr := range truth {
		n += tr.SpanCount
	}
	return n
}

// faultRun is the traffic of the fault tests: long enough sessions (the
// crew's calls take up to 60 ms) that many are half-assembled at any
// moment, for about 15 s.
func (k *kafkaEnv) faultRun(t *testing.T, seed int) ([]*harness.Process, []string) {
	t.Helper()
	crews, truths := k.crews(t, 600, 20, "60ms", seed)
	return append(crews, k.noise(t, 100)), truths
}

// waitStored waits until at least n sessions are in the store: the run is
// under way.
func (k *kafkaEnv) waitStored(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	require.NoError(t, harness.Poll(ctx, fmt.Sprintf("%d sessions in the store", n), func(ctx context.Context) (bool, string, error) {
		st, err := store.Open(ctx, k.dsn, store.WithPassword(k.pw), store.ReadOnly())
		if err != nil {
			return false, err.Error(), nil
		}
		defer st.Close()
		c, err := st.CountSessions(ctx, store.Filter{})
		if err != nil {
			return false, err.Error(), nil
		}
		return c >= n, fmt.Sprintf("%d sessions", c), nil
	}))
}

// TestKafkaKillSessionCollector kills one session collector with SIGKILL
// mid-run — its partitions move to the other two while its sessions are
// half-assembled — and restarts it on the same storage 5 s later (it
// rejoins the group and takes partitions back): the store ends with every
// session once, equal to the truth.
func TestKafkaKillSessionCollector(t *testing.T) {
	ctx, k := startKafka(t)
	procs, truths := k.faultRun(t, 1700)
	k.waitStored(t, ctx, 100)
	victim := k.stack.Sessions[1]
	require.NoError(t, victim.Kill())
	t.Logf("killed %s", victim.Name)
	time.Sleep(5 * time.Second)
	require.NoError(t, victim.Restart(ctx))
	t.Logf("restarted %s on the same storage", victim.Name)
	waitAll(t, ctx, procs...)
	requireExact(t, k.settle(t, ctx, readTruths(t, truths), 90*time.Second))
}

// TestKafkaCollectorJoinsAndLeaves starts a fourth session collector
// mid-run — partitions move to it while sessions are half-assembled — and
// stops it again later in the run, so they move back.
func TestKafkaCollectorJoinsAndLeaves(t *testing.T) {
	ctx, k := startKafka(t)
	procs, truths := k.faultRun(t, 1800)
	k.waitStored(t, ctx, 100)
	fourth, err := k.stack.AddSessionCollector(ctx)
	require.NoError(t, err)
	t.Logf("%s joined", fourth.Name)
	k.waitStored(t, ctx, 350)
	require.NoError(t, fourth.Stop())
	t.Logf("%s left", fourth.Name)
	waitAll(t, ctx, procs...)
	requireExact(t, k.settle(t, ctx, readTruths(t, truths), 90*time.Second))
}

// TestKafkaBrokerRestart stops the broker mid-run and starts it again 3 s
// later on the same data: gateways retry their produce requests, session
// collectors reconnect and resume from their committed offsets.
func TestKafkaBrokerRestart(t *testing.T) {
	ctx, k := startKafka(t)
	procs, truths := k.faultRun(t, 1900)
	k.waitStored(t, ctx, 150)
	require.NoError(t, k.stack.RestartBroker(ctx, 3*time.Second))
	t.Log("broker restarted")
	waitAll(t, ctx, procs...)
	requireExact(t, k.settle(t, ctx, readTruths(t, truths), 90*time.Second))
}
