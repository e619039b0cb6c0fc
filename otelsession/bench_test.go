package otelsession_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// countingProcessor is the benchmark's exporter stand-in: it only counts
// ended spans, so the benchmark measures span creation, not export.
type countingProcessor struct{ ended atomic.Int64 }

func (p *countingProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *countingProcessor) OnEnd(sdktrace.ReadOnlySpan)                     { p.ended.Add(1) }
func (p *countingProcessor) Shutdown(context.Context) error                  { return nil }
func (p *countingProcessor) ForceFlush(context.Context) error                { return nil }

// reportCPU runs the benchmark loop of fn and reports the process CPU time
// per op (cpu-ns/op) next to the wall time.
func reportCPU(b *testing.B, fn func()) {
	b.ReportAllocs()
	start := processCPU()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func benchProvider(b *testing.B) (*sdktrace.TracerProvider, *countingProcessor) {
	p := &countingProcessor{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(p))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, p
}

var errBench = errors.New("rate limited")

// The workload, both ways: one session, 3 agents, 5 events (2 events, 2
// actions, 1 error), 2 LLM calls, 1 tool call.

func crewWithOtelsession(opts []otelsession.Option) {
	crewWithOtelsessionParams(opts, map[string]any{"steps": 3, "goal": "triage"}, map[string]any{"query": "otel"})
}

// crewWithOtelsessionParams is the workload with the event params given:
// built per session by crewWithOtelsession, hoisted out of the loop by
// BenchmarkSession/OtelsessionHoistedParams to show the cost of building them.
func crewWithOtelsessionParams(opts []otelsession.Option, planParams, searchParams map[string]any) {
	ctx, sess := otelsession.Start(context.Background(), opts...)

	a1ctx, a1, _ := sess.StartAgent(ctx, "planner")
	_ = otelsession.RecordEvent(a1ctx, otelsession.Event{Type: "plan", Returns: "3 steps", Params: planParams})
	_, llm1, _ := otelsession.StartLLMCall(a1ctx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
	llm1.End(otelsession.LLMResponse{ResponseModel: "gpt-4o-2024-08-06", ResponseID: "r1", InputTokens: 120, OutputTokens: 40, FinishReasons: []string{"stop"}}, nil)
	a1.End(nil)

	a2ctx, a2, _ := sess.StartAgent(ctx, "researcher")
	_ = otelsession.RecordAction(a2ctx, "search", searchParams)
	_, tool, _ := otelsession.StartToolCall(a2ctx, "web_search", otelsession.WithToolCallID("call_1"))
	tool.End("", nil)
	_, llm2, _ := otelsession.StartLLMCall(a2ctx, otelsession.LLMRequest{Provider: "anthropic", Model: "claude-sonnet-4"})
	llm2.End(otelsession.LLMResponse{InputTokens: 300, OutputTokens: 90, FinishReasons: []string{"end_turn"}}, nil)
	_ = otelsession.RecordAction(a2ctx, "summarise", nil)
	a2.End(nil)

	a3ctx, a3, _ := sess.StartAgent(ctx, "writer")
	_ = otelsession.RecordError(a3ctx, "llm_failure", errBench)
	_ = otelsession.RecordEvent(a3ctx, otelsession.Event{Type: "draft"})
	a3.End(nil)

	_ = sess.End(otelsession.Success, "done")
}

// crewWithOtelsessionTyped is the workload with the params given as typed
// Params (RecordEventParams / RecordActionParams) instead of maps.
func crewWithOtelsessionTyped(opts []otelsession.Option) {
	ctx, sess := otelsession.Start(context.Background(), opts...)

	a1ctx, a1, _ := sess.StartAgent(ctx, "planner")
	_ = otelsession.RecordEventParams(a1ctx, otelsession.Event{Type: "plan", Returns: "3 steps"},
		otelsession.IntParam("steps", 3), otelsession.StringParam("goal", "triage"))
	_, llm1, _ := otelsession.StartLLMCall(a1ctx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
	llm1.End(otelsession.LLMResponse{ResponseModel: "gpt-4o-2024-08-06", ResponseID: "r1", InputTokens: 120, OutputTokens: 40, FinishReasons: []string{"stop"}}, nil)
	a1.End(nil)

	a2ctx, a2, _ := sess.StartAgent(ctx, "researcher")
	_ = otelsession.RecordActionParams(a2ctx, "search", otelsession.StringParam("query", "otel"))
	_, tool, _ := otelsession.StartToolCall(a2ctx, "web_search", otelsession.WithToolCallID("call_1"))
	tool.End("", nil)
	_, llm2, _ := otelsession.StartLLMCall(a2ctx, otelsession.LLMRequest{Provider: "anthropic", Model: "claude-sonnet-4"})
	llm2.End(otelsession.LLMResponse{InputTokens: 300, OutputTokens: 90, FinishReasons: []string{"end_turn"}}, nil)
	_ = otelsession.RecordAction(a2ctx, "summarise", nil)
	a2.End(nil)

	a3ctx, a3, _ := sess.StartAgent(ctx, "writer")
	_ = otelsession.RecordError(a3ctx, "llm_failure", errBench)
	_ = otelsession.RecordEvent(a3ctx, otelsession.Event{Type: "draft"})
	a3.End(nil)

	_ = sess.End(otelsession.Success, "done")
}

// crewWithRawSDK writes the same spans, attributes and events with the OTel
// API directly, as a hand-instrumented program would (IDs generated the same way).
func crewWithRawSDK(tracer trace.Tracer) {
	id := uuid.New().String()
	sid, cid := semconv.SessionIDKey.String(id), semconv.ConversationIDKey.String(id)
	ctx, sess := tracer.Start(context.Background(), "session triage", trace.WithNewRoot(), trace.WithAttributes(
		sid, cid, semconv.SpanKindKey.String(semconv.SpanKindSession),
		semconv.OperationNameKey.String(semconv.OperationInvokeWorkflow),
		semconv.WorkflowNameKey.String("triage"), semconv.SessionNameKey.String("triage")))

	agent := func(name string) (context.Context, trace.Span) {
		return tracer.Start(ctx, "invoke_agent "+name, trace.WithAttributes(
			sid, cid, semconv.SpanKindKey.String(semconv.SpanKindAgent),
			semconv.OperationNameKey.String(semconv.OperationInvokeAgent),
			semconv.AgentNameKey.String(name), semconv.AgentIDKey.String(uuid.New().String())))
	}
	llm := func(ctx context.Context, provider, model string) trace.Span {
		_, s := tracer.Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			sid, cid, semconv.SpanKindKey.String(semconv.SpanKindLLM),
			semconv.OperationNameKey.String(semconv.OperationChat),
			semconv.ProviderNameKey.String(provider), semconv.RequestModelKey.String(model)))
		return s
	}

	a1ctx, a1 := agent("planner")
	a1.AddEvent("plan", trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindEvent), semconv.EventTypeKey.String("plan"),
		semconv.EventReturnsKey.String("3 steps"),
		attribute.String(semconv.EventParamPrefix+"goal", "triage"), attribute.Int(semconv.EventParamPrefix+"steps", 3)))
	l1 := llm(a1ctx, "openai", "gpt-4o")
	l1.SetAttributes(semconv.ResponseModelKey.String("gpt-4o-2024-08-06"), semconv.ResponseIDKey.String("r1"),
		semconv.InputTokensKey.Int(120), semconv.OutputTokensKey.Int(40), semconv.FinishReasonsKey.StringSlice([]string{"stop"}))
	l1.End()
	a1.End()

	a2ctx, a2 := agent("researcher")
	a2.AddEvent("search", trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindAction), semconv.EventTypeKey.String("search"),
		attribute.String(semconv.EventParamPrefix+"query", "otel")))
	_, tool := tracer.Start(a2ctx, "execute_tool web_search", trace.WithAttributes(
		sid, cid, semconv.SpanKindKey.String(semconv.SpanKindTool),
		semconv.OperationNameKey.String(semconv.OperationExecuteTool),
		semconv.ToolNameKey.String("web_search"), semconv.ToolCallIDKey.String("call_1")))
	tool.End()
	l2 := llm(a2ctx, "anthropic", "claude-sonnet-4")
	l2.SetAttributes(semconv.InputTokensKey.Int(300), semconv.OutputTokensKey.Int(90), semconv.FinishReasonsKey.StringSlice([]string{"end_turn"}))
	l2.End()
	a2.AddEvent("summarise", trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindAction), semconv.EventTypeKey.String("summarise")))
	a2.End()

	_, a3 := agent("writer")
	a3.RecordError(errBench, trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindError), semconv.EventTypeKey.String("llm_failure")))
	a3.AddEvent("draft", trace.WithAttributes(
		semconv.EventKindKey.String(semconv.EventKindEvent), semconv.EventTypeKey.String("draft")))
	a3.End()

	sess.SetAttributes(semconv.SessionEndStateKey.String(semconv.EndStateSuccess), semconv.SessionEventsRefusedKey.Int64(0),
		semconv.SessionEndReasonKey.String("done"))
	sess.End()
}

const spansPerCrew = 7

func checkSpans(b *testing.B, p *countingProcessor) {
	if got := p.ended.Load(); got != int64(b.N*spansPerCrew) {
		b.Fatalf("ended %d spans, want %d", got, b.N*spansPerCrew)
	}
}

// BenchmarkSession compares otelsession with the same telemetry written with
// the raw OTel SDK, on identical TracerProviders. Compare the ns/op of
// RawSDK and Otelsession (metrics on the default global MeterProvider, a
// no-op unless the program sets one); OtelsessionSDKMetrics adds an SDK
// MeterProvider to show the cost of the package's metrics;
// OtelsessionHoistedParams builds the two events' Params maps once, outside
// the loop, to show what building map[string]any params costs the caller;
// OtelsessionTypedParams passes the params as typed Params
// (RecordEventParams / RecordActionParams), the allocation-free way.
func BenchmarkSession(b *testing.B) {
	b.Run("RawSDK", func(b *testing.B) {
		tp, p := benchProvider(b)
		tracer := tp.Tracer(otelsession.ScopeName)
		reportCPU(b, func() { crewWithRawSDK(tracer) })
		checkSpans(b, p)
	})
	b.Run("Otelsession", func(b *testing.B) {
		tp, p := benchProvider(b)
		opts := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp)}
		reportCPU(b, func() { crewWithOtelsession(opts) })
		checkSpans(b, p)
	})
	b.Run("OtelsessionHoistedParams", func(b *testing.B) {
		tp, p := benchProvider(b)
		opts := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp)}
		plan, search := map[string]any{"steps": 3, "goal": "triage"}, map[string]any{"query": "otel"}
		reportCPU(b, func() { crewWithOtelsessionParams(opts, plan, search) })
		checkSpans(b, p)
	})
	b.Run("OtelsessionTypedParams", func(b *testing.B) {
		tp, p := benchProvider(b)
		opts := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp)}
		reportCPU(b, func() { crewWithOtelsessionTyped(opts) })
		checkSpans(b, p)
	})
	b.Run("OtelsessionSDKMetrics", func(b *testing.B) {
		tp, p := benchProvider(b)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		opts := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp)}
		reportCPU(b, func() { crewWithOtelsession(opts) })
		checkSpans(b, p)
	})
}

// BenchmarkSessionPaired runs both workloads alternately in one loop (the
// order flips every iteration) and reports each one's ns/op and their ratio.
// On a shared, noisy machine this pairing cancels most of the noise that
// separate benchmarks pick up at different moments.
func BenchmarkSessionPaired(b *testing.B) {
	benchPaired(b, crewWithOtelsession)
}

// BenchmarkSessionPairedTypedParams is BenchmarkSessionPaired with the
// otelsession workload passing typed Params instead of maps.
func BenchmarkSessionPairedTypedParams(b *testing.B) {
	benchPaired(b, crewWithOtelsessionTyped)
}

func benchPaired(b *testing.B, crew func([]otelsession.Option)) {
	rawTP, rawP := benchProvider(b)
	libTP, libP := benchProvider(b)
	tracer := rawTP.Tracer(otelsession.ScopeName)
	opts := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(libTP)}
	pairedLoop(b, func() { crewWithRawSDK(tracer) }, func() { crew(opts) }, "raw-ns/op", "otelsession-ns/op")
	checkSpans(b, rawP)
	checkSpans(b, libP)
}

// BenchmarkSessionPairedControl pairs each workload with itself (on two
// TracerProviders, like the real pairing): the ratio shows the harness's own
// bias (~1.00), and the ns/op of a pair, compared with BenchmarkSessionPaired's,
// what alternating two different code paths costs (caches, predictors).
func BenchmarkSessionPairedControl(b *testing.B) {
	b.Run("RawVsRaw", func(b *testing.B) {
		tp1, p1 := benchProvider(b)
		tp2, p2 := benchProvider(b)
		t1, t2 := tp1.Tracer(otelsession.ScopeName), tp2.Tracer(otelsession.ScopeName)
		pairedLoop(b, func() { crewWithRawSDK(t1) }, func() { crewWithRawSDK(t2) }, "a-ns/op", "b-ns/op")
		checkSpans(b, p1)
		checkSpans(b, p2)
	})
	b.Run("OtelsessionVsOtelsession", func(b *testing.B) {
		tp1, p1 := benchProvider(b)
		tp2, p2 := benchProvider(b)
		o1 := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp1)}
		o2 := []otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(tp2)}
		pairedLoop(b, func() { crewWithOtelsession(o1) }, func() { crewWithOtelsession(o2) }, "a-ns/op", "b-ns/op")
		checkSpans(b, p1)
		checkSpans(b, p2)
	})
}

// pairedLoop runs a and b alternately (the order flips every iteration) and
// reports each one's ns/op under the given units, ratio = total b time /
// total a time, and median-ratio: the median over iterations of b's time /
// a's time in the same iteration. A burst of load from other processes
// inflates the totals of whichever side it hits, but moves the median of
// the per-iteration ratios little: the robust one on a shared machine.
func pairedLoop(b *testing.B, fa, fb func(), unitA, unitB string) {
	var ta, tb time.Duration
	var hist ratioHist
	i := 0
	for b.Loop() {
		var da, db time.Duration
		if i%2 == 0 {
			t0 := time.Now()
			fa()
			t1 := time.Now()
			fb()
			da, db = t1.Sub(t0), time.Since(t1)
		} else {
			t0 := time.Now()
			fb()
			t1 := time.Now()
			fa()
			db, da = t1.Sub(t0), time.Since(t1)
		}
		ta, tb = ta+da, tb+db
		hist.add(float64(db) / float64(da))
		i++
	}
	b.ReportMetric(float64(ta.Nanoseconds())/float64(b.N), unitA)
	b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), unitB)
	b.ReportMetric(float64(tb)/float64(ta), "ratio")
	b.ReportMetric(hist.median(), "median-ratio")
}

// ratioHist is a histogram of ratios in [1/4, 4] on a log scale (0.07 %
// wide buckets; outliers land in the end buckets), so the benchmark loop
// keeps no per-iteration data and allocates nothing.
type ratioHist struct {
	n      int
	bucket [ratioBuckets]int
}

const ratioBuckets = 4000

var ratioLogMin, ratioLogSpan = math.Log(0.25), math.Log(16)

func (h *ratioHist) add(r float64) {
	i := 0
	if r > 0 {
		i = int((math.Log(r) - ratioLogMin) / ratioLogSpan * ratioBuckets)
	}
	h.bucket[min(max(i, 0), ratioBuckets-1)]++
	h.n++
}

func (h *ratioHist) median() float64 {
	seen := 0
	for i, c := range h.bucket {
		if seen += c; 2*seen >= h.n {
			return math.Exp(ratioLogMin + (float64(i)+0.5)/ratioBuckets*ratioLogSpan)
		}
	}
	return math.NaN()
}

// TestBenchmarkWorkloadsMatch checks the two benchmark workloads write the
// same spans, attributes and events, so the comparison is fair.
func TestBenchmarkWorkloadsMatch(t *testing.T) {
	type spanShape struct {
		name   string
		kind   trace.SpanKind
		status codes.Code
		attrs  map[string]any
		events []map[string]any
	}
	shape := func(e *env) map[string]spanShape {
		out := map[string]spanShape{}
		for _, s := range e.rec.Ended() {
			a := attrs(s.Attributes())
			for _, k := range []string{"session.id", "gen_ai.conversation.id", "gen_ai.agent.id"} {
				if _, ok := a[k]; ok {
					a[k] = "<uuid>"
				}
			}
			sh := spanShape{name: s.Name(), kind: s.SpanKind(), status: s.Status().Code, attrs: a}
			for _, ev := range s.Events() {
				m := attrs(ev.Attributes)
				m["<name>"] = ev.Name
				sh.events = append(sh.events, m)
			}
			out[s.Name()] = sh
		}
		return out
	}
	raw, lib, typed := newEnv(t), newEnv(t), newEnv(t)
	crewWithRawSDK(raw.tp.Tracer(otelsession.ScopeName))
	crewWithOtelsession([]otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(lib.tp)})
	crewWithOtelsessionTyped([]otelsession.Option{otelsession.WithName("triage"), otelsession.WithTracerProvider(typed.tp)})
	rs := shape(raw)
	require.Len(t, rs, spansPerCrew)
	assert.Equal(t, rs, shape(lib), "map params")
	assert.Equal(t, rs, shape(typed), "typed params")
}
