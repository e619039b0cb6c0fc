package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzEncoderMatchesEncodingJSON builds records from arbitrary strings,
// numbers and times and checks that the hand-written Encoder produces exactly
// what encoding/json produces, and fails exactly when it fails (NaN and
// infinite floats, years outside 0..9999), and that what it produces decodes.
func FuzzEncoderMatchesEncodingJSON(f *testing.F) {
	f.Add("plain", "", 1.5, int64(7), int64(1767322800123456789), int16(0), true)
	f.Add("quote \" backslash \\ <&> \u2028\u2029", "\x00\x1f\x7f", -0.0, int64(-1), int64(0), int16(3600), false)
	f.Add("bad utf8 \xff\xfe", "日本語 🚀", 1e21, int64(math.MaxInt64), int64(math.MinInt64), int16(-720), true)
	f.Add("x", "y", 1e-7, int64(math.MinInt64), int64(253402300800000000), int16(60), false)
	f.Add("", "", math.Inf(1), int64(0), int64(-62135596800000000), int16(1), true)
	f.Add("", "", math.NaN(), int64(0), int64(0), int16(0), false)
	f.Fuzz(func(t *testing.T, s, s2 string, fl float64, n, nanos int64, offMin int16, b bool) {
		ts := time.Unix(0, nanos).UTC()
		if offMin%1440 != 0 {
			// Zone offsets of a day or more are outside RFC 3339, which
			// encoding/json rejects and the Encoder does not check: records
			// only ever hold UTC times (and decoded ones, within range).
			ts = ts.In(time.FixedZone(s2, int(offMin%1440)*60))
		}
		far := ts.AddDate(int(n%20000), 0, 0) // years before 0 and after 9999
		r := Record{
			SchemaVersion: SchemaVersion, SessionID: s, Revision: int(n), TraceID: s2, Name: s,
			Tags: []string{s, s2}, StartTime: ts, EndTime: far, DurationMs: fl,
			EndState: s2, EndReason: s, Complete: b, FlushReason: s2, EmittedAt: ts,
			Resource: map[string]any{
				s: s2, s2: fl, "i": n, "b": b, "nil": nil, "bytes": []byte(s),
				"list": []any{s, n, fl, []any{}, map[string]any{s2: s}}, "int": int(n), "f32": float32(fl),
			},
			SpanCount: int(n), Counts: Counts{int(n), 1, 2, 3, 4, 5}, Tokens: Tokens{Input: n, Output: -n, CacheRead: n, Reasoning: -n},
			Source: s2,
			Agents: []Agent{{ID: s, Name: s2, SpanCount: int(n), Tokens: Tokens{Input: n}}},
			Models: []Model{{Provider: s, Model: s2, LLMCalls: int(n), Tokens: Tokens{CacheWrite: n}}},
			Tools:  []Tool{{Name: s2, Calls: int(n), Errors: 1}},
			Events: []Event{
				{Kind: s, Type: s2, Time: ts, AgentID: s, AgentName: s2, Returns: s, Params: map[string]any{s: fl, s2: n}, ErrorType: s2, Message: s},
				{Kind: s2, Time: far},
			},
			EventsRefused: n,
			Spans: []Span{{ID: s, ParentID: s2, Kind: s, Name: s2, StartUs: n, DurationUs: -n, Error: b, Message: s,
				Agent: int(offMin), Model: s2, Tokens: &Tokens{Output: n}, Tool: s, Events: []int{int(n), 0}}, {}},
			TraceURL: s2,
		}
		if n%3 != 0 {
			r.Truncated = &Truncated{Values: int(n), Events: int(offMin), Spans: int(n % 7)}
		}
		if n%2 != 0 {
			r.Fragment = s2
		}
		if b {
			r.Tags, r.Agents, r.Models, r.Tools, r.Events, r.Resource, r.Spans = nil, nil, nil, nil, nil, nil, nil
		}
		want, werr := json.Marshal(&r)
		var e Encoder
		got, gerr := e.Encode(&r)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json error %v, encoder error %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoder differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		if _, err := (Encoded{JSON: got}).Decode(); err != nil {
			t.Fatalf("an encoded record does not decode: %v\n%s", err, got)
		}
	})
}

// FuzzDecode feeds arbitrary bytes to Decode (what the http and postgres
// sinks do with records): it must not panic, must wrap ErrInvalid when it
// fails, and a record it accepts must encode again to something that
// decodes to the same encoding (a fixed point after one round).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"session_id":"s","revision":2,"tags":["a"],"start_time":"2026-01-02T03:04:05.123456789+01:00","resource":{"k":[1,"x",null,{"m":true}]},"events":[{"kind":"event","time":"0001-01-01T00:00:00Z","params":{"p":1e300}}]}`))
	f.Add([]byte(`{"schema_version":0}`))
	f.Add([]byte(`{"schema_version":2}`))
	f.Add([]byte(`{"schema_version":1,"duration_ms":-0,"agents":[{"id":"\u0000\ud800"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"schema_version":1,"start_time":"9999-12-31T23:59:59.999999999-23:59"}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := (Encoded{JSON: data}).Decode()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		var e Encoder
		once, err := e.Encode(&r)
		if err != nil {
			// Only times JSON cannot hold are possible here (a zone
			// offset pushing the year past 9999); encoding/json agrees.
			if _, jerr := json.Marshal(&r); jerr == nil {
				t.Fatalf("a decoded record does not encode: %v", err)
			}
			return
		}
		once = bytes.Clone(once)
		r2, err := (Encoded{JSON: once}).Decode()
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, once)
		}
		twice, err := e.Encode(&r2)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point (%v):\n%s\n%s", err, once, twice)
		}
	})
}
