package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrTraceNotFound is returned by JaegerClient.Trace when Jaeger has no such trace (yet).
var ErrTraceNotFound = errors.New("harness: trace not found in Jaeger")

// JaegerClient reads Jaeger's HTTP query API (the one the Jaeger UI uses).
type JaegerClient struct {
	// BaseURL is the query service's base, e.g. http://127.0.0.1:16686.
	BaseURL string
	// HTTP is the client used; nil means a client with a 5 s timeout.
	HTTP *http.Client
}

// JaegerTrace is a trace as /api/traces/<id> returns it.
type JaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []JaegerSpan             `json:"spans"`
	Processes map[string]JaegerProcess `json:"processes"`
}

// JaegerSpan is one span of a JaegerTrace.
type JaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	OperationName string            `json:"operationName"`
	References    []JaegerReference `json:"references"`
	StartTime     int64             `json:"startTime"`
	Duration      int64             `json:"duration"`
	Tags          []JaegerKeyValue  `json:"tags"`
	Logs          []JaegerLog       `json:"logs"`
	ProcessID     string            `json:"processID"`
}

// JaegerReference links a span to another (CHILD_OF for the parent).
type JaegerReference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// JaegerKeyValue is a tag or a log field.
type JaegerKeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// JaegerLog is a span event as Jaeger shows it.
type JaegerLog struct {
	Timestamp int64            `json:"timestamp"`
	Fields    []JaegerKeyValue `json:"fields"`
}

// JaegerProcess is the resource a span came from.
type JaegerProcess struct {
	ServiceName string           `json:"serviceName"`
	Tags        []JaegerKeyValue `json:"tags"`
}

// ParentID returns the span's CHILD_OF parent span ID, or "" for a root.
func (s JaegerSpan) ParentID() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Tag returns the value of the span tag key.
func (s JaegerSpan) Tag(key string) (any, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// TagString returns the tag key formatted as a string ("" when absent).
func (s JaegerSpan) TagString(key string) string {
	v, ok := s.Tag(key)
	if !ok {
		return ""
	}
	if str, ok := v.(string); ok {
		return str
	}
	return fmt.Sprint(v)
}

// Field returns the value of the log field key.
func (l JaegerLog) Field(key string) (any, bool) {
	for _, kv := range l.Fields {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

type jaegerResponse[T any] struct {
	Data   T `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

func (c *JaegerClient) get(ctx context.Context, path string, into any) (int, error) {
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("harness: jaeger %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("harness: jaeger %s: %w", path, err)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return resp.StatusCode, fmt.Errorf("harness: jaeger %s: %s: %w", path, resp.Status, err)
	}
	return resp.StatusCode, nil
}

// Trace fetches one trace by its hex ID; ErrTraceNotFound when Jaeger has none.
func (c *JaegerClient) Trace(ctx context.Context, traceID string) (JaegerTrace, error) {
	var r jaegerResponse[[]JaegerTrace]
	status, err := c.get(ctx, "/api/traces/"+traceID, &r)
	if status == http.StatusNotFound {
		return JaegerTrace{}, fmt.Errorf("%w: %s", ErrTraceNotFound, traceID)
	}
	if err != nil {
		return JaegerTrace{}, err
	}
	if status != http.StatusOK || len(r.Errors) > 0 {
		return JaegerTrace{}, fmt.Errorf("harness: jaeger trace %s: status %d, errors %v", traceID, status, r.Errors)
	}
	if len(r.Data) != 1 {
		return JaegerTrace{}, fmt.Errorf("harness: jaeger trace %s: %d traces in the answer", traceID, len(r.Data))
	}
	return r.Data[0], nil
}

// Services lists the service names Jaeger has spans from.
func (c *JaegerClient) Services(ctx context.Context) ([]string, error) {
	var r jaegerResponse[[]string]
	status, err := c.get(ctx, "/api/services", &r)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("harness: jaeger services: status %d", status)
	}
	return r.Data, nil
}
