package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// ModelRateLimited makes the fake endpoint answer 429, for a crew that fails.
const ModelRateLimited = "rate-limited"

// NewFakeEndpoint starts an in-process OpenAI-compatible endpoint on the
// loopback interface, for running the crew offline. It speaks the chat
// completions wire format: JSON and server-sent-event streams (with the
// usage chunk when stream_options.include_usage is set), a call of the
// word_count tool when the request offers it and has no tool result yet,
// and a 429 error for the model ModelRateLimited. Token counts are the
// number of words in, and out. Close it when done.
func NewFakeEndpoint() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(serveFake)) // listens on 127.0.0.1
}

type fakeMessage struct {
	Role       string `json:"role"`
	Content    any    `json:"content"`
	ToolCallID string `json:"tool_call_id"`
}

type fakeRequest struct {
	Model         string            `json:"model"`
	Stream        bool              `json:"stream"`
	Messages      []fakeMessage     `json:"messages"`
	Tools         []json.RawMessage `json:"tools"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func serveFake(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Model == ModelRateLimited {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Should-Retry", "false")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
		return
	}
	var words int
	last := ""
	hasToolResult := false
	for _, m := range req.Messages {
		text := fmt.Sprint(m.Content)
		words += len(strings.Fields(text))
		last = text
		hasToolResult = hasToolResult || m.Role == "tool"
	}
	id := fmt.Sprintf("chatcmpl-fake-%d", words)
	model := req.Model + "-fake"

	if len(req.Tools) > 0 && !hasToolResult {
		args, _ := json.Marshal(map[string]string{"text": last})
		writeFakeJSON(w, fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":1767225600,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",`+
			`"function":{"name":"word_count","arguments":%q}}]},"finish_reason":"tool_calls"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, id, model, string(args), words, 8, words+8))
		return
	}
	answer := "Offline answer about " + strings.TrimSuffix(last, ".") + "."
	if hasToolResult {
		answer = "The draft has " + last + " words; it is ready."
	}
	out := len(strings.Fields(answer))
	if !req.Stream {
		writeFakeJSON(w, fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":1767225600,"model":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, id, model, answer, words, out, words+out))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(data string) {
		_, _ = io.WriteString(w, "data: "+data+"\n\n")
		if flusher != nil {
			flusher.Flush()
		}
	}
	for _, word := range strings.SplitAfter(answer, " ") {
		send(fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1767225600,"model":%q,"choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, id, model, word))
	}
	send(fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1767225600,"model":%q,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, id, model))
	if req.StreamOptions.IncludeUsage {
		send(fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1767225600,"model":%q,"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, id, model, words, out, words+out))
	}
	send("[DONE]")
}

func writeFakeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}
