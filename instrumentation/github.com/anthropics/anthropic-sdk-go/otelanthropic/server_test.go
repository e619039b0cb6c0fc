package otelanthropic_test

import (
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
	modelMissing     = "missing"     // 404 with an Anthropic error body
	modelOverloaded  = "overloaded"  // 529 on the first attempt, then OK
	modelCut         = "cut"         // stream cut after the first text delta
	modelStreamError = "streamerror" // an error event inside the stream
	modelPaused      = "paused"      // stream pauses after the first text delta until release is closed
	modelCached      = "cached"      // usage with prompt-cache writes and reads
)

// fakeAnthropic is an httptest server speaking the Anthropic Messages wire
// format (JSON and SSE), with error responses and cut streams chosen by the
// request's model.
type fakeAnthropic struct {
	*httptest.Server
	attempts atomic.Int32
	release  chan struct{}
}

func newFakeAnthropic(tb testing.TB) *fakeAnthropic {
	f := startFakeAnthropic()
	tb.Cleanup(f.Close)
	return f
}

// startFakeAnthropic starts a fake server; Close it when done.
func startFakeAnthropic() *fakeAnthropic {
	f := &fakeAnthropic{release: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

type fakeRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
}

func (f *fakeAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/messages") {
		writeJSON(w, http.StatusNotFound, `{"type":"error","error":{"type":"not_found_error","message":"Not found"}}`)
		return
	}
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch req.Model {
	case modelMissing:
		writeJSON(w, http.StatusNotFound, `{"type":"error","error":{"type":"not_found_error","message":"model: missing"},"request_id":"req_1"}`)
		return
	case modelOverloaded:
		if f.attempts.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "1")
			writeJSON(w, 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
			return
		}
	}
	if req.Stream {
		f.stream(w, r, req)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":"msg_1","type":"message","role":"assistant","model":"%s-20260101",`+
		`"content":[{"type":"text","text":"Hello world"}],"stop_reason":"end_turn","stop_sequence":null,%s}`, req.Model, usageJSON(req.Model, 7)))
}

func usageJSON(model string, output int) string {
	if model == modelCached {
		return fmt.Sprintf(`"usage":{"input_tokens":3,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,`+
			`"cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"output_tokens":%d}`, output)
	}
	return fmt.Sprintf(`"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":%d}`, output)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeAnthropic) stream(w http.ResponseWriter, r *http.Request, req fakeRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	send := func(event, data string) {
		_, _ = io.WriteString(w, "event: "+event+"\ndata: "+data+"\n\n")
		if flusher != nil {
			flusher.Flush()
		}
	}
	send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"%s-20260101",`+
		`"content":[],"stop_reason":null,"stop_sequence":null,%s}}`, req.Model, usageJSON(req.Model, 1)))
	send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	send("ping", `{"type": "ping"}`)
	send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`)
	switch req.Model {
	case modelCut:
		panic(http.ErrAbortHandler) // the connection drops mid-stream
	case modelStreamError:
		send("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		return
	case modelPaused:
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
	}
	send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`)
	send("content_block_stop", `{"type":"content_block_stop","index":0}`)
	send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":15}}`)
	send("message_stop", `{"type":"message_stop"}`)
}
