package otelopenai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// api is the OpenAI API as llmhttp needs to know it: the endpoints recorded,
// and the shapes of their requests and responses.
type api struct{}

// endpoint is an instrumented endpoint of the OpenAI API.
type endpoint int

const (
	none       endpoint = iota
	chat                // POST chat/completions
	responses           // POST responses
	embeddings          // POST embeddings
)

// endpointOf returns the instrumented endpoint a request calls, or none. The
// path is matched on its end so that a base URL with a prefix (an
// OpenAI-compatible server under /v1, a proxy path) still matches.
func endpointOf(req *http.Request) endpoint {
	if req.Method != http.MethodPost || req.URL == nil {
		return none
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return chat
	case strings.HasSuffix(p, "/responses"):
		return responses
	case strings.HasSuffix(p, "/embeddings"):
		return embeddings
	}
	return none
}

// Operation implements llmhttp.API.
func (api) Operation(req *http.Request) string {
	switch endpointOf(req) {
	case chat, responses:
		return semconv.OperationChat
	case embeddings:
		return semconv.OperationEmbeddings
	}
	return ""
}

// Prompt implements llmhttp.API: the request's messages (chat) or input
// (responses, embeddings) as JSON.
func (api) Prompt(body []byte) string {
	var r struct {
		Messages json.RawMessage `json:"messages"`
		Input    json.RawMessage `json:"input"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	if len(r.Messages) > 0 {
		return string(r.Messages)
	}
	return string(r.Input)
}

// NewResponse implements llmhttp.API.
func (api) NewResponse(req *http.Request, capture bool) llmhttp.Response {
	return &result{responses: endpointOf(req) == responses, capture: capture}
}

// usage covers both token-count spellings: chat completions and embeddings
// (prompt_tokens, completion_tokens and their _details) and the responses
// API (input_tokens, output_tokens and their _details). OpenAI counts the
// cached tokens in the prompt / input tokens and the reasoning tokens in the
// completion / output tokens, as the GenAI convention does. Cost is the
// usage.cost that OpenAI-compatible gateways add (OpenRouter's usage
// accounting), in USD; OpenAI itself sends none.
type usage struct {
	PromptTokens        int          `json:"prompt_tokens"`
	CompletionTokens    int          `json:"completion_tokens"`
	PromptDetails       inputDetail  `json:"prompt_tokens_details"`
	CompletionDetails   outputDetail `json:"completion_tokens_details"`
	InputTokens         int          `json:"input_tokens"`
	OutputTokens        int          `json:"output_tokens"`
	InputTokensDetails  inputDetail  `json:"input_tokens_details"`
	OutputTokensDetails outputDetail `json:"output_tokens_details"`
	Cost                float64      `json:"cost"`
}

type inputDetail struct {
	CachedTokens int `json:"cached_tokens"`
}

type outputDetail struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// setTokens records the counts of u in resp: the one place where a usage
// object becomes token counts.
func (u *usage) setTokens(resp *otelsession.LLMResponse) {
	resp.InputTokens = u.PromptTokens + u.InputTokens
	resp.OutputTokens = u.CompletionTokens + u.OutputTokens
	resp.CacheReadInputTokens = u.PromptDetails.CachedTokens + u.InputTokensDetails.CachedTokens
	resp.ReasoningOutputTokens = u.CompletionDetails.ReasoningTokens + u.OutputTokensDetails.ReasoningTokens
	resp.CostUSD = u.Cost
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
	ID      string             `json:"id"`
	Model   string             `json:"model"`
	Choices []choice           `json:"choices"`
	Usage   *usage             `json:"usage"`
	Error   *llmhttp.ErrorBody `json:"error"`
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
// the events of a stream. It is the call's llmhttp.Response.
type result struct {
	responses bool // a responses-API call
	capture   bool // gather the completion content
	id        string
	model     string
	usage     usage
	reasons   []string // finish reason by choice index
	content   strings.Builder
	apiErr    *llmhttp.APIError
	terminal  bool // the stream's end marker was seen
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
	if r.responses && o.Status != "" && o.Status != "in_progress" && o.Status != "queued" {
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
		r.apiErr = o.Error.Err(DefaultProviderName, 0)
	}
}

// AddBody implements llmhttp.Response.
func (r *result) AddBody(body []byte) {
	var o responseObject
	if json.Unmarshal(body, &o) == nil {
		r.addObject(&o, false)
	}
}

// AddEvent implements llmhttp.Response.
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
	case !r.responses:
		r.addObject(&ev.responseObject, true)
		if r.apiErr != nil {
			r.terminal = true
		}
	case ev.Type == "error":
		r.apiErr = (&llmhttp.ErrorBody{Type: "error", Message: ev.Message, Code: ev.Code}).Err(DefaultProviderName, 0)
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

// Terminal implements llmhttp.Response.
func (r *result) Terminal() bool { return r.terminal }

// Outcome implements llmhttp.Response.
func (r *result) Outcome() (otelsession.LLMResponse, *llmhttp.APIError) {
	resp := otelsession.LLMResponse{
		ResponseModel: r.model,
		ResponseID:    r.id,
		FinishReasons: r.finishReasons(),
		Completion:    r.content.String(),
	}
	r.usage.setTokens(&resp)
	return resp, r.apiErr
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
