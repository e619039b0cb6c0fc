package viewer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"time"
)

// A span's full attributes (finish reasons, captured content, anything the
// record's compact span list leaves out) are in the trace backend. With
// --jaeger, the session page asks the viewer for them when a span is
// clicked and the viewer asks Jaeger's query API: the browser talks to the
// viewer only (the CSP allows nothing else), and the waterfall itself never
// depends on Jaeger.

// ErrNoJaeger is returned (HTTP 404) for span attributes when the viewer has
// no Jaeger URL.
var ErrNoJaeger = errors.New("no Jaeger configured (--jaeger)")

// errJaeger wraps Jaeger's failures (HTTP 502).
var errJaeger = errors.New("jaeger")

var hexID = regexp.MustCompile(`^[0-9a-f]{1,32}$`)

// SpanAttributesJSON is the answer of /api/traces/{trace}/spans/{span}.
type SpanAttributesJSON struct {
	// Attributes are the span's tags, sorted by key, values as Jaeger gives them.
	Attributes []KeyValueJSON `json:"attributes"`
	// Events are the span's events (Jaeger logs) in time order.
	Events []SpanEventJSON `json:"events"`
}

// KeyValueJSON is one attribute.
type KeyValueJSON struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// SpanEventJSON is one span event with its attributes.
type SpanEventJSON struct {
	Time       time.Time      `json:"time"`
	Attributes []KeyValueJSON `json:"attributes"`
}

type jaegerTraceResp struct {
	Data []struct {
		Spans []struct {
			SpanID string         `json:"spanID"`
			Tags   []KeyValueJSON `json:"tags"`
			Logs   []struct {
				Timestamp int64          `json:"timestamp"`
				Fields    []KeyValueJSON `json:"fields"`
			} `json:"logs"`
		} `json:"spans"`
	} `json:"data"`
}

var jaegerClient = &http.Client{Timeout: 5 * time.Second}

func (v *Viewer) apiSpanAttributes(w http.ResponseWriter, r *http.Request) {
	traceID, spanID := r.PathValue("trace"), r.PathValue("span")
	if !hexID.MatchString(traceID) || !hexID.MatchString(spanID) {
		writeError(w, fmt.Errorf("%w: trace and span IDs are lowercase hex", ErrBadQuery))
		return
	}
	if v.cfg.JaegerURL == "" {
		writeError(w, ErrNoJaeger)
		return
	}
	attrs, err := v.fetchSpan(r.Context(), traceID, spanID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, attrs)
}

func (v *Viewer) fetchSpan(ctx context.Context, traceID, spanID string) (*SpanAttributesJSON, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JaegerURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errJaeger, err)
	}
	res, err := jaegerClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w unreachable: %v", errJaeger, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: trace %s not found in Jaeger (expired, or never exported there)", ErrNotInJaeger, traceID)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s for trace %s", errJaeger, res.Status, traceID)
	}
	var t jaegerTraceResp
	// Bounded: a trace of many spans is large, but not this large.
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: reading trace %s: %v", errJaeger, traceID, err)
	}
	for _, tr := range t.Data {
		for _, sp := range tr.Spans {
			if sp.SpanID != spanID {
				continue
			}
			out := &SpanAttributesJSON{Attributes: sp.Tags, Events: []SpanEventJSON{}}
			if out.Attributes == nil {
				out.Attributes = []KeyValueJSON{}
			}
			sort.SliceStable(out.Attributes, func(i, j int) bool { return out.Attributes[i].Key < out.Attributes[j].Key })
			for _, l := range sp.Logs {
				f := l.Fields
				if f == nil {
					f = []KeyValueJSON{}
				}
				out.Events = append(out.Events, SpanEventJSON{Time: time.UnixMicro(l.Timestamp).UTC(), Attributes: f})
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: span %s not in Jaeger's trace %s", ErrNotInJaeger, spanID, traceID)
}

// ErrNotInJaeger is returned (HTTP 404) when Jaeger holds no such trace or span.
var ErrNotInJaeger = errors.New("not in Jaeger")
