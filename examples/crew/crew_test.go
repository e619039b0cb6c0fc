package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

func testConfig(seed uint64) Config {
	return Config{Tasks: 40, Concurrency: 8, Seed: seed, FailRate: 0.3}
}

// runRecorded runs the crew in-process with in-memory providers.
func runRecorded(t *testing.T, cfg Config) ([]SessionTruth, []sdktrace.ReadOnlySpan, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	truths := Run(context.Background(), cfg, []otelsession.Option{otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp)}, nil)
	return truths, rec.Ended(), reader
}

func str(kvs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func num(kvs []attribute.KeyValue, key attribute.Key) int {
	for _, kv := range kvs {
		if kv.Key == key {
			return int(kv.Value.AsInt64())
		}
	}
	return 0
}

// truthFromSpans rebuilds a session's truth from its exported spans alone,
// the way a consumer of the telemetry would.
func truthFromSpans(t *testing.T, spans []sdktrace.ReadOnlySpan) SessionTruth {
	t.Helper()
	var st SessionTruth
	agentBySpan := map[trace.SpanID]*AgentTruth{}
	var agentOrder []trace.SpanID
	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch str(s.Attributes(), semconv.SpanKindKey) {
		case semconv.SpanKindSession:
			require.Nil(t, root, "one session root per trace")
			root = s
		case semconv.SpanKindAgent:
			agentBySpan[s.SpanContext().SpanID()] = &AgentTruth{
				ID: str(s.Attributes(), semconv.AgentIDKey), Name: str(s.Attributes(), semconv.AgentNameKey),
			}
			agentOrder = append(agentOrder, s.SpanContext().SpanID())
		}
	}
	require.NotNil(t, root)
	a := root.Attributes()
	st.SessionID, st.TraceID = str(a, semconv.SessionIDKey), root.SpanContext().TraceID().String()
	st.Name, st.EndState, st.EndReason = str(a, semconv.SessionNameKey), str(a, semconv.SessionEndStateKey), str(a, semconv.SessionEndReasonKey)
	for _, kv := range a {
		if kv.Key == semconv.SessionTagsKey {
			st.Tags = kv.Value.AsStringSlice()
		}
	}
	if st.EndState == semconv.EndStateFail {
		assert.Equal(t, codes.Error, root.Status().Code)
	}
	st.SpanCount = len(spans)
	for _, s := range spans {
		assert.Equal(t, st.SessionID, str(s.Attributes(), semconv.SessionIDKey), s.Name())
		agent := agentBySpan[s.SpanContext().SpanID()]
		agentID := ""
		owner := agent // the agent the span's errors count for
		switch str(s.Attributes(), semconv.SpanKindKey) {
		case semconv.SpanKindAgent:
			agentID = agent.ID
			if s.Status().Code == codes.Error {
				agent.ErrorSpans++
			}
		case semconv.SpanKindLLM, semconv.SpanKindTool:
			parent := agentBySpan[s.Parent().SpanID()]
			require.NotNil(t, parent, "calls are children of an agent in this crew")
			owner = parent
			if s.Status().Code == codes.Error {
				parent.ErrorSpans++
			}
			if str(s.Attributes(), semconv.SpanKindKey) == semconv.SpanKindLLM {
				parent.LLMCalls++
				parent.InputTokens += num(s.Attributes(), semconv.InputTokensKey)
				parent.OutputTokens += num(s.Attributes(), semconv.OutputTokensKey)
				// The record's model: the response model, else the request model.
				model := cmp.Or(str(s.Attributes(), semconv.ResponseModelKey), str(s.Attributes(), semconv.RequestModelKey))
				provider := str(s.Attributes(), semconv.ProviderNameKey)
				k := slices.IndexFunc(st.Models, func(m ModelTruth) bool { return m.Provider == provider && m.Model == model })
				if k < 0 {
					st.Models = append(st.Models, ModelTruth{Provider: provider, Model: model})
					k = len(st.Models) - 1
				}
				st.Models[k].LLMCalls++
				st.Models[k].InputTokens += num(s.Attributes(), semconv.InputTokensKey)
				st.Models[k].OutputTokens += num(s.Attributes(), semconv.OutputTokensKey)
			} else {
				parent.ToolCalls++
			}
		}
		errorEvents := 0
		for _, ev := range s.Events() {
			kind := str(ev.Attributes, semconv.EventKindKey)
			if kind == "" {
				continue // not a session event (e.g. the agent's own error)
			}
			st.Events = append(st.Events, EventTruth{Type: str(ev.Attributes, semconv.EventTypeKey), Kind: kind, AgentID: agentID})
			if kind == semconv.EventKindError {
				agent.ErrorEvents++
				errorEvents++
			}
		}
		// The exporter's rule (exporter/sessionexporter README, error_count):
		// error events, plus a non-root span with status Error and no error event.
		errs := errorEvents
		if errorEvents == 0 && s.Status().Code == codes.Error && s.Parent().IsValid() {
			errs = 1
		}
		if owner != nil {
			owner.Errors += errs
		} else {
			assert.Zero(t, errs, "the session span has no errors by the rule in this crew: %s", s.Name())
		}
	}
	for _, id := range agentOrder {
		ag := *agentBySpan[id]
		st.Agents = append(st.Agents, ag)
		st.LLMCalls += ag.LLMCalls
		st.ToolCalls += ag.ToolCalls
		st.InputTokens += ag.InputTokens
		st.OutputTokens += ag.OutputTokens
		st.ErrorCount += ag.Errors
		st.ErrorEvents += ag.ErrorEvents
	}
	st.EventCount = len(st.Events)
	return st
}

// canonical orders what has no order in telemetry (agents, events, models) and
// leaves out the refused calls, which leave no span (TestMetricsMatchTruth
// checks them against the metrics).
func canonical(st SessionTruth) SessionTruth {
	st.Refused = nil
	st.Agents = slices.Clone(st.Agents)
	st.Events = slices.Clone(st.Events)
	st.Models = slices.Clone(st.Models)
	slices.SortFunc(st.Models, func(a, b ModelTruth) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model))
	})
	slices.SortFunc(st.Agents, func(a, b AgentTruth) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Events, func(a, b EventTruth) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Kind, b.Kind))
	})
	return st
}

func TestTruthMatchesSpans(t *testing.T) {
	truths, spans, _ := runRecorded(t, testConfig(7))
	require.Len(t, truths, 40)

	byTrace := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byTrace[s.SpanContext().TraceID().String()] = append(byTrace[s.SpanContext().TraceID().String()], s)
	}
	require.Len(t, byTrace, len(truths), "one trace per session, no stray spans")

	var states = map[string]int{}
	var total, failedCalls int
	for _, want := range truths {
		states[want.EndState]++
		for _, a := range want.Agents {
			// A failed call is an error span without an event of its own plus
			// the crew's error event on the agent: two errors by the rule.
			if a.ErrorEvents > 0 {
				failedCalls++
				assert.Greater(t, a.Errors, a.ErrorEvents, "agent %s: its failed calls' spans count too", a.Name)
			}
		}
		total += want.SpanCount
		assert.GreaterOrEqual(t, len(want.Agents), 1)
		got := truthFromSpans(t, byTrace[want.TraceID])
		assert.Equal(t, canonical(want), canonical(got), "session %s", want.Name)
		if want.EndState == string(otelsession.Success) {
			assert.True(t, len(want.Agents) >= 2 && len(want.Agents) <= 4, "2–4 agents: %d", len(want.Agents))
		}
	}
	assert.Equal(t, len(spans), total, "span_count adds up to every span")
	assert.Positive(t, states["Fail"], "some tasks fail")
	assert.Positive(t, failedCalls, "some calls fail")
	assert.Positive(t, states["Success"], "most tasks succeed")

}

// metricValues sums each metric's data points by their attribute set
// (encoded "k=v,k=v"; histograms give their counts).
func metricValues(t *testing.T, reader *sdkmetric.ManualReader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[string]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					vals[p.Attributes.Encoded(attribute.DefaultEncoder())] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					vals[p.Attributes.Encoded(attribute.DefaultEncoder())] += int64(p.Count)
				}
			}
			out[m.Name] = vals
		}
	}
	return out
}

// TestMetricsMatchTruth checks the library's metrics against the crew's
// truth: what the end-to-end test checks through the collector and
// Prometheus, here in-process.
func TestMetricsMatchTruth(t *testing.T) {
	truths, _, reader := runRecorded(t, testConfig(5))
	started, ended := map[string]int64{}, map[string]int64{}
	recorded, rejected := map[string]int64{}, map[string]int64{}
	var agents int64
	var refusedAgents int
	for _, st := range truths {
		started["crewtrace.session.name="+st.Name]++
		ended["crewtrace.session.end_state="+st.EndState+",crewtrace.session.name="+st.Name]++
		agents += int64(len(st.Agents))
		for _, ev := range st.Events {
			recorded["crewtrace.event.kind="+ev.Kind]++
		}
		for _, r := range st.Refused {
			switch r.Call {
			case CallRecordEvent:
				rejected["error.type="+r.Reason]++
			case CallStartAgent:
				assert.Equal(t, ReasonInvalidAgentID, r.Reason)
				refusedAgents++
			}
		}
	}
	require.Positive(t, refusedAgents, "the crew tries malformed agent IDs")
	require.Equal(t, map[string]int64{"error.type=" + semconv.EventRejectSessionEnded: 20}, rejected,
		"every other task records an event after its end")

	m := metricValues(t, reader)
	assert.Equal(t, started, m[semconv.MetricSessionsStarted], "sessions started, by name")
	assert.Equal(t, ended, m[semconv.MetricSessionsEnded], "sessions ended, by end state and name")
	assert.Equal(t, ended, m[semconv.MetricSessionDuration], "durations recorded, by end state and name")
	for k, v := range m[semconv.MetricSessionsActive] {
		assert.Zero(t, v, "active sessions of %s after the run", k)
	}
	assert.Equal(t, map[string]int64{"": agents}, m[semconv.MetricAgentsCreated], "agents created: refused ones are not")
	assert.Equal(t, recorded, m[semconv.MetricEventsRecorded], "events recorded, by kind")
	assert.Equal(t, rejected, m[semconv.MetricEventsRejected], "events rejected, by reason")
}

// withoutIDs blanks what may differ between runs with the same seed.
func withoutIDs(truths []SessionTruth) []SessionTruth {
	out := make([]SessionTruth, len(truths))
	for i, st := range truths {
		st = canonical(st)
		st.SessionID, st.TraceID = "", ""
		ids := map[string]string{}
		for j := range st.Agents {
			ids[st.Agents[j].ID] = st.Agents[j].Name
			st.Agents[j].ID = ""
		}
		for j := range st.Events {
			st.Events[j].AgentID = ids[st.Events[j].AgentID]
		}
		slices.SortFunc(st.Agents, func(a, b AgentTruth) int { return cmp.Compare(a.Name, b.Name) })
		slices.SortFunc(st.Events, func(a, b EventTruth) int {
			return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Kind, b.Kind))
		})
		out[i] = st
	}
	return out
}

func TestDeterministicForSeed(t *testing.T) {
	a, _, _ := runRecorded(t, testConfig(11))
	cfg := testConfig(11)
	cfg.Concurrency = 3 // scheduling must not matter
	b, _, _ := runRecorded(t, cfg)
	assert.Equal(t, withoutIDs(a), withoutIDs(b))
	c, _, _ := runRecorded(t, testConfig(12))
	assert.NotEqual(t, withoutIDs(a), withoutIDs(c), "another seed, another crew")
}

func TestCommand(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SDK_DISABLED"} {
		t.Setenv(k, "")
	}
	path := filepath.Join(t.TempDir(), "truth.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-tasks", "12", "-concurrency", "5", "-seed", "3", "-fail-rate", "0.5", "-latency", "0", "-truth", path}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), "traces -> none")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var truths []SessionTruth
	require.NoError(t, json.Unmarshal(data, &truths))
	require.Len(t, truths, 12)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 12, "one line per session")
	for _, st := range truths {
		var line string
		for _, l := range lines {
			if strings.Contains(l, st.SessionID) {
				line = l
			}
		}
		require.NotEmpty(t, line, "a line for session %s", st.SessionID)
		assert.Contains(t, line, st.Name)
		assert.Contains(t, line, st.EndState)
		assert.Len(t, st.TraceID, 32)
		assert.NotEqual(t, strings.Repeat("0", 32), st.TraceID, "a recording provider: real trace IDs")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-concurrency", "0"}, {"-fail-rate", "2"}, {"-nope"}} {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), args, &stdout, &stderr), "%v", args)
		assert.Empty(t, stdout.String())
	}
}
