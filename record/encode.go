package record

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encoder renders records into a reused buffer without reflection. Its
// output is byte for byte what encoding/json produces for a Record (tested),
// so json.Unmarshal and any JSON reader accept it. The zero value is ready to
// use; an Encoder is not safe for concurrent use.
type Encoder struct {
	buf []byte
}

// Encode renders r as one line of JSON (no trailing newline). The bytes are
// valid until the next call.
func (e *Encoder) Encode(r *Record) ([]byte, error) {
	b := e.buf[:0]
	var err error
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, int64(r.SchemaVersion), 10)
	b = appendKey(b, "session_id")
	b = appendString(b, r.SessionID)
	b = appendKey(b, "revision")
	b = strconv.AppendInt(b, int64(r.Revision), 10)
	b = appendKey(b, "trace_id")
	b = appendString(b, r.TraceID)
	b = appendKey(b, "source")
	b = appendString(b, r.Source)
	b = appendKey(b, "name")
	b = appendString(b, r.Name)
	b = appendKey(b, "tags")
	b = appendStrings(b, r.Tags)
	b = appendKey(b, "start_time")
	if b, err = appendTime(b, r.StartTime); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "end_time")
	if b, err = appendTime(b, r.EndTime); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "duration_ms")
	if b, err = appendFloat(b, r.DurationMs); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "end_state")
	b = appendString(b, r.EndState)
	b = appendKey(b, "end_reason")
	b = appendString(b, r.EndReason)
	b = appendKey(b, "complete")
	b = strconv.AppendBool(b, r.Complete)
	b = appendKey(b, "flush_reason")
	b = appendString(b, r.FlushReason)
	b = appendKey(b, "emitted_at")
	if b, err = appendTime(b, r.EmittedAt); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "resource")
	if b, err = e.appendMap(b, r.Resource); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "span_count")
	b = strconv.AppendInt(b, int64(r.SpanCount), 10)
	b = appendKey(b, "counts")
	b = appendCounts(b, &r.Counts)
	b = appendKey(b, "tokens")
	b = appendTokens(b, &r.Tokens)
	if r.Cost != nil {
		b = appendKey(b, "cost")
		if b, err = appendCost(b, r.Cost); err != nil {
			return nil, e.fail(r, err)
		}
	}
	b = appendKey(b, "agents")
	if b, err = appendAgents(b, r.Agents); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "models")
	if b, err = appendModels(b, r.Models); err != nil {
		return nil, e.fail(r, err)
	}
	b = appendKey(b, "tools")
	b = appendTools(b, r.Tools)
	b = appendKey(b, "events")
	if b, err = e.appendEvents(b, r.Events); err != nil {
		return nil, e.fail(r, err)
	}
	if r.EventsRefused != 0 {
		b = appendKey(b, "events_refused")
		b = strconv.AppendInt(b, r.EventsRefused, 10)
	}
	if len(r.Spans) > 0 {
		b = appendKey(b, "spans")
		b = appendSpans(b, r.Spans)
	}
	if r.TraceURL != "" {
		b = appendKey(b, "trace_url")
		b = appendString(b, r.TraceURL)
	}
	if t := r.Truncated; t != nil {
		b = appendKey(b, "truncated")
		b = append(b, `{"values":`...)
		b = strconv.AppendInt(b, int64(t.Values), 10)
		b = appendKey(b, "events")
		b = strconv.AppendInt(b, int64(t.Events), 10)
		if t.Spans != 0 {
			b = appendKey(b, "spans")
			b = strconv.AppendInt(b, int64(t.Spans), 10)
		}
		b = append(b, '}')
	}
	if r.Fragment != "" {
		b = appendKey(b, "fragment")
		b = appendString(b, r.Fragment)
	}
	b = append(b, '}')
	e.buf = b
	return b, nil
}

func (e *Encoder) fail(r *Record, err error) error {
	return fmt.Errorf("encode session record %s: %w", r.SessionID, err)
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendCounts(b []byte, c *Counts) []byte {
	b = append(b, `{"agents":`...)
	b = strconv.AppendInt(b, int64(c.Agents), 10)
	b = appendKey(b, "llm_calls")
	b = strconv.AppendInt(b, int64(c.LLMCalls), 10)
	b = appendKey(b, "tool_calls")
	b = strconv.AppendInt(b, int64(c.ToolCalls), 10)
	b = appendKey(b, "events")
	b = strconv.AppendInt(b, int64(c.Events), 10)
	b = appendKey(b, "actions")
	b = strconv.AppendInt(b, int64(c.Actions), 10)
	b = appendKey(b, "errors")
	b = strconv.AppendInt(b, int64(c.Errors), 10)
	return append(b, '}')
}

func appendTokens(b []byte, t *Tokens) []byte {
	b = append(b, `{"input":`...)
	b = strconv.AppendInt(b, t.Input, 10)
	b = appendKey(b, "output")
	b = strconv.AppendInt(b, t.Output, 10)
	b = appendKey(b, "total")
	b = strconv.AppendInt(b, t.Total, 10)
	b = appendKey(b, "cache_read")
	b = strconv.AppendInt(b, t.CacheRead, 10)
	b = appendKey(b, "cache_write")
	b = strconv.AppendInt(b, t.CacheWrite, 10)
	b = appendKey(b, "reasoning")
	b = strconv.AppendInt(b, t.Reasoning, 10)
	if t.CacheWrite1h != 0 {
		b = appendKey(b, "cache_write_1h")
		b = strconv.AppendInt(b, t.CacheWrite1h, 10)
	}
	return append(b, '}')
}

func appendCost(b []byte, c *Cost) ([]byte, error) {
	var err error
	b = append(b, `{"usd":`...)
	if b, err = appendFloat(b, c.USD); err != nil {
		return nil, err
	}
	b = appendOptString(b, "currency", c.Currency)
	b = appendOptString(b, "price_table", c.PriceTable)
	b = appendKey(b, "priced_calls")
	b = strconv.AppendInt(b, int64(c.PricedCalls), 10)
	b = appendKey(b, "reported_calls")
	b = strconv.AppendInt(b, int64(c.ReportedCalls), 10)
	b = appendKey(b, "reported_usd")
	if b, err = appendFloat(b, c.ReportedUSD); err != nil {
		return nil, err
	}
	b = appendKey(b, "unpriced_calls")
	b = strconv.AppendInt(b, int64(c.UnpricedCalls), 10)
	if len(c.UnpricedModels) > 0 {
		b = appendKey(b, "unpriced_models")
		b = appendStrings(b, c.UnpricedModels)
	}
	return append(b, '}'), nil
}

func appendModels(b []byte, ms []Model) ([]byte, error) {
	if ms == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	for i := range ms {
		m := &ms[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"provider":`...)
		b = appendString(b, m.Provider)
		b = appendKey(b, "model")
		b = appendString(b, m.Model)
		b = appendKey(b, "llm_calls")
		b = strconv.AppendInt(b, int64(m.LLMCalls), 10)
		b = appendKey(b, "tokens")
		b = appendTokens(b, &m.Tokens)
		if m.Cost != nil {
			b = appendKey(b, "cost")
			if b, err = appendCost(b, m.Cost); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendTools(b []byte, ts []Tool) []byte {
	if ts == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, t.Name)
		b = appendKey(b, "calls")
		b = strconv.AppendInt(b, int64(t.Calls), 10)
		b = appendKey(b, "errors")
		b = strconv.AppendInt(b, int64(t.Errors), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendSpans(b []byte, ss []Span) []byte {
	b = append(b, '[')
	for i := range ss {
		s := &ss[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, s.ID)
		b = appendOptString(b, "parent_id", s.ParentID)
		b = appendKey(b, "kind")
		b = appendString(b, s.Kind)
		b = appendKey(b, "name")
		b = appendString(b, s.Name)
		b = appendKey(b, "start_us")
		b = strconv.AppendInt(b, s.StartUs, 10)
		b = appendKey(b, "duration_us")
		b = strconv.AppendInt(b, s.DurationUs, 10)
		if s.Error {
			b = append(b, `,"error":true`...)
		}
		b = appendOptString(b, "message", s.Message)
		b = appendKey(b, "agent")
		b = strconv.AppendInt(b, int64(s.Agent), 10)
		b = appendOptString(b, "model", s.Model)
		if s.Tokens != nil {
			b = appendKey(b, "tokens")
			b = appendTokens(b, s.Tokens)
		}
		b = appendOptString(b, "tool", s.Tool)
		if len(s.Events) > 0 {
			b = appendKey(b, "events")
			b = append(b, '[')
			for j, e := range s.Events {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(e), 10)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendAgents(b []byte, as []Agent) ([]byte, error) {
	if as == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	for i := range as {
		a := &as[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, a.ID)
		b = appendKey(b, "name")
		b = appendString(b, a.Name)
		b = appendKey(b, "span_count")
		b = strconv.AppendInt(b, int64(a.SpanCount), 10)
		b = appendKey(b, "llm_calls")
		b = strconv.AppendInt(b, int64(a.LLMCalls), 10)
		b = appendKey(b, "tool_calls")
		b = strconv.AppendInt(b, int64(a.ToolCalls), 10)
		b = appendKey(b, "tokens")
		b = appendTokens(b, &a.Tokens)
		if a.Cost != nil {
			b = appendKey(b, "cost")
			if b, err = appendCost(b, a.Cost); err != nil {
				return nil, err
			}
		}
		b = appendKey(b, "errors")
		b = strconv.AppendInt(b, int64(a.Errors), 10)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func (e *Encoder) appendEvents(b []byte, evs []Event) ([]byte, error) {
	if evs == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	for i := range evs {
		ev := &evs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"kind":`...)
		b = appendString(b, ev.Kind)
		b = appendKey(b, "type")
		b = appendString(b, ev.Type)
		b = appendKey(b, "time")
		if b, err = appendTime(b, ev.Time); err != nil {
			return nil, err
		}
		b = appendOptString(b, "agent_id", ev.AgentID)
		b = appendOptString(b, "agent_name", ev.AgentName)
		b = appendOptString(b, "returns", ev.Returns)
		if len(ev.Params) > 0 {
			b = appendKey(b, "params")
			if b, err = e.appendMap(b, ev.Params); err != nil {
				return nil, err
			}
		}
		b = appendOptString(b, "error_type", ev.ErrorType)
		b = appendOptString(b, "message", ev.Message)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendOptString(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(appendKey(b, k), v)
}

// appendMap writes a map with sorted keys, as encoding/json does.
func (e *Encoder) appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = e.appendAny(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendAny writes the values pcommon's AsRaw produces; anything else goes
// through encoding/json.
func (e *Encoder) appendAny(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case float64:
		return appendFloat(b, v)
	case map[string]any:
		return e.appendMap(b, v)
	case []any:
		b = append(b, '[')
		var err error
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = e.appendAny(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(b, raw...), nil
	}
}

// appendTime writes t as time.Time.MarshalJSON does.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return nil, fmt.Errorf("time %v: year outside of range [0,9999]", t)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendFloat writes f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("unsupported float value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string with encoding/json's escaping
// (HTML-safe, invalid UTF-8 replaced by U+FFFD, U+2028/U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
