package assembler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// Released names every trace whose state a call dropped: at the end of
// retention, at a limit, for an ignored trace, and in Drain.
func TestReleasedTraces(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessions = 2
	a := New(cfg)
	res := a.Add(testgen.Session(1, 3), t0)
	assert.Empty(t, res.Released)
	res = a.Add(testgen.Foreign(9, 2), t0)
	assert.Empty(t, res.Released)
	res = a.Add(testgen.Session(2, 3), t0) // third trace: the oldest pending is flushed at the limit
	require.Len(t, res.Records, 1)
	assert.Equal(t, record.FlushLimit, res.Records[0].FlushReason)
	assert.Equal(t, []pcommon.TraceID{testgen.TraceID(1)}, res.Released)
	assert.False(t, a.Holds(testgen.TraceID(1)))

	res = a.Tick(t0.Add(cfg.GracePeriod))
	require.Len(t, res.Records, 1, "session 2 emitted, retained")
	assert.Empty(t, res.Released)
	assert.True(t, a.Holds(testgen.TraceID(2)))

	res = a.Tick(t0.Add(cfg.GracePeriod + cfg.SessionTimeout))
	assert.ElementsMatch(t, []pcommon.TraceID{testgen.TraceID(2), testgen.TraceID(9)}, res.Released,
		"session 2's retention is over; the foreign trace is ignored")
	assert.Equal(t, 1, res.IgnoredTraces)

	a.Add(testgen.Session(3, 2), t0)
	res = a.Drain(t0)
	assert.Equal(t, []pcommon.TraceID{testgen.TraceID(3)}, res.Released)
}

// Restore puts a replayed session back in the state it had: emitted
// (retained, no new record) or with spans newer than its last record
// (pending, emitted as the next revision).
func TestRestore(t *testing.T) {
	cfg := testConfig()
	a := New(cfg)
	a.Add(testgen.Session(1, 3), t0)
	a.Add(testgen.Session(2, 3), t0)
	assert.True(t, a.Restore(testgen.TraceID(1), 1, false, t0))
	assert.True(t, a.Restore(testgen.TraceID(2), 2, true, t0))
	assert.False(t, a.Restore(testgen.TraceID(3), 1, false, t0), "a trace not held")

	res := a.Tick(t0.Add(cfg.GracePeriod))
	require.Len(t, res.Records, 1, "only the pending one")
	assert.Equal(t, testgen.SessionID(2), res.Records[0].SessionID)
	assert.Equal(t, 2, res.Records[0].Revision)

	// A late span for the retained one: its next revision.
	late := testgen.Split(testgen.Session(1, 4))[3]
	a.Add(late, t0.Add(2*cfg.GracePeriod))
	res = a.Tick(t0.Add(3 * cfg.GracePeriod))
	require.Len(t, res.Records, 1)
	assert.Equal(t, 1, res.Records[0].Revision)
	assert.Equal(t, 4, res.Records[0].SpanCount)
}

// At a limit, a pending trace that Tick and Drain would ignore (no root, no
// crewtrace attribute) is ignored and counted, not flushed as a record.
func TestLimitIgnoresForeignTraces(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessions = 2
	a := New(cfg)
	a.Add(testgen.Foreign(9, 3), t0)
	a.Add(testgen.Session(1, 3), t0)
	res := a.Add(testgen.Session(2, 3), t0)
	assert.Empty(t, res.Records, "the foreign trace makes room, silently for no one")
	assert.Equal(t, 1, res.IgnoredTraces)
	assert.Equal(t, 3, res.IgnoredSpans)
	assert.Equal(t, []pcommon.TraceID{testgen.TraceID(9)}, res.Released)
	res = a.Add(testgen.Session(3, 3), t0)
	require.Len(t, res.Records, 1, "then the oldest session is flushed as partial")
	assert.Equal(t, record.FlushLimit, res.Records[0].FlushReason)
	assert.Equal(t, testgen.SessionID(1), res.Records[0].SessionID)
}
