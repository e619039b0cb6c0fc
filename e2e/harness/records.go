package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Record is a session record as the session exporter writes it (one JSON
// object per line), with the fields the harness checks. It is decoded with a
// type of its own so that tests check the documented wire format.
type Record struct {
	SchemaVersion int            `json:"schema_version"`
	SessionID     string         `json:"session_id"`
	Revision      int            `json:"revision"`
	TraceID       string         `json:"trace_id"`
	Source        string         `json:"source"`
	Name          string         `json:"name"`
	Tags          []string       `json:"tags"`
	StartTime     time.Time      `json:"start_time"`
	EndTime       time.Time      `json:"end_time"`
	DurationMs    float64        `json:"duration_ms"`
	EndState      string         `json:"end_state"`
	EndReason     string         `json:"end_reason"`
	Complete      bool           `json:"complete"`
	FlushReason   string         `json:"flush_reason"`
	EmittedAt     time.Time      `json:"emitted_at"`
	Resource      map[string]any `json:"resource"`
	SpanCount     int            `json:"span_count"`
	Counts        RecordCounts   `json:"counts"`
	Tokens        RecordTokens   `json:"tokens"`
	Cost          *RecordCost    `json:"cost"`
	Agents        []RecordAgent  `json:"agents"`
	Models        []RecordModel  `json:"models"`
	Tools         []RecordTool   `json:"tools"`
	Events        []RecordEvent  `json:"events"`
	TraceURL      string         `json:"trace_url"`
}

// RecordCounts counts a session's spans and events by kind.
type RecordCounts struct {
	Agents    int `json:"agents"`
	LLMCalls  int `json:"llm_calls"`
	ToolCalls int `json:"tool_calls"`
	Events    int `json:"events"`
	Actions   int `json:"actions"`
	Errors    int `json:"errors"`
}

// RecordTokens totals token usage.
type RecordTokens struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	Total      int64 `json:"total"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
	Reasoning  int64 `json:"reasoning"`
}

// RecordCost is the cost of a record's, an agent's or a model's LLM calls.
type RecordCost struct {
	USD            float64  `json:"usd"`
	Currency       string   `json:"currency"`
	PriceTable     string   `json:"price_table"`
	PricedCalls    int      `json:"priced_calls"`
	ReportedCalls  int      `json:"reported_calls"`
	ReportedUSD    float64  `json:"reported_usd"`
	UnpricedCalls  int      `json:"unpriced_calls"`
	UnpricedModels []string `json:"unpriced_models"`
}

// RecordModel is one model of a session record.
type RecordModel struct {
	Provider string       `json:"provider"`
	Model    string       `json:"model"`
	LLMCalls int          `json:"llm_calls"`
	Tokens   RecordTokens `json:"tokens"`
	Cost     *RecordCost  `json:"cost"`
}

// RecordTool is one tool of a session record.
type RecordTool struct {
	Name   string `json:"name"`
	Calls  int    `json:"calls"`
	Errors int    `json:"errors"`
}

// RecordAgent is one agent of a session record.
type RecordAgent struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	SpanCount int          `json:"span_count"`
	LLMCalls  int          `json:"llm_calls"`
	ToolCalls int          `json:"tool_calls"`
	Tokens    RecordTokens `json:"tokens"`
	Cost      *RecordCost  `json:"cost"`
	Errors    int          `json:"errors"`
}

// RecordEvent is one event of a session record.
type RecordEvent struct {
	Kind      string    `json:"kind"`
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	AgentID   string    `json:"agent_id"`
	AgentName string    `json:"agent_name"`
	ErrorType string    `json:"error_type"`
	Message   string    `json:"message"`
}

// ReadRecords reads every record in the JSONL files at path: one file, or
// every *.jsonl file (and rotated *.jsonl.N) under a directory. A missing path is no records yet.
// A line that is not a record is an error (with file and line).
func ReadRecords(path string) ([]Record, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("harness: records: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.Contains(filepath.Base(p), ".jsonl") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("harness: records: %w", err)
		}
		sort.Strings(files)
	}
	var out []Record
	for _, f := range files {
		recs, err := readRecordFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func readRecordFile(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("harness: records: %w", err)
	}
	// Only newline-terminated lines are complete: a writer may be in the
	// middle of the last one.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	} else {
		b = nil
	}
	var out []Record
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("harness: %s:%d: not a session record: %w", path, n+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Latest keeps, per session ID, the record with the highest revision.
func Latest(records []Record) map[string]Record {
	out := make(map[string]Record, len(records))
	for _, r := range records {
		if have, ok := out[r.SessionID]; !ok || r.Revision >= have.Revision {
			out[r.SessionID] = r
		}
	}
	return out
}
