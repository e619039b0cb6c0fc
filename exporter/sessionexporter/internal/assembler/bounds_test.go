package assembler

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// emitOne adds td, waits out the grace period and returns the one record
// and the counts of the whole run.
func emitOne(t *testing.T, cfg Config, td ptrace.Traces) (record.Record, Result) {
	t.Helper()
	res, _ := run(t, cfg, []step{{add: []ptrace.Traces{td}}, {at: grace, tick: true}})
	require.Len(t, res.Records, 1)
	return res.Records[0], res
}

func TestLongValuesCutToMaxValueBytesAndCounted(t *testing.T) {
	cfg := testConfig()
	cfg.MaxValueBytes = 100
	long := strings.Repeat("é\x00x", 2000) // 8,000 bytes, NUL bytes and 2-byte characters
	a := New(cfg)
	added := a.Add(testgen.Hostile(0, long, 3), t0)
	r := a.Tick(t0.Add(grace)).Records[0]

	checkRecordBounds(t, "hostile", &r, cfg)
	// Cut, by the span that carried them: the resource value; on the root
	// session.id, name, end state, end reason, one tag and per event (3)
	// type, returns, param name and value; on the agent session.id, name
	// and ID; session.id on each LLM span; session.id and the error
	// message on the tool span; the span names of the root and the agent
	// (kept for the record's span list).
	const want = 1 + 5 + 3*4 + 3 + 2 + 2 + 2
	assert.Equal(t, want, added.TruncatedValues, "counted when read")
	require.NotNil(t, r.Truncated)
	assert.Equal(t, record.Truncated{Values: want}, *r.Truncated, "and marked on the record")
	assert.Zero(t, added.DroppedEvents)

	for _, s := range []string{r.Name, r.EndState, r.EndReason, r.Tags[0], r.Agents[0].Name, r.Events[0].Type, r.Events[0].Returns} {
		assert.True(t, strings.HasSuffix(s, ellipsis), "plain text ends with an ellipsis: %q", s)
		assert.True(t, utf8.ValidString(s), "cut on a UTF-8 boundary: %q", s)
		assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(s, ellipsis)), "a prefix of the value")
	}
	sum := sha256.Sum256([]byte(long))
	assert.True(t, strings.HasSuffix(r.SessionID, ellipsis+hex.EncodeToString(sum[:])[:idHashLen]), "an ID keeps a hash of the whole: %q", r.SessionID)
	assert.Equal(t, r.SessionID, r.Agents[0].ID, "the same long value cuts to the same ID")
	assert.Equal(t, "hostile", r.Resource["service.name"], "short values are kept as they are")

	// A later revision reports the session's total, the metric counts each span once.
	again := a.Add(testgen.Split(testgen.Hostile(0, long, 0))[4], t0.Add(grace)) // a duplicate
	assert.Zero(t, again.TruncatedValues, "a duplicate span is not read again")
}

func TestNoLimitsNoTruncation(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	r, res := emitOne(t, testConfig(), testgen.Hostile(0, long, 500))
	assert.Nil(t, r.Truncated)
	assert.Zero(t, res.TruncatedValues+res.DroppedEvents)
	assert.Equal(t, long, r.Name)
	assert.Len(t, r.Events, 501)
}

func TestCutIdentifiersStayDistinct(t *testing.T) {
	rd := reader{maxValue: MinValueBytes}
	common := strings.Repeat("s", 500)
	a, b := rd.id(common+"a"), rd.id(common+"b")
	assert.NotEqual(t, a, b, "two IDs that differ only after the cut")
	assert.LessOrEqual(t, len(a), MinValueBytes)
	assert.Equal(t, a, rd.id(common+"a"), "the same ID cuts the same way")
	assert.Equal(t, 3, rd.values)
	assert.Equal(t, "short", rd.id("short"))
	assert.Equal(t, 3, rd.values, "a short ID is not counted")
}

// A cut value is a copy: keeping a slice of a 3.5 MB message would keep the
// whole message in memory.
func TestCutValuesDoNotKeepTheOriginal(t *testing.T) {
	rd := reader{maxValue: 100}
	orig := strings.Repeat("m", 3_500_000)
	lo := uintptr(unsafe.Pointer(unsafe.StringData(orig)))
	hi := lo + uintptr(len(orig))
	for name, cut := range map[string]string{"text": rd.text(orig), "id": rd.id(orig)} {
		p := uintptr(unsafe.Pointer(unsafe.StringData(cut)))
		assert.False(t, p >= lo && p < hi, "%s: the cut value points into the original", name)
	}
	v := pcommon.NewValueBytes()
	v.Bytes().FromRaw([]byte(orig))
	b := rd.raw(v).([]byte)
	assert.Len(t, b, 100)
	assert.Equal(t, 100, cap(b), "bytes are cut to their capacity too")
}

func TestEventsBeyondMaxPerSpanDroppedAndCounted(t *testing.T) {
	cfg := testConfig()
	cfg.MaxEventsPerSpan = 2
	r, res := emitOne(t, cfg, testgen.Hostile(0, "v", 5))
	assert.Len(t, r.Events, 3, "two of the root's five, and the tool's error event")
	assert.Equal(t, 3, res.DroppedEvents)
	require.NotNil(t, r.Truncated)
	assert.Equal(t, record.Truncated{Events: 3}, *r.Truncated)
	assert.Equal(t, 2, r.Counts.Events, "counts are over the events kept")
}

func TestTokenCountsClampedAndSaturated(t *testing.T) {
	r, _ := emitOne(t, testConfig(), testgen.Hostile(0, "v", 0))
	maxed := record.Tokens{Input: math.MaxInt64, Output: math.MaxInt64, Total: math.MaxInt64}
	assert.Equal(t, maxed, r.Tokens, "two spans of MaxInt64 tokens saturate instead of wrapping to -2")
	assert.Equal(t, maxed, r.Agents[0].Tokens)

	for _, tt := range []struct {
		name string
		v    pcommon.Value
		want int64
	}{
		{"int", pcommon.NewValueInt(42), 42},
		{"negative int", pcommon.NewValueInt(-5), 0},
		{"min int", pcommon.NewValueInt(math.MinInt64), 0},
		{"double", pcommon.NewValueDouble(12.9), 12},
		{"negative double", pcommon.NewValueDouble(-1), 0},
		{"NaN", pcommon.NewValueDouble(math.NaN()), 0},
		{"+Inf", pcommon.NewValueDouble(math.Inf(1)), math.MaxInt64},
		{"double beyond int64", pcommon.NewValueDouble(1e30), math.MaxInt64},
		{"string", pcommon.NewValueStr("12"), 0},
	} {
		assert.Equal(t, tt.want, tokenCount(tt.v), tt.name)
	}
	assert.Equal(t, int64(math.MaxInt64), addTokens(math.MaxInt64, 1))
	assert.Equal(t, int64(3), addTokens(1, 2))
}

func TestByteBudgetFlushesOldestAsPartial(t *testing.T) {
	cfg := testConfig()
	one := New(cfg)
	one.Add(testgen.Session(0, 20), t0)
	perSession := one.BufferedBytes()
	require.Positive(t, perSession)

	cfg.MaxBytes = 3*perSession + perSession/2 // room for three sessions of 20 spans
	a := New(cfg)
	var limit []record.Record
	for i := range 5 {
		res := a.Add(testgen.Session(i, 20), t0)
		limit = append(limit, res.Records...)
		assert.LessOrEqual(t, a.BufferedBytes(), cfg.MaxBytes, "after session %d", i)
	}
	require.Len(t, limit, 2, "the two oldest are flushed to make room")
	for k, r := range limit {
		assert.Equal(t, testgen.SessionID(k), r.SessionID)
		assert.Equal(t, record.FlushLimit, r.FlushReason)
		assert.True(t, r.Partial())
		assert.Equal(t, 20, r.SpanCount, "flushed with every span it had")
	}
	sessions, _ := a.Buffered()
	assert.Equal(t, 3, sessions)

	// A session larger than the whole budget is flushed as soon as it is.
	cfg.MaxBytes = perSession / 2
	b := New(cfg)
	res := b.Add(testgen.Session(7, 20), t0)
	require.Len(t, res.Records, 1)
	assert.Equal(t, record.FlushLimit, res.Records[0].FlushReason)
	assert.Zero(t, b.BufferedBytes())
	late := b.Add(testgen.Session(7, 21), t0) // its spans again, and one more
	assert.Equal(t, 21, late.LateSpans, "its later spans are dropped and counted, not a second record")
}

// The accounted sizes cover at least the fixed part of each kept value.
func TestAccountedSizesCoverTheStructs(t *testing.T) {
	assert.GreaterOrEqual(t, uintptr(sizeSpan), unsafe.Sizeof(span{}))
	assert.GreaterOrEqual(t, uintptr(sizeEvent), unsafe.Sizeof(event{}))
	assert.GreaterOrEqual(t, uintptr(sizeParam), unsafe.Sizeof(param{}))
	assert.GreaterOrEqual(t, uintptr(sizeRoot), unsafe.Sizeof(root{}))
	assert.GreaterOrEqual(t, uintptr(sizeSession), unsafe.Sizeof(session{}))

	a := New(testConfig())
	a.Add(testgen.Golden(), t0)
	assert.Equal(t, accountedBytes(a), a.BufferedBytes())
	a.Tick(t0.Add(grace))
	a.Tick(t0.Add(grace + timeout)) // released
	assert.Zero(t, a.BufferedBytes())
}
