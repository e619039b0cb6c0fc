package otelanthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/crewtrace/crewtrace/internal/llmhttp"
)

// isMessages reports whether req creates a message (POST .../v1/messages,
// beta included; not count_tokens or batches). The path is matched on its
// end so that a base URL with a prefix still matches.
func isMessages(req *http.Request) bool {
	if req.Method != http.MethodPost || req.URL == nil {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/messages")
}

// request is what the middleware reads from a request body.
type request struct {
	llmhttp.RequestMeta
	System   json.RawMessage `json:"system"`
	Messages json.RawMessage `json:"messages"`
}

// prompt is the request's content as JSON: the messages, preceded by the
// system prompt when there is one.
func (r *request) prompt() string {
	if len(r.System) == 0 {
		return string(r.Messages)
	}
	return `{"system":` + string(r.System) + `,"messages":` + string(r.Messages) + `}`
}

// usage is a Messages API usage object. Every count is a pointer because a
// message_delta event carries only the counts that changed.
type usage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// apiErrorBody is the "error" object of an error response or error event.
type apiErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
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
	Usage *usage        `json:"usage"`
	Error *apiErrorBody `json:"error"`
}

// result accumulates what a call's response says.
type result struct {
	capture    bool // gather the completion content
	id, model  string
	stopReason string
	// token counts as the API reports them
	input, output, cacheCreation, cacheRead int
	content                                 strings.Builder
	apiErr                                  *APIError
	terminal                                bool // message_stop or an error event was seen
}

func (r *result) addUsage(u *usage) {
	if u == nil {
		return
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.input, u.InputTokens)
	set(&r.output, u.OutputTokens)
	set(&r.cacheCreation, u.CacheCreationInputTokens)
	set(&r.cacheRead, u.CacheReadInputTokens)
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
	r.addUsage(m.Usage)
}

// AddEvent records one event of a stream (llmhttp.Result).
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
		r.addUsage(ev.Usage)
	case "message_stop":
		r.terminal = true
	case "error":
		r.apiErr = &APIError{}
		if ev.Error != nil {
			r.apiErr.Type, r.apiErr.Message = ev.Error.Type, ev.Error.Message
		}
		r.terminal = true
	}
}
