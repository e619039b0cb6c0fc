package assembler

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Every value the assembler keeps comes from an OTLP client, which may send
// anything the receiver accepts (megabytes per value). What it keeps is
// therefore bounded at read time, and counted where it is cut:
//
//   - every string kept (attribute values and keys, event fields, tags,
//     strings inside maps and slices, bytes) is cut to maxValue bytes;
//   - at most maxEvents session events are kept per span;
//   - the bytes of what is kept are accounted (size methods below), so that
//     Config.MaxBytes bounds the whole buffer.
//
// A cut string never retains the value it came from: pdata allocates each
// string of a request separately, and a substring would keep the whole
// original alive.

// ellipsis ends a cut string, so a reader sees it was cut.
const ellipsis = "…"

// idHashLen is the number of hex digits of SHA-256 that end a cut
// identifier.
const idHashLen = 32

// MinValueBytes is the smallest MaxValueBytes: a cut identifier keeps a
// prefix, the ellipsis and idHashLen hex digits.
const MinValueBytes = 64

// reader reads a client's values under the limits and counts what it cuts.
// It is reset for every span.
type reader struct {
	maxValue  int // bytes per string kept; 0: no cap
	maxEvents int // session events kept per span; 0: no cap

	values int // strings cut since the last reset
	events int // events dropped since the last reset
}

func (rd *reader) reset() { rd.values, rd.events = 0, 0 }

// str reads a value as a string (AsString for other types), cut to maxValue.
func (rd *reader) str(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return rd.text(v.Str())
	}
	return rd.text(v.AsString())
}

// text cuts plain text to maxValue bytes: a prefix ending on a UTF-8
// boundary, then an ellipsis.
func (rd *reader) text(s string) string {
	if rd.maxValue <= 0 || len(s) <= rd.maxValue {
		return s
	}
	rd.values++
	return prefix(s, rd.maxValue-len(ellipsis)) + ellipsis
}

// id cuts an identifier (session.id, gen_ai.agent.id) to maxValue bytes so
// that two different long identifiers stay different: a prefix, an
// ellipsis, and the first idHashLen hex digits of the SHA-256 of the whole.
func (rd *reader) id(s string) string {
	if rd.maxValue <= 0 || len(s) <= rd.maxValue {
		return s
	}
	rd.values++
	sum := sha256.Sum256([]byte(s))
	return prefix(s, rd.maxValue-len(ellipsis)-idHashLen) + ellipsis + hex.EncodeToString(sum[:])[:idHashLen]
}

// prefix returns a copy of at most n bytes of s, not splitting a UTF-8
// sequence.
func prefix(s string, n int) string {
	n = max(n, 0)
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string([]byte(s[:n])) // a copy: s[:n] would keep all of s alive
}

// raw converts a value to what records hold (AsRaw), with every string
// and key cut, bytes cut to maxValue, and non-finite doubles made
// JSON-safe.
func (rd *reader) raw(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return rd.text(v.Str())
	case pcommon.ValueTypeDouble:
		return jsonSafe(v.Double())
	case pcommon.ValueTypeBytes:
		b := v.Bytes().AsRaw()
		if rd.maxValue > 0 && len(b) > rd.maxValue {
			rd.values++
			b = b[:rd.maxValue:rd.maxValue]
		}
		return b
	case pcommon.ValueTypeMap:
		return rd.rawMap(v.Map())
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		out := make([]any, sl.Len())
		for i := range out {
			out[i] = rd.raw(sl.At(i))
		}
		return out
	default:
		return v.AsRaw()
	}
}

// rawMap is raw for a map: keys and values cut.
func (rd *reader) rawMap(m pcommon.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.All() {
		out[rd.text(k)] = rd.raw(v)
	}
	return out
}

// tokenCount reads a token count written as an int or a double: negative
// and NaN counts are 0, counts beyond int64 are math.MaxInt64.
func tokenCount(v pcommon.Value) int64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return max(v.Int(), 0)
	case pcommon.ValueTypeDouble:
		d := v.Double()
		switch {
		case !(d > 0): // negative, zero or NaN
			return 0
		case d >= math.MaxInt64: // 2^63 as a double: beyond every int64
			return math.MaxInt64
		}
		return int64(d)
	default:
		return 0
	}
}

// addTokens sums two non-negative counts, saturating at math.MaxInt64
// instead of wrapping to a negative total.
func addTokens(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// Accounted sizes, in bytes, of what the assembler keeps: the fixed part of
// each Go value (unsafe.Sizeof, for 64-bit platforms) plus the bytes its
// strings, slices and maps point to. Map and allocator overheads are left
// out; the heap a buffered span costs is measured against this figure by
// BenchmarkBufferedMemory.
const (
	sizeSpan    = 176 // span
	sizeEvent   = 136 // event
	sizeParam   = 32  // param
	sizeRoot    = 96  // root
	sizeSession = 248 // session, its map entry and list element
	sizeIndex   = 16  // a span's entry in its session's dedup index
	sizeAny     = 16  // an interface value
	sizeString  = 16  // a string header
	sizeSlice   = 24  // a slice header
	sizeMap     = 48  // a map header
	sizeModel   = 32  // a model of the session (provider and name)
	sizeMessage = 40  // a failed span's message in the session's map
)

// size returns the accounted bytes of a span summary.
func (sp *span) size() int64 {
	n := int64(sizeSpan + len(sp.agentID) + len(sp.name) + len(sp.spanName))
	for i := range sp.events {
		n += sp.events[i].size()
	}
	return n
}

func (ev *event) size() int64 {
	n := int64(sizeEvent + len(ev.kind) + len(ev.typ) + len(ev.returns) + len(ev.errorType) + len(ev.message))
	for _, p := range ev.params {
		n += sizeParam + int64(len(p.name)) + rawSize(p.value)
	}
	return n
}

func (rt *root) size() int64 {
	n := int64(sizeRoot + len(rt.name) + len(rt.endState) + len(rt.endReason))
	for _, t := range rt.tags {
		n += sizeString + int64(len(t))
	}
	return n
}

// rawSize is the accounted size of a value raw produced.
func rawSize(v any) int64 {
	switch x := v.(type) {
	case string:
		return sizeAny + int64(len(x))
	case []byte:
		return sizeAny + sizeSlice + int64(len(x))
	case []any:
		n := int64(sizeAny + sizeSlice)
		for _, e := range x {
			n += rawSize(e)
		}
		return n
	case map[string]any:
		n := int64(sizeAny + sizeMap)
		for k, e := range x {
			n += sizeString + int64(len(k)) + rawSize(e)
		}
		return n
	default:
		return sizeAny
	}
}
