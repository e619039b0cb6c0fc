package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// Limits of the collector under test: the exporter's defaults for values,
// and the byte budget of testdata/collector-hostile.yaml.
const (
	hostileMaxValue = 8192     // max_attribute_bytes (default)
	hostileMaxBytes = 32 << 20 // max_bytes (collector-hostile.yaml)
	// hostileMemLimit is the collector's GOMEMLIMIT (the Go runtime's soft
	// limit): above it the runtime collects garbage at once, so the heap
	// it reports once a burst has passed is what the collector keeps live.
	hostileMemLimit = 64 << 20
)

// What the hostile client sends, next to the example crew.
const (
	hostileOversized = 20        // sessions whose IDs, names, tags, reasons, agent names and IDs are 100 KB
	hostileEndStates = 300       // sessions with a distinct 1 KB end state each
	hostileHugeEvent = 60        // root-less sessions whose one span has a 3.5 MB event message
	hostileMaxTokens = 10        // sessions with two LLM calls of MaxInt64 input and output tokens
	hostileNUL       = 5         // sessions with NUL bytes in their name and an event parameter
	hugeEventBytes   = 3_500_000 // the event message (the OTLP/gRPC receiver takes 4 MiB per request)
	oversizedBytes   = 100_000
)

// TestHostileClientBesideNormalCrew runs a hostile (or careless) OTLP client
// against the real collector while the example crew runs 20 sessions
// through it: 100 KB IDs, names and agent names, 300 distinct 1 KB end
// states, 60 session spans carrying a 3.5 MB event message (without their
// root, so the exporter holds them for session_timeout), MaxInt64 token
// counts and NUL bytes. It checks that
//
//   - every session of the crew is recorded exactly once, as its truth says,
//     on time: flushed after its grace period (never early at a limit),
//     within a few seconds of its end;
//   - the exporter's accounted buffer never exceeds max_bytes, and once the
//     burst has passed the collector's heap is back within max_bytes of
//     where it started (without the limits it kept every 3.5 MB message,
//     210 MB, for session_timeout);
//   - every hostile session is recorded too, its strings cut to
//     max_attribute_bytes and marked truncated, its tokens saturated at
//     MaxInt64 (never negative), its end state kept as given but counted as
//     "other": no client string becomes a metric label and /metrics stays
//     small.
func TestHostileClientBesideNormalCrew(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorConfigs: []string{
			filepath.Join(env.root, "collector-config.yaml"),
			filepath.Join(env.root, "e2e", "testdata", "collector-hostile.yaml"),
		},
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=60s", "GOMEMLIMIT=" + fmt.Sprint(hostileMemLimit)},
	})

	mem := startMemorySampler(ctx, stack.MetricsURL())
	require.Eventually(t, func() bool { return mem.samples() > 0 }, 10*time.Second, 50*time.Millisecond, "metrics scraped")
	heapBefore := mem.maxHeap()

	const crewSessions = 20
	crew := env.startCrew(t, stack, nil,
		"-tasks", fmt.Sprint(crewSessions), "-concurrency", "5", "-seed", "18", "-latency", "100ms", "-truth", env.truthPath())
	started := time.Now()
	sent := sendHostile(t, ctx, stack.Addrs.OTLPGRPC)
	t.Logf("hostile client: %d sessions sent in %s", len(sent.all), time.Since(started).Round(time.Millisecond))

	// The crew's sessions: exactly one record each, as the truth says, on time.
	waitCrew(t, ctx, crew)
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, crewSessions)
	records := waitForCrewRecords(t, ctx, stack.SessionsPath(), truth)
	var worstLag time.Duration
	for _, tr := range truth {
		r := records[tr.SessionID]
		checkRecord(t, tr, r)
		lag := r.EmittedAt.Sub(r.EndTime)
		worstLag = max(worstLag, lag)
		assert.Less(t, lag, 10*time.Second, "session %s recorded %s after it ended (grace period 1s)", tr.Name, lag)
	}
	t.Logf("crew: %d sessions recorded, the latest %s after its session ended", len(truth), worstLag.Round(time.Millisecond))

	// Everything the hostile client sent is buffered or written by now (the
	// root-less sessions stay buffered until the shutdown drains them): the
	// heap the collector reports comes back within max_bytes of where it
	// started once the garbage of the burst is collected.
	settleCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = harness.Poll(settleCtx, "the collector's heap back within max_bytes", func(context.Context) (bool, string, error) {
		h := mem.lastHeap()
		return h-heapBefore <= hostileMaxBytes, fmt.Sprintf("heap %.1f MiB", mib(h)), nil
	})
	cancel()
	assert.NoError(t, err, "the collector keeps what the hostile client sent")
	settled := mem.lastHeap()
	metricsBody := scrapeBody(t, ctx, stack.MetricsURL())
	peakRSS, _ := harness.PeakRSS(stack.Collector.Pid())
	mem.stop()
	require.NoError(t, stack.Stop())

	t.Logf("collector heap: %.1f MiB before, %.1f MiB at the peak of the burst, %.1f MiB after it (GOMEMLIMIT %d MiB); "+
		"exporter buffer peak %.2f MiB (max_bytes %d MiB); collector peak RSS %.1f MiB",
		mib(heapBefore), mib(mem.maxHeap()), mib(settled), hostileMemLimit>>20, mib(mem.maxBuffered()), hostileMaxBytes>>20, mib(peakRSS))
	assert.LessOrEqual(t, mem.maxBuffered(), float64(hostileMaxBytes), "the exporter's accounted buffer stays within max_bytes")

	// /metrics: no client string became a label.
	t.Logf("/metrics: %d bytes", len(metricsBody))
	assert.Less(t, len(metricsBody), 256<<10, "/metrics stays small: %d bytes", len(metricsBody))
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`end_state="([^"]*)"`).FindAllStringSubmatch(metricsBody, -1) {
		labels[m[1]] = true
	}
	for l := range labels {
		delete(labels, l)
		if !slices.Contains([]string{"Success", "Fail", "Indeterminate", "other"}, l) {
			labels[fmt.Sprintf("%.20s…(%d bytes)", l, len(l))] = true
		}
	}
	assert.Empty(t, labels, "end_state label values other than the four classes")
	assert.Regexp(t, `otelcol_exporter_session_sessions_emitted(_total)?\{[^}]*end_state="other"[^}]*\} [1-9]`, metricsBody)
	assert.Regexp(t, `otelcol_exporter_session_values_truncated(_total)?(\{[^}]*\})? [1-9]`, metricsBody)

	// Every record after the shutdown: the crew's once each, the hostile
	// client's once each, bounded and marked.
	all := readAllRecords(t, stack.SessionsPath())
	byTrace := map[string][]record.Record{}
	for _, r := range all {
		byTrace[r.TraceID] = append(byTrace[r.TraceID], r)
		for _, s := range recordStrings(&r) {
			require.LessOrEqual(t, len(s), hostileMaxValue, "a string of session %.40q is longer than max_attribute_bytes", r.SessionID)
		}
		assert.GreaterOrEqual(t, r.Tokens.Input, int64(0))
		assert.GreaterOrEqual(t, r.Tokens.Output, int64(0))
		assert.GreaterOrEqual(t, r.Tokens.Total, int64(0))
	}
	for _, tr := range truth {
		assert.Len(t, byTrace[tr.TraceID], 1, "crew session %s: one record", tr.Name)
	}
	assert.Len(t, byTrace, crewSessions+len(sent.all), "one record per trace, nothing else")
	for tid, kind := range sent.all {
		recs := byTrace[tid]
		if !assert.Len(t, recs, 1, "hostile %s session %s: one record", kind, tid) {
			continue
		}
		r := recs[0]
		switch kind {
		case "oversized":
			assert.True(t, r.Complete)
			require.NotNil(t, r.Truncated, "marked truncated")
			assert.GreaterOrEqual(t, r.Truncated.Values, 6)
			assert.True(t, strings.HasSuffix(r.Name, "…"))
		case "end state":
			assert.Equal(t, sent.endStates[tid], r.EndState, "kept as given")
			assert.Nil(t, r.Truncated)
		case "huge event":
			assert.False(t, r.Complete, "its root never came")
			require.Len(t, r.Events, 1)
			assert.Len(t, r.Events[0].Message, hostileMaxValue, "the 3.5 MB message cut to max_attribute_bytes")
			require.NotNil(t, r.Truncated)
		case "max tokens":
			assert.Equal(t, record.Tokens{Input: math.MaxInt64, Output: math.MaxInt64, Total: math.MaxInt64}, r.Tokens, "saturated, never negative")
		case "nul":
			assert.Equal(t, "nul\x00name", r.Name, "NUL bytes kept as sent")
		}
	}
}

// hostileSent is what the hostile client sent: the kind of each trace, by
// trace ID, and the end states it wrote.
type hostileSent struct {
	all       map[string]string
	endStates map[string]string
}

// sendHostile sends the hostile sessions over OTLP/gRPC, one span per
// request (a 3.5 MB span must not share a request) from 4 goroutines.
func sendHostile(t *testing.T, ctx context.Context, endpoint string) hostileSent {
	t.Helper()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", "hostile"))))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	tr := tp.Tracer("hostile")

	sent := hostileSent{all: map[string]string{}, endStates: map[string]string{}}
	var mu sync.Mutex
	note := func(sp trace.Span, kind string) string {
		tid := sp.SpanContext().TraceID().String()
		mu.Lock()
		sent.all[tid] = kind
		mu.Unlock()
		return tid
	}
	root := func(name, id string) (context.Context, trace.Span) {
		return tr.Start(ctx, "session "+name, trace.WithAttributes(
			attribute.String(string(semconv.SpanKindKey), semconv.SpanKindSession),
			attribute.String(string(semconv.SessionIDKey), id),
			attribute.String(string(semconv.SessionNameKey), name)))
	}
	jobs := make(chan func(), 64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				job()
			}
		}()
	}

	for i := range hostileOversized {
		jobs <- func() {
			big := func(tag string) string {
				return fmt.Sprintf("%s-%d-", tag, i) + strings.Repeat("Ω\x01<>", oversizedBytes/5)
			}
			id := big("id")
			sctx, s := root(big("name"), id)
			s.SetAttributes(attribute.StringSlice(string(semconv.SessionTagsKey), []string{big("tag")}),
				attribute.String(string(semconv.SessionEndStateKey), semconv.EndStateSuccess),
				attribute.String(string(semconv.SessionEndReasonKey), big("reason")))
			_, a := tr.Start(sctx, "invoke_agent", trace.WithAttributes(
				attribute.String(string(semconv.SpanKindKey), semconv.SpanKindAgent),
				attribute.String(string(semconv.SessionIDKey), id),
				attribute.String(string(semconv.AgentNameKey), big("agent")),
				attribute.String(string(semconv.AgentIDKey), big("agent-id"))))
			a.End()
			s.End()
			note(s, "oversized")
		}
	}
	for i := range hostileEndStates {
		jobs <- func() {
			_, s := root(fmt.Sprintf("end-state-%d", i), fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
			state := fmt.Sprintf("%04d", i) + strings.Repeat("s", 1020)
			s.SetAttributes(attribute.String(string(semconv.SessionEndStateKey), state))
			s.End()
			tid := note(s, "end state")
			mu.Lock()
			sent.endStates[tid] = state
			mu.Unlock()
		}
	}
	message := strings.Repeat("m", hugeEventBytes)
	for i := range hostileHugeEvent {
		jobs <- func() {
			id := fmt.Sprintf("10000000-0000-4000-8000-%012d", i)
			sctx, s := root(fmt.Sprintf("huge-%d", i), id) // never ended: the root never arrives
			_, a := tr.Start(sctx, "invoke_agent", trace.WithAttributes(
				attribute.String(string(semconv.SpanKindKey), semconv.SpanKindAgent),
				attribute.String(string(semconv.SessionIDKey), id)))
			a.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
				attribute.String(string(semconv.EventKindKey), semconv.EventKindError),
				attribute.String(string(semconv.ExceptionMessageKey), message)))
			a.SetStatus(codes.Error, "huge")
			a.End()
			note(s, "huge event")
		}
	}
	for i := range hostileMaxTokens {
		jobs <- func() {
			id := fmt.Sprintf("20000000-0000-4000-8000-%012d", i)
			sctx, s := root(fmt.Sprintf("tokens-%d", i), id)
			for range 2 {
				_, c := tr.Start(sctx, "chat m", trace.WithAttributes(
					attribute.String(string(semconv.SpanKindKey), semconv.SpanKindLLM),
					attribute.String(string(semconv.SessionIDKey), id),
					attribute.Int64(string(semconv.InputTokensKey), math.MaxInt64),
					attribute.Int64(string(semconv.OutputTokensKey), math.MaxInt64)))
				c.End()
			}
			s.SetAttributes(attribute.String(string(semconv.SessionEndStateKey), semconv.EndStateSuccess))
			s.End()
			note(s, "max tokens")
		}
	}
	for i := range hostileNUL {
		jobs <- func() {
			_, s := root("nul\x00name", fmt.Sprintf("30000000-0000-4000-8000-%012d", i))
			s.AddEvent("nul", trace.WithAttributes(
				attribute.String(string(semconv.EventKindKey), semconv.EventKindEvent),
				attribute.String(semconv.EventParamPrefix+"p", "a\x00b")))
			s.End()
			note(s, "nul")
		}
	}
	close(jobs)
	wg.Wait()
	return sent
}

// memorySampler scrapes the collector's metrics every 200 ms and keeps the
// highest heap and exporter buffer it saw.
type memorySampler struct {
	mu       sync.Mutex
	n        int
	heap     float64 // highest
	last     float64 // latest
	buffered float64
	cancel   context.CancelFunc
	done     chan struct{}
}

func startMemorySampler(ctx context.Context, url string) *memorySampler {
	ctx, cancel := context.WithCancel(ctx)
	m := &memorySampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if got, err := harness.ScrapeMetrics(ctx, url); err == nil {
				m.mu.Lock()
				m.n++
				m.last = got["otelcol_process_runtime_heap_alloc_bytes"]
				m.heap = max(m.heap, m.last)
				m.buffered = max(m.buffered, got["otelcol_exporter_session_bytes_buffered"])
				m.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memorySampler) stop() { m.cancel(); <-m.done }

func (m *memorySampler) samples() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func (m *memorySampler) maxHeap() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.heap
}

func (m *memorySampler) lastHeap() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (m *memorySampler) maxBuffered() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.buffered
}

func mib[T int64 | float64](v T) float64 { return float64(v) / (1 << 20) }

func scrapeBody(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	require.NoError(t, sc.Err())
	return b.String()
}

// waitForCrewRecords waits until every session of the truth has a record
// and returns them by session ID (other records are the hostile client's).
func waitForCrewRecords(t *testing.T, ctx context.Context, path string, truth []harness.Truth) map[string]harness.Record {
	t.Helper()
	var latest map[string]harness.Record
	err := harness.Poll(ctx, "a record for each of the crew's sessions", func(context.Context) (bool, string, error) {
		recs, err := harness.ReadRecords(path)
		if err != nil {
			return false, "", err
		}
		latest = harness.Latest(recs)
		have := 0
		for _, tr := range truth {
			if _, ok := latest[tr.SessionID]; ok {
				have++
			}
		}
		return have == len(truth), fmt.Sprintf("%d of %d sessions have a record", have, len(truth)), nil
	})
	require.NoError(t, err)
	return latest
}

// readAllRecords decodes every record of the file with the record package.
func readAllRecords(t *testing.T, path string) []record.Record {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []record.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		r, err := record.Encoded{JSON: sc.Bytes()}.Decode()
		require.NoError(t, err)
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

// recordStrings returns every string a record holds that came from a client.
func recordStrings(r *record.Record) []string {
	out := []string{r.SessionID, r.Name, r.EndState, r.EndReason}
	out = append(out, r.Tags...)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(r.Resource)
	for _, a := range r.Agents {
		out = append(out, a.ID, a.Name)
	}
	for _, e := range r.Events {
		out = append(out, e.Kind, e.Type, e.Returns, e.ErrorType, e.Message)
		walk(e.Params)
	}
	return out
}
