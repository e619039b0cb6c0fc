package harness

import (
	"encoding/json"
	"fmt"
	"os"
)

// Truth is what the example crew says one session did (`crew -truth FILE`
// writes a JSON array of them): the reference the session records and the
// Jaeger traces are checked against.
type Truth struct {
	SessionID    string         `json:"session_id"`
	TraceID      string         `json:"trace_id"`
	Name         string         `json:"name"`
	Tags         []string       `json:"tags"`
	EndState     string         `json:"end_state"`
	EndReason    string         `json:"end_reason"`
	Agents       []TruthAgent   `json:"agents"`
	Events       []TruthEvent   `json:"events"`
	EventCount   int            `json:"event_count"`
	LLMCalls     int            `json:"llm_calls"`
	ToolCalls    int            `json:"tool_calls"`
	InputTokens  int64          `json:"input_tokens"`
	OutputTokens int64          `json:"output_tokens"`
	ErrorCount   int            `json:"error_count"` // errors as the session record counts them: error events + failed spans with no error event of their own
	SpanCount    int            `json:"span_count"`  // session + agents + LLM + tool spans
	Refused      []TruthRefusal `json:"refused"`     // calls the library refused, in order
	Models       []TruthModel   `json:"models"`      // LLM calls per provider and model, in order of first call
}

// TruthModel is the LLM calls of one provider and model in a session (a
// failed call counts, with no tokens).
type TruthModel struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	LLMCalls     int    `json:"llm_calls"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// Calls a TruthRefusal names (the crew's -truth).
const (
	RefusedStartAgent  = "start_agent"  // StartAgent, e.g. a malformed agent ID
	RefusedRecordEvent = "record_event" // an event, counted on crewtrace.events.rejected
)

// TruthRefusal is one call the library refused: for RefusedRecordEvent,
// Reason is the error.type crewtrace.events.rejected counts it under.
type TruthRefusal struct {
	Call   string `json:"call"`
	Reason string `json:"reason"`
}

// TruthAgent is one agent of a Truth.
type TruthAgent struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	LLMCalls     int    `json:"llm_calls"`
	ToolCalls    int    `json:"tool_calls"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	Errors       int    `json:"errors"`      // the agent's errors, counted as the session record counts them
	ErrorSpans   int    `json:"error_spans"` // spans with status Error: the agent's and its calls'
}

// TruthEvent is one recorded event; AgentID is empty for session-level events.
type TruthEvent struct {
	Type    string `json:"type"`
	Kind    string `json:"kind"`
	AgentID string `json:"agent_id"`
}

// ReadTruth reads the crew's -truth file.
func ReadTruth(path string) ([]Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("harness: truth: %w", err)
	}
	var out []Truth
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("harness: truth %s: %w", path, err)
	}
	return out, nil
}
