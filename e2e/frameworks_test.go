package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/store"
)

// The framework tests run Node programs instrumented with other ecosystems'
// real packages (e2e/frameworks/node, installed by `npm ci` from its
// committed lockfile) against a fake OpenAI-compatible server on 127.0.0.1,
// exporting OTLP to the real collector, and compare each session record with
// what the program says it did (its truth, printed as its last line).

// frameworkTruth is what a framework program prints: one entry per trace it
// wrote.
type frameworkTruth struct {
	Traces []traceTruth `json:"traces"`
}

// traceTruth is what one trace of a framework program should become.
type traceTruth struct {
	TraceID   string           `json:"trace_id"`
	SessionID string           `json:"session_id"`
	Name      string           `json:"name"`
	Source    string           `json:"source"`
	Agents    []string         `json:"agents"`
	LLMCalls  int              `json:"llm_calls"`
	ToolCalls int              `json:"tool_calls"`
	Tools     []string         `json:"tools"`
	Models    []string         `json:"models"`
	Tokens    map[string]int64 `json:"tokens"` // input and output always; cache_read, reasoning where the instrumentation reports them
	Errors    int              `json:"errors"`
	EndState  string           `json:"end_state"`
	EndReason string           `json:"end_reason"`
}

// nodeDir holds the framework programs and their package.json and lockfile.
func nodeDir(t *testing.T, root string) string {
	dir := filepath.Join(root, "e2e", "frameworks", "node")
	_, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	require.NoError(t, err, "the framework packages are not installed: run `npm ci` in %s (.ci/run and make e2e-build do)", dir)
	return dir
}

// TestFrameworks runs one program per convention through one stack.
func TestFrameworks(t *testing.T) {
	ctx, env := newEnv(t)
	dir := nodeDir(t, env.root)
	llm := newFakeOpenAI(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{
			harness.EnvGracePeriod + "=1s",
			harness.EnvSessionTimeout + "=30s",
		},
	})

	for _, tc := range []struct {
		program string
		check   func(t *testing.T, truth frameworkTruth, recs map[string]harness.Record)
	}{
		// (a) openai + @arizeai/openinference-instrumentation-openai, session via openinference-core.
		{"openinference.mjs", nil},
		// (b) @traceloop/node-server-sdk: a workflow, two agents, tools, a session association property.
		{"traceloop.mjs", nil},
		// (c) ai (Vercel AI SDK): a turn with a tool call, a failing turn; one session ID in metadata.
		{"vercel-ai.mjs", func(t *testing.T, truth frameworkTruth, recs map[string]harness.Record) {
			require.Len(t, truth.Traces, 2, "a turn that works and one that fails")
		}},
		// (d) @langfuse/tracing observations (agent, generation, tool), exported by the OTel SDK's OTLP exporter.
		{"langfuse.mjs", nil},
		// (e) a three-turn chat: three traces, one session ID.
		{"conversation.mjs", func(t *testing.T, truth frameworkTruth, recs map[string]harness.Record) {
			require.Len(t, truth.Traces, 3)
			ids := map[string]bool{}
			for _, tr := range truth.Traces {
				ids[recs[tr.TraceID].SessionID] = true
			}
			assert.Len(t, ids, 1, "three records, one session_id")
			checkConversationInStore(t, ctx, filepath.Join(stack.SessionsDir, "sessions.db"), truth, recs)
		}},
		// A client that speaks only the OTel GenAI conventions: three sessions.
		{"genai.mjs", func(t *testing.T, truth frameworkTruth, recs map[string]harness.Record) {
			require.Len(t, truth.Traces, 3)
		}},
	} {
		t.Run(strings.TrimSuffix(tc.program, ".mjs"), func(t *testing.T) {
			session := fmt.Sprintf("%s-%d", strings.TrimSuffix(tc.program, ".mjs"), time.Now().UnixNano())
			truth := runNode(t, ctx, env, stack, llm, dir, tc.program, session)
			recs := waitForTraceRecords(t, ctx, stack.SessionsPath(), truth)
			for _, tr := range truth.Traces {
				checkFrameworkRecord(t, tr, recs[tr.TraceID])
			}
			if tc.check != nil {
				tc.check(t, truth, recs)
			}
		})
	}
}

// runNode runs a framework program and returns its truth.
func runNode(t *testing.T, ctx context.Context, env testEnv, stack *harness.Stack, llm *fakeOpenAI, dir, program, session string) frameworkTruth {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is needed to run the framework programs")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, program))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CREWTRACE_OTLP_HTTP="+stack.Addrs.OTLPHTTP,
		"OPENAI_BASE_URL="+llm.URL+"/v1",
		"CREWTRACE_TEST_SESSION_ID="+session,
		// Nothing leaves 127.0.0.1: Traceloop's own backend is the fake
		// server too, and its registry sync is off.
		"TRACELOOP_BASE_URL="+llm.URL,
		"TRACELOOP_SYNC_ENABLED=false",
		"TRACELOOP_TELEMETRY=false",
		"OTEL_SDK_DISABLED=false",
	)
	out, err := cmd.Output()
	logPath := filepath.Join(env.logDir, program+".log")
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	_ = os.WriteFile(logPath, append(out, stderr...), 0o644)
	require.NoError(t, err, "%s failed:\n%s%s", program, out, stderr)
	var truth frameworkTruth
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := false
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "TRUTH "); ok {
			require.NoError(t, json.Unmarshal([]byte(line), &truth), "%s truth", program)
			found = true
		}
	}
	require.True(t, found, "%s printed no truth:\n%s", program, out)
	require.NotEmpty(t, truth.Traces, "%s truth", program)
	for _, tr := range truth.Traces {
		require.Len(t, tr.TraceID, 32, "%s truth: trace ID", program)
	}
	return truth
}

// checkConversationInStore checks that the embedded store the default
// configuration writes holds the conversation's traces as one session: its
// traces in order of start, each the record the JSONL file has for it, totals
// over the three, first start, last end, the last trace's end state.
func checkConversationInStore(t *testing.T, ctx context.Context, path string, truth frameworkTruth, recs map[string]harness.Record) {
	t.Helper()
	sessionID := recs[truth.Traces[0].TraceID].SessionID
	st, err := store.Open(ctx, "sqlite:"+path, store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	var s *store.Session
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The store sink has its own queue: it may land after the file sink.
	require.NoError(t, harness.Poll(pctx, "the conversation's three traces in the store", func(ctx context.Context) (bool, string, error) {
		got, err := st.Session(ctx, sessionID)
		if errors.Is(err, store.ErrNotFound) {
			return false, "not yet", nil
		} else if err != nil {
			return false, "", err
		}
		s = got
		return len(got.Traces) == len(truth.Traces), fmt.Sprintf("%d traces", len(got.Traces)), nil
	}))
	assert.Equal(t, len(truth.Traces), s.Summary.Traces, "trace_count")
	ordered := make([]harness.Record, 0, len(truth.Traces))
	for _, tr := range truth.Traces {
		ordered = append(ordered, recs[tr.TraceID])
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].StartTime.Before(ordered[j].StartTime) })
	var llm, tools, input, output int64
	end := ordered[0].EndTime
	for i, r := range ordered {
		assert.Equal(t, r.TraceID, s.Traces[i].Record.TraceID, "trace %d in order of start", i)
		assert.Equal(t, r.Revision, s.Traces[i].Revision, "trace %d: the revision the file has last", i)
		llm += int64(r.Counts.LLMCalls)
		tools += int64(r.Counts.ToolCalls)
		input += r.Tokens.Input
		output += r.Tokens.Output
		if r.EndTime.After(end) {
			end = r.EndTime
		}
	}
	assert.Equal(t, llm, s.LLMCalls, "llm_calls over the traces")
	assert.Equal(t, tools, s.ToolCalls, "tool_calls over the traces")
	assert.Equal(t, input, s.Tokens.Input, "input tokens over the traces")
	assert.Equal(t, output, s.Tokens.Output, "output tokens over the traces")
	// The store keeps times in microseconds.
	assert.True(t, s.Start.Equal(ordered[0].StartTime.Truncate(time.Microsecond)), "start: the first trace's (%v, want %v)", s.Start, ordered[0].StartTime)
	assert.True(t, s.End.Equal(end.Truncate(time.Microsecond)), "end: the latest end (%v, want %v)", s.End, end)
	assert.Equal(t, ordered[len(ordered)-1].EndState, s.EndState, "end state: the last trace's")
}

// waitForTraceRecords waits for a record of every trace of truth, and
// returns the latest record of each trace, by trace ID.
func waitForTraceRecords(t *testing.T, ctx context.Context, path string, truth frameworkTruth) map[string]harness.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	byTrace := map[string]harness.Record{}
	err := harness.Poll(ctx, "a record for each trace", func(context.Context) (bool, string, error) {
		recs, err := harness.ReadRecords(path)
		if err != nil {
			return false, "", err
		}
		for _, r := range recs {
			if have, ok := byTrace[r.TraceID]; !ok || r.Revision >= have.Revision {
				byTrace[r.TraceID] = r
			}
		}
		have := 0
		for _, tr := range truth.Traces {
			if _, ok := byTrace[tr.TraceID]; ok {
				have++
			}
		}
		return have == len(truth.Traces), fmt.Sprintf("%d of %d traces have a record", have, len(truth.Traces)), nil
	})
	require.NoError(t, err)
	return byTrace
}

func checkFrameworkRecord(t *testing.T, tr traceTruth, r harness.Record) {
	t.Helper()
	at := "trace " + tr.TraceID
	assert.Equal(t, 2, r.SchemaVersion, "%s: schema_version", at)
	assert.Equal(t, tr.SessionID, r.SessionID, "%s: session_id", at)
	assert.Equal(t, tr.Source, r.Source, "%s: source", at)
	assert.Equal(t, tr.Name, r.Name, "%s: name", at)
	assert.True(t, r.Complete, "%s: complete", at)
	assert.Equal(t, "grace_period", r.FlushReason, "%s: flush_reason", at)
	assert.Equal(t, tr.EndState, r.EndState, "%s: end_state", at)
	assert.Equal(t, tr.EndReason, r.EndReason, "%s: end_reason", at)
	var agents []string
	for _, a := range r.Agents {
		agents = append(agents, a.Name)
	}
	assert.ElementsMatch(t, tr.Agents, agents, "%s: agents", at)
	assert.Equal(t, len(tr.Agents), r.Counts.Agents, "%s: counts.agents", at)
	assert.Equal(t, tr.LLMCalls, r.Counts.LLMCalls, "%s: counts.llm_calls", at)
	assert.Equal(t, tr.ToolCalls, r.Counts.ToolCalls, "%s: counts.tool_calls", at)
	assert.Equal(t, tr.Errors, r.Counts.Errors, "%s: counts.errors", at)
	var tools []string
	for _, tl := range r.Tools {
		for range tl.Calls {
			tools = append(tools, tl.Name)
		}
	}
	assert.ElementsMatch(t, tr.Tools, tools, "%s: tools (one per call)", at)
	var models []string
	for _, m := range r.Models {
		models = append(models, m.Model)
	}
	sort.Strings(models)
	want := append([]string(nil), tr.Models...)
	sort.Strings(want)
	assert.Equal(t, want, models, "%s: models", at)
	require.Contains(t, tr.Tokens, "input", "%s: truth tokens", at)
	require.Contains(t, tr.Tokens, "output", "%s: truth tokens", at)
	got := map[string]int64{"input": r.Tokens.Input, "output": r.Tokens.Output, "cache_read": r.Tokens.CacheRead,
		"cache_write": r.Tokens.CacheWrite, "reasoning": r.Tokens.Reasoning}
	for k, v := range tr.Tokens {
		assert.Equal(t, v, got[k], "%s: tokens.%s", at, k)
	}
	assert.Equal(t, r.Tokens.Input+r.Tokens.Output, r.Tokens.Total, "%s: tokens.total", at)
}

// fakeOpenAI is an OpenAI-compatible chat completions server on 127.0.0.1:
// deterministic answers, usage derived from the request (so programs report
// what they were told), a tool call when tools are offered and no tool
// result came back yet, and an error for the model "fail-model".
type fakeOpenAI struct {
	*httptest.Server
	calls atomic.Int64
}

// Usage the fake server reports for a request of n messages.
func fakeUsage(n int) map[string]any {
	cached := 0
	if n > 1 {
		cached = 16
	}
	return map[string]any{
		"prompt_tokens": 20 + 10*n, "completion_tokens": 8 + n, "total_tokens": 28 + 11*n,
		"prompt_tokens_details":     map[string]any{"cached_tokens": cached},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 2},
	}
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Model == "fail-model" || req.Stream {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"message": "The model `" + req.Model + "` does not exist", "type": "invalid_request_error", "code": "model_not_found",
			}})
			return
		}
		n := len(req.Messages)
		msg := map[string]any{"role": "assistant", "content": fmt.Sprintf("answer to %d messages", n)}
		finish := "stop"
		if len(req.Tools) > 0 && (n == 0 || req.Messages[n-1].Role != "tool") {
			msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"id": fmt.Sprintf("call_%d", f.calls.Load()), "type": "function",
				"function": map[string]any{"name": req.Tools[0].Function.Name, "arguments": `{"city":"Paris"}`},
			}}}
			finish = "tool_calls"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-%d", f.calls.Load()), "object": "chat.completion", "created": time.Now().Unix(),
			"model":   req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   fakeUsage(n),
		})
	})
	// Anything else (a library calling home) is answered 404 and counted
	// nowhere: nothing leaves this machine.
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}
