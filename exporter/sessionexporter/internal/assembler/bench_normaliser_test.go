package assembler

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/semconv"
)

// BenchmarkSummarise measures what reading one span costs, per span of a
// workload: "main" is the reading the exporter did before the normaliser
// (summariseMain, kept below as the baseline: crewtrace and GenAI keys
// only), "dialect" is summarise, on the same spans, in the same run. The
// crewtrace workload is testgen.Session (the mix the pipeline benchmarks
// use); each other convention is the spans its e2e program writes.
//
//	go test -run '^$' -bench BenchmarkSummarise -count 6 ./internal/assembler/
func BenchmarkSummarise(b *testing.B) {
	workloads := []struct {
		name  string
		spans []ptrace.Span
	}{
		{"crewtrace", spansOf(testgen.Session(1, 20))},
		{"otel_genai", spansOf(genAIOnly(1, "conv-1", false))},
		{"openinference", spansOf(conventionTrace(map[string]any{"openinference.span.kind": "CHAIN", "session.id": "s"},
			map[string]any{"openinference.span.kind": "AGENT", "agent.name": "researcher", "session.id": "s"},
			map[string]any{"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.system": "openai", "llm.model_name": "gpt-4o-mini",
				"llm.token_count.prompt": 50, "llm.token_count.completion": 12, "llm.token_count.total": 62,
				"llm.token_count.prompt_details.cache_read": 16, "llm.token_count.completion_details.reasoning": 2,
				"llm.invocation_parameters": `{"model":"gpt-4o-mini"}`, "input.mime_type": "application/json", "session.id": "s"},
			map[string]any{"openinference.span.kind": "TOOL", "tool.name": "get_weather", "session.id": "s"}))},
		{"openllmetry", spansOf(conventionTrace(map[string]any{"traceloop.span.kind": "workflow", "traceloop.workflow.name": "trip",
			"traceloop.entity.name": "trip", "traceloop.entity.path": "", "traceloop.association.properties.session_id": "s"},
			map[string]any{"traceloop.span.kind": "agent", "traceloop.entity.name": "flights", "gen_ai.agent.name": "flights",
				"traceloop.workflow.name": "flights", "traceloop.association.properties.session_id": "s"},
			map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
				"gen_ai.response.model": "gpt-4o", "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 9,
				"llm.usage.total_tokens": 39, "gen_ai.agent.name": "flights", "traceloop.workflow.name": "flights",
				"traceloop.association.properties.session_id": "s"},
			map[string]any{"traceloop.span.kind": "tool", "traceloop.entity.name": "search_flights", "gen_ai.agent.name": "flights",
				"traceloop.workflow.name": "flights", "traceloop.association.properties.session_id": "s"}))},
		{"langfuse", spansOf(conventionTrace(map[string]any{"langfuse.observation.type": "agent", "session.id": "s", "langfuse.trace.name": "support"},
			map[string]any{"langfuse.observation.type": "span", "session.id": "s", "langfuse.trace.name": "support"},
			map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4.1", "session.id": "s",
				"langfuse.observation.usage_details": `{"input":54,"input_cached_tokens":16,"output":9,"output_reasoning_tokens":2,"total":81}`},
			map[string]any{"langfuse.observation.type": "tool", "session.id": "s", "langfuse.trace.name": "support"}))},
		{"vercel_ai", spansOf(conventionTrace(vercelOuter, vercelOuter,
			map[string]any{"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat",
				"gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
				"ai.usage.inputTokens": 30, "gen_ai.usage.input_tokens": 30, "ai.usage.outputTokens": 9, "gen_ai.usage.output_tokens": 9,
				"ai.usage.inputTokenDetails.cacheReadTokens": 0, "ai.usage.outputTokenDetails.reasoningTokens": 2,
				"ai.telemetry.metadata.sessionId": "s", "ai.response.finishReason": "tool-calls"},
			map[string]any{"ai.operationId": "ai.toolCall", "ai.toolCall.name": "get_weather", "ai.toolCall.id": "call_1",
				"ai.telemetry.metadata.sessionId": "s", "operation.name": "ai.toolCall weather"}))},
	}
	for _, w := range workloads {
		if w.name == "crewtrace" {
			b.Run("main/"+w.name, func(b *testing.B) { benchRead(b, w.spans, summariseMain) })
		}
		b.Run("dialect/"+w.name, func(b *testing.B) {
			benchRead(b, w.spans, func(s ptrace.Span) (span, found) { rd := benchReader; return summarise(s, &rd) })
		})
	}
}

// vercelOuter is an AI SDK outer call span (the root, and the step wrapper).
var vercelOuter = map[string]any{"ai.operationId": "ai.generateText", "ai.telemetry.functionId": "weather",
	"ai.telemetry.metadata.sessionId": "s", "ai.model.id": "gpt-4o-mini", "ai.model.provider": "openai.chat",
	"ai.usage.inputTokens": 80, "ai.usage.outputTokens": 20, "operation.name": "ai.generateText weather"}

// BenchmarkSummariseInterleaved reads the crewtrace workload with main's
// reading and with the normaliser one after the other in every iteration
// (alternating which goes first), so both see the same machine load, and
// reports each one's ns/span, the median per-iteration difference
// (delta_ns/span) and the median ratio (dialect/main) with its spread
// (p10, p90).
//
//	go test -run '^$' -bench BenchmarkSummariseInterleaved -benchtime 2000x ./internal/assembler/
func BenchmarkSummariseInterleaved(b *testing.B) {
	spans := spansOf(testgen.Session(1, 20))
	reads := []func(ptrace.Span) (span, found){
		summariseMain,
		func(s ptrace.Span) (span, found) { rd := benchReader; return summarise(s, &rd) },
	}
	const reps = 50 // passes over the workload per timing, so a timing is ~50 µs
	var total [2]time.Duration
	var deltas, ratios []float64
	i := 0
	for b.Loop() {
		var took [2]time.Duration
		for k := range 2 {
			r := (i + k) % 2
			start := time.Now()
			for range reps {
				for _, s := range spans {
					sink, f := reads[r](s)
					benchSink += int(sink.kind) + len(f.sessionID)
				}
			}
			took[r] = time.Since(start)
			total[r] += took[r]
		}
		n := float64(reps * len(spans))
		deltas = append(deltas, float64(took[1]-took[0])/n)
		ratios = append(ratios, float64(took[1])/float64(took[0]))
		i++
	}
	n := float64(i * reps * len(spans))
	b.ReportMetric(float64(total[0].Nanoseconds())/n, "main_ns/span")
	b.ReportMetric(float64(total[1].Nanoseconds())/n, "dialect_ns/span")
	slices.Sort(deltas)
	slices.Sort(ratios)
	b.ReportMetric(deltas[len(deltas)/2], "delta_ns/span")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(ratios[len(ratios)/10], "ratio_p10")
	b.ReportMetric(ratios[len(ratios)*9/10], "ratio_p90")
	b.ReportMetric(0, "ns/op")
}

// benchSink keeps the reads from being optimised away.
var benchSink int

func benchRead(b *testing.B, spans []ptrace.Span, read func(ptrace.Span) (span, found)) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, s := range spans {
			sp, f := read(s)
			n += int(sp.kind) + len(f.sessionID)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
	b.ReportMetric(0, "ns/op")
	_ = n
}

func spansOf(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				out = append(out, sss.At(j).Spans().At(k))
			}
		}
	}
	return out
}

// conventionTrace is one trace of root, agent, LLM and tool spans with the
// given attributes.
func conventionTrace(root, agent, llm, tool map[string]any) ptrace.Traces {
	b := newTrace(9, "bench")
	b.add(0, -1, "root", 0, 100, root)
	b.add(1, 0, "agent", 1, 90, agent)
	b.add(2, 1, "chat", 2, 10, llm)
	b.add(3, 1, "tool", 13, 10, tool)
	b.add(4, 1, "chat", 24, 10, llm)
	return b.td
}

// summariseMain is the exporter's span reading before the normaliser (its
// summarise and classify as they were), producing today's types: the
// baseline of BenchmarkSummarise. It reads crewtrace and GenAI keys only.
func summariseMain(s ptrace.Span) (sp span, f found) {
	sp = span{
		id:        s.SpanID(),
		parent:    s.ParentSpanID(),
		statusErr: s.Status().Code() == ptrace.StatusCodeError,
		model:     -1,
	}
	start, end := int64(s.StartTimestamp()), int64(s.EndTimestamp())
	if start <= 0 || end < start || end > maxSaneNanos {
		sp.badTime = true
	} else {
		sp.start, sp.end = start, end
	}
	var spanKind, operation, sessionName, workflowName, endState, endReason string
	var tags []string
	for k, v := range s.Attributes().All() {
		switch k {
		case string(semconv.SpanKindKey):
			spanKind = v.AsString()
		case string(semconv.OperationNameKey):
			operation = v.AsString()
		case string(semconv.SessionIDKey):
			f.sessionID = v.AsString()
		case string(semconv.AgentIDKey):
			sp.agentID = v.AsString()
		case string(semconv.AgentNameKey):
			sp.name = v.AsString()
		case string(semconv.InputTokensKey):
			sp.tokens.Input = v.Int()
		case string(semconv.OutputTokensKey):
			sp.tokens.Output = v.Int()
		case string(semconv.SessionNameKey):
			sessionName = v.AsString()
		case string(semconv.WorkflowNameKey):
			workflowName = v.AsString()
		case string(semconv.SessionEndStateKey):
			endState = v.AsString()
		case string(semconv.SessionEndReasonKey):
			endReason = v.AsString()
		case string(semconv.SessionTagsKey):
			tags = append(tags, v.AsString())
		}
	}
	sp.kind = classifyMain(spanKind, operation)
	evs := s.Events()
	for i := 0; i < evs.Len(); i++ {
		rd := benchReader
		if ev, ok := summariseEvent(evs.At(i), &rd); ok {
			sp.events = append(sp.events, ev)
		}
	}
	if sp.kind != kindSession {
		return sp, f
	}
	name := sessionName
	if name == "" {
		name = workflowName
	}
	if name == "" {
		name = strings.TrimPrefix(strings.TrimPrefix(s.Name(), semconv.SessionSpanPrefix), " ")
	}
	f.root = &root{crewtrace: true, name: name, tags: tags, endState: endState, endReason: endReason}
	return sp, f
}

func classifyMain(spanKind, operation string) uint8 {
	switch spanKind {
	case semconv.SpanKindSession:
		return kindSession
	case semconv.SpanKindAgent:
		return kindAgent
	case semconv.SpanKindLLM:
		return kindLLM
	case semconv.SpanKindTool:
		return kindTool
	}
	switch operation {
	case semconv.OperationInvokeAgent:
		return kindAgent
	case semconv.OperationChat, semconv.OperationEmbeddings, semconv.OperationTextCompletion, semconv.OperationGenerateContent:
		return kindLLM
	case semconv.OperationExecuteTool:
		return kindTool
	}
	return kindOther
}

// benchReader reads with the exporter's default value limits.
var benchReader = reader{maxValue: 8 << 10, maxEvents: 128}
