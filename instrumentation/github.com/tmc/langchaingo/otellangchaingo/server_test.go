package otellangchaingo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Models the fake server treats specially.
const (
	modelMissing = "missing" // 404 with a provider error body
	modelCut     = "cut"     // stream cut after the first chunk
	modelCached  = "cached"  // usage with cached and reasoning tokens
)

// The MRKL agent's two turns: pick the calculator, then answer.
const (
	agentAction = "Thought: I need to add.\nAction: calculator\nAction Input: 2+2"
	agentFinish = "Thought: I know it.\nFinal Answer: 4"
)

// newFakeServer is an httptest server speaking two wire formats: OpenAI chat
// completions (JSON and SSE streaming, which langchaingo's openai LLM uses)
// and Anthropic Messages (JSON, for langchaingo's anthropic LLM).
func newFakeServer(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(serve))
	tb.Cleanup(srv.Close)
	return srv
}

// startFakeServer starts a fake server; Close it when done.
func startFakeServer() *httptest.Server { return httptest.NewServer(http.HandlerFunc(serve)) }

type fakeRequest struct {
	Model    string            `json:"model"`
	Stream   bool              `json:"stream"`
	Messages []json.RawMessage `json:"messages"`
}

func serve(w http.ResponseWriter, r *http.Request) {
	var req fakeRequest
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	anthropic := strings.HasSuffix(r.URL.Path, "/messages")
	if req.Model == modelMissing {
		if anthropic {
			writeJSON(w, http.StatusNotFound, `{"type":"error","error":{"type":"not_found_error","message":"model: missing"}}`)
		} else {
			writeJSON(w, http.StatusNotFound, `{"error":{"message":"The model does not exist","type":"invalid_request_error","code":"model_not_found"}}`)
		}
		return
	}
	if anthropic {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":"msg_1","type":"message","role":"assistant","model":%q,`+
			`"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,`+
			`"usage":{"input_tokens":20,"cache_creation_input_tokens":4,"cache_read_input_tokens":6,"output_tokens":3}}`, req.Model))
		return
	}
	// The agent's prompt carries an observation once the tool has run.
	answer := "Hello world"
	if strings.Contains(string(body), "Action Input") {
		answer = agentAction
		if strings.Contains(string(body), "Observation: 4") {
			answer = agentFinish
		}
	}
	usage, streamUsage := `{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}`, `{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}`
	if req.Model == modelCached {
		usage = `{"prompt_tokens":2048,"completion_tokens":600,"total_tokens":2648,"prompt_tokens_details":{"cached_tokens":1536},"completion_tokens_details":{"reasoning_tokens":512}}`
		streamUsage = usage
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"%s-2026",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
			`"usage":%s}`, req.Model, answer, usage))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(data string) {
		_, _ = io.WriteString(w, "data: "+data+"\n\n")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	chunk := func(delta, finish string) string {
		fr := "null"
		if finish != "" {
			fr = `"` + finish + `"`
		}
		return fmt.Sprintf(`{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1767225600,"model":"%s-2026",`+
			`"choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`, req.Model, delta, fr)
	}
	half := len(answer) / 2
	send(chunk(answer[:half], ""))
	if req.Model == modelCut {
		panic(http.ErrAbortHandler) // the connection drops mid-stream
	}
	send(chunk(answer[half:], ""))
	send(chunk("", "stop"))
	send(fmt.Sprintf(`{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1767225600,"model":"%s-2026","choices":[],`+
		`"usage":%s}`, req.Model, streamUsage))
	send("[DONE]")
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
