package otelopenai_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Models the fake server treats specially.
const (
	modelMissing     = "missing"     // 404 with an OpenAI error body
	modelFlaky       = "flaky"       // 503 on the first attempt, then OK
	modelCut         = "cut"         // stream cut after two chunks
	modelStreamError = "streamerror" // an error object inside the stream
	modelPaused      = "paused"      // stream pauses after two chunks until release is closed
	modelCached      = "cached"      // usage with cached, reasoning tokens and a gateway's cost
)

// usageOf is the usage object the fake server sends for a model: chat
// completions spelling, or the responses API's.
func usageOf(model string, responsesAPI bool) string {
	switch {
	case model == modelCached && responsesAPI:
		return `{"input_tokens":1200,"output_tokens":300,"total_tokens":1500,"input_tokens_details":{"cached_tokens":1024},"output_tokens_details":{"reasoning_tokens":256}}`
	case model == modelCached:
		return `{"prompt_tokens":2048,"completion_tokens":600,"total_tokens":2648,` +
			`"prompt_tokens_details":{"cached_tokens":1536,"audio_tokens":0},` +
			`"completion_tokens_details":{"reasoning_tokens":512,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"cost":0.0042}`
	case responsesAPI:
		return `{"input_tokens":12,"output_tokens":3,"total_tokens":15,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}`
	}
	return ""
}

// fakeOpenAI is an httptest server speaking the OpenAI wire format:
// chat completions (JSON and SSE), embeddings and the responses API (JSON and
// SSE), with error responses and cut streams chosen by the request's model.
type fakeOpenAI struct {
	*httptest.Server
	attempts atomic.Int32
	release  chan struct{} // closed to let a paused stream go on
}

func newFakeOpenAI(tb testing.TB) *fakeOpenAI {
	f := startFakeOpenAI()
	tb.Cleanup(f.Close)
	return f
}

// startFakeOpenAI starts a fake server; Close it when done.
func startFakeOpenAI() *fakeOpenAI {
	f := &fakeOpenAI{release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

type fakeRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch req.Model {
	case modelMissing:
		writeJSON(w, http.StatusNotFound, `{"error":{"message":"The model `+"`missing`"+` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}`)
		return
	case modelFlaky:
		if f.attempts.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "1")
			writeJSON(w, http.StatusServiceUnavailable, `{"error":{"message":"try again","type":"server_error","code":null}}`)
			return
		}
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions") && req.Stream:
		f.chatStream(w, r, req)
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"%s-2026-01-01",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello world","refusal":null},"logprobs":null,"finish_reason":"stop"},`+
			`{"index":1,"message":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":"length"}],`+
			`"usage":%s}`, req.Model, cmp.Or(usageOf(req.Model, false), `{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}`)))
	case strings.HasSuffix(r.URL.Path, "/embeddings"):
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,0.3]}],`+
			`"model":"%s","usage":{"prompt_tokens":5,"total_tokens":5}}`, req.Model))
	case strings.HasSuffix(r.URL.Path, "/responses") && req.Stream:
		responsesStream(w, req)
	case strings.HasSuffix(r.URL.Path, "/responses"):
		writeJSON(w, http.StatusOK, responseObject(req.Model, "completed"))
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func chunk(model, delta, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return fmt.Sprintf(`{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1767225600,"model":"%s-2026-01-01",`+
		`"choices":[{"index":0,"delta":{"content":%q},"logprobs":null,"finish_reason":%s}]}`, model, delta, fr)
}

func (f *fakeOpenAI) chatStream(w http.ResponseWriter, r *http.Request, req fakeRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(data string) {
		_, _ = io.WriteString(w, "data: "+data+"\n\n")
		if flusher != nil {
			flusher.Flush()
		}
	}
	send(chunk(req.Model, "Hel", ""))
	send(chunk(req.Model, "lo", ""))
	switch req.Model {
	case modelCut:
		panic(http.ErrAbortHandler) // the connection drops mid-stream
	case modelStreamError:
		send(`{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`)
		return
	case modelPaused:
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
	}
	send(chunk(req.Model, "", "stop"))
	if req.StreamOptions.IncludeUsage {
		send(fmt.Sprintf(`{"id":"chatcmpl-2","object":"chat.completion.chunk","created":1767225600,"model":"%s-2026-01-01","choices":[],`+
			`"usage":%s}`, req.Model, cmp.Or(usageOf(req.Model, false), `{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}`)))
	}
	send("[DONE]")
}

func responseObject(model, status string) string {
	return fmt.Sprintf(`{"id":"resp_1","object":"response","created_at":1767225600,"status":%q,"model":"%s-2026-01-01",`+
		`"output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello world","annotations":[]}]}],`+
		`"usage":%s}`, status, model, usageOf(model, true))
}

func responsesStream(w http.ResponseWriter, req fakeRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(event, data string) {
		_, _ = io.WriteString(w, "event: "+event+"\ndata: "+data+"\n\n")
	}
	send("response.created", fmt.Sprintf(`{"type":"response.created","sequence_number":0,"response":{"id":"resp_2","object":"response","status":"in_progress","model":"%s-2026-01-01","output":[]}}`, req.Model))
	send("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}`)
	send("response.completed", `{"type":"response.completed","sequence_number":2,"response":`+strings.Replace(responseObject(req.Model, "completed"), "resp_1", "resp_2", 1)+`}`)
}
