package otelanthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/crewtrace/crewtrace/instrumentation/llmhttp"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/semconv"
)

// api is the Anthropic Messages API as llmhttp needs to know it: the
// endpoint recorded, and the shapes of its requests and responses.
type api struct{}

// Operation implements llmhttp.API: chat for a request that creates a
// message (POST .../v1/messages, beta included; not count_tokens or
// batches). The path is matched on its end so that a base URL with a prefix
// still matches.
func (api) Operation(req *http.Request) string {
	if req.Method == http.MethodPost && req.URL != nil && strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/messages") {
		return semconv.OperationChat
	}
	return ""
}

// Prompt implements llmhttp.API: the request's messages as JSON, preceded by
// the system prompt when there is one.
func (api) Prompt(body []byte) string {
	var r struct {
		System   json.RawMessage `json:"system"`
		Messages json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	if len(r.System) == 0 {
		return string(r.Messages)
	}
	return `{"system":` + string(r.System) + `,"messages":` + string(r.Messages) + `}`
}

// NewResponse implements llmhttp.API.
func (api) NewResponse(_ *http.Request, capture bool) llmhttp.Response {
	return &result{capture: capture}
}

// usage is a Messages API usage object. Every count is a pointer because a
// message_delta event carries only the counts that changed.
type usage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	// CacheCreation splits cache_creation_input_tokens by cache lifetime,
	// which Anthropic prices apart.
	CacheCreation *struct {
		Ephemeral1h *int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

// tokens are the token counts of a message as the API reports them, each
// the last value seen.
type tokens struct {
	input, output, cacheCreation, cacheRead, cacheCreation1h int
}

// add takes the counts u carries.
func (t *tokens) add(u *usage) {
	if u == nil {
		return
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&t.input, u.InputTokens)
	set(&t.output, u.OutputTokens)
	set(&t.cacheCreation, u.CacheCreationInputTokens)
	set(&t.cacheRead, u.CacheReadInputTokens)
	if u.CacheCreation != nil {
		set(&t.cacheCreation1h, u.CacheCreation.Ephemeral1h)
	}
}

// setTokens records t in resp: the one place where the API's counts become
// token counts. Input tokens include the prompt-cache writes and reads,
// which the API counts apart from input_tokens: gen_ai.usage.input_tokens
// is all the input the model read, and the cache counts say which part of it
// was read from and written to the cache (one-hour writes apart).
func (t *tokens) setTokens(resp *otelsession.LLMResponse) {
	resp.InputTokens = t.input + t.cacheCreation + t.cacheRead
	resp.OutputTokens = t.output
	resp.CacheReadInputTokens = t.cacheRead
	resp.CacheCreationInputTokens = t.cacheCreation
	resp.CacheCreation1hInputTokens = min(t.cacheCreation1h, t.cacheCreation)
}

// message is a Message (a whole response, or the one a message_start event carries).
type message struct {
	ID         string `json:"id"`
	Model      string `json:"model"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	Usage *usage `json:"usage"`
}

// streamEvent is the data of one event of a streamed message.
type streamEvent struct {
	Type    string   `json:"type"`
	Message *message `json:"message"`
	Delta   struct {
		Type       string `json:"type"`
		Text       string `json:"text"`
		StopReason string `json:"stop_reason"`
	} `json:"delta"`
	Usage *usage             `json:"usage"`
	Error *llmhttp.ErrorBody `json:"error"`
}

// result accumulates what a call's response says. It is the call's
// llmhttp.Response.
type result struct {
	capture    bool // gather the completion content
	id, model  string
	stopReason string
	tokens     tokens
	content    strings.Builder
	apiErr     *llmhttp.APIError
	terminal   bool // message_stop or an error event was seen
}

func (r *result) addMessage(m *message) {
	r.id, r.model = m.ID, m.Model
	if m.StopReason != "" {
		r.stopReason = m.StopReason
	}
	if r.capture {
		for _, c := range m.Content {
			r.content.WriteString(c.Text)
		}
	}
	r.tokens.add(m.Usage)
}

// AddBody implements llmhttp.Response.
func (r *result) AddBody(body []byte) {
	var m message
	if json.Unmarshal(body, &m) == nil {
		r.addMessage(&m)
	}
}

// AddEvent implements llmhttp.Response.
func (r *result) AddEvent(data []byte) {
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return // not ours to judge: the SDK reports malformed events
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			r.addMessage(ev.Message)
		}
	case "content_block_delta":
		if r.capture {
			r.content.WriteString(ev.Delta.Text)
		}
	case "message_delta":
		if ev.Delta.StopReason != "" {
			r.stopReason = ev.Delta.StopReason
		}
		r.tokens.add(ev.Usage)
	case "message_stop":
		r.terminal = true
	case "error":
		if ev.Error == nil {
			ev.Error = &llmhttp.ErrorBody{}
		}
		r.apiErr = ev.Error.Err(DefaultProviderName, 0)
		r.terminal = true
	}
}

// Terminal implements llmhttp.Response.
func (r *result) Terminal() bool { return r.terminal }

// Outcome implements llmhttp.Response.
func (r *result) Outcome() (otelsession.LLMResponse, *llmhttp.APIError) {
	resp := otelsession.LLMResponse{
		ResponseModel: r.model,
		ResponseID:    r.id,
		Completion:    r.content.String(),
	}
	if r.stopReason != "" {
		resp.FinishReasons = []string{r.stopReason}
	}
	r.tokens.setTokens(&resp)
	return resp, r.apiErr
}
