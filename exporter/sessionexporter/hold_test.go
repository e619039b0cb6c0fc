package sessionexporter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

// consumeAsync calls ConsumeTraces on its own goroutine; the channel gets
// its result.
func (h *harness) consumeAsync(ctx context.Context, td ptrace.Traces) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- h.exp.ConsumeTraces(ctx, td) }()
	return ch
}

func requireWaiting(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s: returned (%v) before its trace's record was queued", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

func requireReturned(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting", what)
		return nil
	}
}

// With scale_out, a ConsumeTraces call returns once the record of every
// trace it carried is queued: parts of a session wait for the session's
// record, a part arriving after it (a revision) waits for the revision, a
// part that only repeats spans already emitted returns at once, and a
// trace that is no session returns when it is ignored. Every record names
// the run's fragment.
func TestScaleOutHoldsUntilTheRecordIsQueued(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = time.Second
	cfg.ScaleOut.GetOrInsertDefault().Instance = "session-1"
	h := start(t, cfg)
	defer func() { require.NoError(t, h.exp.Shutdown(context.Background())) }()
	ctx := context.Background()

	parts := testgen.Split(testgen.Golden())
	require.Greater(t, len(parts), 3)
	first := h.consumeAsync(ctx, parts[0])
	requireWaiting(t, first, "first part")
	rest := h.consumeAsync(ctx, testgen.Merge(parts[1:len(parts)-1]...))
	requireWaiting(t, rest, "other parts")
	requireWaiting(t, first, "first part, root arrived, grace period not over")

	h.clock.Advance(testGrace)
	require.NoError(t, requireReturned(t, first, "first part"))
	require.NoError(t, requireReturned(t, rest, "other parts"))
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 1 }, 10*time.Second, 5*time.Millisecond)
	recs := readRecords(t, cfg.File.Get().Path)
	assert.True(t, strings.HasPrefix(recs[0].Fragment, "session-1/"), recs[0].Fragment)
	assert.Len(t, recs[0].Fragment, len("session-1/")+8)

	// A replay of emitted spans adds nothing: no wait.
	require.NoError(t, requireReturned(t, h.consumeAsync(ctx, parts[0]), "replayed part"))
	// The last part is a late span: it waits for revision 1.
	late := h.consumeAsync(ctx, parts[len(parts)-1])
	requireWaiting(t, late, "late part")
	h.clock.Advance(testGrace)
	require.NoError(t, requireReturned(t, late, "late part"))
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 2 }, 10*time.Second, 5*time.Millisecond)
	recs = readRecords(t, cfg.File.Get().Path)
	assert.Equal(t, 1, recs[1].Revision)
	assert.Equal(t, recs[0].Fragment, recs[1].Fragment, "one fragment per run")

	// A trace that is no session waits until it is ignored.
	foreign := h.consumeAsync(ctx, testgen.Foreign(9, 3))
	requireWaiting(t, foreign, "foreign trace")
	h.clock.Advance(cfg.SessionTimeout)
	require.NoError(t, requireReturned(t, foreign, "foreign trace"))
	assert.Len(t, readRecords(t, cfg.File.Get().Path), 2, "no record for it")
}

// A held call whose context ends (the kafka receiver cancels it when its
// partition is revoked) returns the context's error at once — so its
// message is not marked — and the spans stay buffered: the session is
// still written whole. Shutdown releases the calls still waiting with an
// error.
func TestScaleOutCancelledCallKeepsTheSpans(t *testing.T) {
	cfg := testConfig(t)
	cfg.ScaleOut.GetOrInsertDefault()
	h := start(t, cfg)
	parts := testgen.Split(testgen.Golden())

	ctx, cancel := context.WithCancelCause(context.Background())
	first := h.consumeAsync(ctx, parts[0])
	requireWaiting(t, first, "first part")
	revoked := errors.New("partition revoked")
	cancel(revoked)
	err := requireReturned(t, first, "cancelled part")
	require.ErrorIs(t, err, revoked)
	assert.Contains(t, err.Error(), "spans stay buffered")

	rest := h.consumeAsync(context.Background(), testgen.Merge(parts[1:]...))
	requireWaiting(t, rest, "other parts")
	h.clock.Advance(testGrace)
	require.NoError(t, requireReturned(t, rest, "other parts"))
	require.Eventually(t, func() bool { return len(readRecords(t, cfg.File.Get().Path)) == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 8, readRecords(t, cfg.File.Get().Path)[0].SpanCount, "the cancelled call's spans are in the record")

	waiting := h.consumeAsync(context.Background(), testgen.Session(4, 3))
	requireWaiting(t, waiting, "a running session")
	require.NoError(t, h.exp.Shutdown(context.Background()))
	err = requireReturned(t, waiting, "call waiting at shutdown")
	require.ErrorIs(t, err, errHoldClosed)
}

// A batch settles only the holds registered before it was built: the
// steps order them.
func TestHoldsSettleOnlyEarlierSteps(t *testing.T) {
	h := newHolds()
	a, b := pcommon.TraceID{1}, pcommon.TraceID{2}
	assert.Nil(t, h.add(1, nil), "nothing pending, nothing to wait for")
	w := h.add(5, []pcommon.TraceID{a, b})
	h.settle(5, []pcommon.TraceID{a, b}) // built in the same step: before the spans were in
	h.settle(4, []pcommon.TraceID{a, b})
	assert.Equal(t, 1, h.waiting())
	h.settle(6, []pcommon.TraceID{a})
	select {
	case <-w.done:
		t.Fatal("released with one of its traces unsettled")
	default:
	}
	h.settle(7, []pcommon.TraceID{b})
	<-w.done
	require.NoError(t, w.err)
	assert.Zero(t, h.waiting())

	c := h.add(8, []pcommon.TraceID{a})
	h.cancel(c)
	assert.Zero(t, h.waiting())
	d := h.add(9, []pcommon.TraceID{b})
	h.close()
	<-d.done
	assert.ErrorIs(t, d.err, errHoldClosed)
	e := h.add(10, []pcommon.TraceID{a})
	<-e.done
	assert.ErrorIs(t, e.err, errHoldClosed)
}
