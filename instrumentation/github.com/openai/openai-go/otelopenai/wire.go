package otelopenai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/crewtrace/crewtrace/internal/llmhttp"
	"github.com/crewtrace/crewtrace/semconv"
)

// operation is an instrumented endpoint of the OpenAI API.
type operation int

const (
	opNone      operation = iota
	opChat                // POST chat/completions
	opResponses           // POST responses
	opEmbedding           // POST embeddings
)

// operationOf returns the instrumented operation a request calls, or opNone.
// The path is matched on its end so that a base URL with a prefix (an
// OpenAI-compatible server under /v1, a proxy path) still matches.
func operationOf(req *http.Request) operation {
	if req.Method != http.MethodPost || req.URL == nil {
		return opNone
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return opChat
	case strings.HasSuffix(p, "/responses"):
		return opResponses
	case strings.HasSuffix(p, "/embeddings"):
		return opEmbedding
	}
	return opNone
}

// name is the gen_ai.operation.name of op.
func (op operation) name() string {
	if op == opEmbedding {
		return semconv.OperationEmbeddings
	}
	return semconv.OperationChat
}

// request is what the middleware reads from a request body.
type request struct {
	llmhttp.RequestMeta
	// Messages (chat) or Input (responses, embeddings) is the prompt content.
	Messages json.RawMessage `json:"messages"`
	Input    json.RawMessage `json:"input"`
}

// prompt is the request's content as JSON, or "" when it has none.
func (r *request) prompt() string {
	if len(r.Messages) > 0 {
		return string(r.Messages)
	}
	return string(r.Input)
}

// usage covers both token-count spellings: chat completions and embeddings
// (prompt_tokens, completion_tokens) and the responses API (input_tokens,
// output_tokens).
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	InputTokens      int `json:"input_tokens"`
	OutputTokens     int `json:"output_tokens"`
}

func (u *usage) input() int  { return u.PromptTokens + u.InputTokens }
func (u *usage) output() int { return u.CompletionTokens + u.OutputTokens }

// apiErrorBody is the "error" object of an error response or stream event.
type apiErrorBody struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

func (e *apiErrorBody) toError(status int) *APIError {
	code := string(bytes.Trim(e.Code, `"`))
	if code == "null" {
		code = ""
	}
	return &APIError{StatusCode: status, Type: e.Type, Code: code, Message: e.Message}
}

// choice is one choice of a chat completion or a chunk of one.
type choice struct {
	Index        int    `json:"index"`
	FinishReason string `json:"finish_reason"`
	Message      struct {
		Content string `json:"content"`
	} `json:"message"`
	Delta struct {
		Content string `json:"content"`
	} `json:"delta"`
}

// responseObject is a chat completion, a chat completion chunk, a
// create-embeddings response or a responses-API response.
type responseObject struct {
	ID      string        `json:"id"`
	Model   string        `json:"model"`
	Choices []choice      `json:"choices"`
	Usage   *usage        `json:"usage"`
	Error   *apiErrorBody `json:"error"`
	// Responses API.
	Status            string `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Output []struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"output"`
}

// streamEvent is one data payload of a streamed response: a chat completion
// chunk (the responseObject fields), or a responses-API event.
type streamEvent struct {
	responseObject
	Type     string          `json:"type"`
	Response *responseObject `json:"response"`
	Delta    string          `json:"delta"`
	Message  string          `json:"message"`
	Code     json.RawMessage `json:"code"`
}

// maxChoices bounds the finish reasons kept per call, so that a hostile
// stream cannot grow the span without limit.
const maxChoices = 128

// result accumulates what a call's response says: from one JSON body or from
// the events of a stream.
type result struct {
	op       operation
	capture  bool
	id       string
	model    string
	usage    usage
	reasons  []string // finish reason by choice index
	content  strings.Builder
	apiErr   *APIError
	terminal bool // the stream's end marker was seen
}

// addObject records a whole response object (a JSON body, a chunk, or the
// response carried by a responses-API event).
func (r *result) addObject(o *responseObject, stream bool) {
	if o.ID != "" {
		r.id = o.ID
	}
	if o.Model != "" {
		r.model = o.Model
	}
	if o.Usage != nil {
		r.usage = *o.Usage
	}
	for i := range o.Choices {
		c := &o.Choices[i]
		if c.FinishReason != "" && c.Index >= 0 && c.Index < maxChoices {
			for len(r.reasons) <= c.Index {
				r.reasons = append(r.reasons, "")
			}
			r.reasons[c.Index] = c.FinishReason
		}
		if r.capture {
			if stream {
				r.content.WriteString(c.Delta.Content)
			} else {
				r.content.WriteString(c.Message.Content)
			}
		}
	}
	if r.op == opResponses && o.Status != "" && o.Status != "in_progress" && o.Status != "queued" {
		reason := o.Status
		if o.IncompleteDetails != nil && o.IncompleteDetails.Reason != "" {
			reason = o.IncompleteDetails.Reason
		}
		r.reasons = append(r.reasons[:0], reason)
		if r.capture && !stream {
			for _, out := range o.Output {
				for _, c := range out.Content {
					r.content.WriteString(c.Text)
				}
			}
		}
	}
	if o.Error != nil && (o.Error.Message != "" || o.Error.Type != "" || len(o.Error.Code) > 0) {
		r.apiErr = o.Error.toError(0)
	}
}

// AddEvent records one event of a stream (llmhttp.Result).
func (r *result) AddEvent(data []byte) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		r.terminal = true
		return
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return // not ours to judge: the SDK reports malformed events
	}
	switch {
	case r.op != opResponses:
		r.addObject(&ev.responseObject, true)
		if r.apiErr != nil {
			r.terminal = true
		}
	case ev.Type == "error":
		code := string(bytes.Trim(ev.Code, `"`))
		r.apiErr = &APIError{Type: "error", Code: code, Message: ev.Message}
		r.terminal = true
	case ev.Type == "response.output_text.delta":
		if r.capture {
			r.content.WriteString(ev.Delta)
		}
	case ev.Response != nil:
		r.addObject(ev.Response, true)
		switch ev.Type {
		case "response.completed", "response.incomplete", "response.failed":
			r.terminal = true
		}
	}
}

// finishReasons returns the finish reasons seen, in choice order.
func (r *result) finishReasons() []string {
	out := r.reasons[:0:0]
	for _, s := range r.reasons {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// statusText renders an HTTP status for an error without a message.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}
