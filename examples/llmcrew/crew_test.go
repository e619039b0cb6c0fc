package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crewtrace/crewtrace/instrumentation/github.com/openai/openai-go/otelopenai"
	"github.com/crewtrace/crewtrace/otelsession"
)

func runCrew(t *testing.T, cfg Config) ([]Result, []sdktrace.ReadOnlySpan) {
	t.Helper()
	fake := NewFakeEndpoint()
	t.Cleanup(fake.Close)
	client := openai.NewClient(option.WithBaseURL(fake.URL), option.WithAPIKey("k"), option.WithMiddleware(otelopenai.Middleware()))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	results := Run(context.Background(), cfg, client, []otelsession.Option{otelsession.WithTracerProvider(tp)}, nil)
	return results, rec.Ended()
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// The spans of each session add up to what the crew saw: the middleware
// recorded every LLM call, with the tokens of the responses, under the agent
// that made it.
func TestSpansMatchResults(t *testing.T) {
	results, spans := runCrew(t, Config{Tasks: 4, Concurrency: 2, Model: "gpt-test"})
	require.Len(t, results, 4)

	type tally struct{ sessions, agents, llm, tools, in, out int }
	bySession := make(map[string]*tally)
	agentIDs := make(map[string]bool)
	for _, s := range spans {
		if attr(s, "crewtrace.span.kind").AsString() == "agent" {
			agentIDs[s.SpanContext().SpanID().String()] = true
		}
	}
	for _, s := range spans {
		id := attr(s, "session.id").AsString()
		if bySession[id] == nil {
			bySession[id] = &tally{}
		}
		n := bySession[id]
		switch attr(s, "crewtrace.span.kind").AsString() {
		case "session":
			n.sessions++
		case "agent":
			n.agents++
		case "llm":
			n.llm++
			n.in += int(attr(s, "gen_ai.usage.input_tokens").AsInt64())
			n.out += int(attr(s, "gen_ai.usage.output_tokens").AsInt64())
			assert.Equal(t, "chat gpt-test", s.Name())
			assert.Equal(t, "gpt-test-fake", attr(s, "gen_ai.response.model").AsString())
			assert.True(t, agentIDs[s.Parent().SpanID().String()], "LLM span under an agent")
		case "tool":
			n.tools++
			assert.Equal(t, "execute_tool word_count", s.Name())
			assert.Equal(t, "call_1", attr(s, "gen_ai.tool.call.id").AsString())
		}
	}
	require.Len(t, bySession, 4)
	for _, r := range results {
		assert.Equal(t, otelsession.Success, r.EndState, r.EndReason)
		assert.Equal(t, 3, r.LLMCalls)
		assert.Equal(t, 1, r.ToolCalls)
		assert.Positive(t, r.InputTokens)
		assert.Positive(t, r.OutputTokens)
		got := bySession[r.SessionID]
		require.NotNil(t, got, r.SessionID)
		assert.Equal(t, tally{sessions: 1, agents: 2, llm: r.LLMCalls, tools: r.ToolCalls, in: r.InputTokens, out: r.OutputTokens}, *got)
	}
}

// An endpoint error fails the session, and the LLM span says why.
func TestRateLimitedFails(t *testing.T) {
	results, spans := runCrew(t, Config{Tasks: 1, Concurrency: 1, Model: ModelRateLimited})
	require.Len(t, results, 1)
	assert.Equal(t, otelsession.Fail, results[0].EndState)
	assert.Contains(t, results[0].EndReason, "429")
	var llm []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if attr(s, "crewtrace.span.kind").AsString() == "llm" {
			llm = append(llm, s)
		}
	}
	require.Len(t, llm, 1)
	assert.Equal(t, codes.Error, llm[0].Status().Code)
	assert.Equal(t, "openai: 429 Too Many Requests: Rate limit reached", llm[0].Status().Description)
}

func offlineEnv(string) string { return "" }

func TestCommandOffline(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-tasks", "2"}, offlineEnv, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), "offline")
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		assert.Contains(t, l, "Success")
		assert.Contains(t, l, "llm=3 tools=1")
	}
}

// With OPENAI_BASE_URL the crew talks to that endpoint.
func TestCommandUsesOpenAIBaseURL(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		assert.Equal(t, "Bearer secret", r.Header.Get("Authorization"))
		serveFake(w, r)
	}))
	t.Cleanup(srv.Close)
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "secret"}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-tasks", "1", "-model", "local-model"}, func(k string) string { return env[k] }, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.NotContains(t, stderr.String(), "offline")
	assert.Equal(t, int32(3), requests.Load())
}

func TestBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), []string{"-concurrency", "0"}, offlineEnv, &stdout, &stderr))
	assert.Equal(t, 2, run(context.Background(), []string{"-nope"}, offlineEnv, &stdout, &stderr))
}
