package buffer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/storagetest"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

const (
	grace   = time.Second
	timeout = time.Minute
)

var (
	t0    = time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	owner = component.MustNewID("session")
)

func testConfig() assembler.Config {
	return assembler.Config{GracePeriod: grace, SessionTimeout: timeout, MaxSessions: 100, MaxSpans: 10_000}
}

// open returns a Buffer restored from store, as the exporter's start does.
func open(t *testing.T, store *storagetest.Storage) (*Buffer, Batch) {
	t.Helper()
	client, err := store.GetClient(context.Background(), component.KindExporter, owner, ClientName)
	require.NoError(t, err)
	b := New(testConfig())
	batch, err := b.Restore(context.Background(), client, t0)
	require.NoError(t, err)
	require.True(t, b.Durable())
	return b, batch
}

func add(t *testing.T, b *Buffer, now time.Time, tds ...ptrace.Traces) Batch {
	t.Helper()
	var last Batch
	for _, td := range tds {
		var err error
		last, err = b.Add(context.Background(), td, now)
		require.NoError(t, err)
		require.NoError(t, b.Commit(context.Background(), last, true))
	}
	return last
}

func spanKeys(store *storagetest.Storage) (spans, markers []string) {
	for _, k := range store.Keys("/" + ClientName) {
		switch k[:2] {
		case spanPrefix:
			spans = append(spans, k)
		case markerPrefix:
			markers = append(markers, k)
		}
	}
	return spans, markers
}

// Without a log the buffer keeps sessions in memory: the same steps, and
// Commit has nothing to write.
func TestWithoutStorage(t *testing.T) {
	b := New(testConfig())
	assert.False(t, b.Durable())
	batch, err := b.Add(context.Background(), testgen.Session(1, 4), t0)
	require.NoError(t, err)
	assert.Empty(t, batch.Records)
	assert.True(t, batch.update.empty())
	sessions, spans := b.Buffered()
	assert.Equal(t, []int{1, 4}, []int{sessions, spans})

	batch = b.Tick(t0.Add(grace))
	require.Len(t, batch.Records, 1)
	assert.NoError(t, b.Commit(context.Background(), batch, true))

	add(t, b, t0.Add(grace), testgen.Session(2, 3))
	batch = b.Drain(t0.Add(grace))
	require.Len(t, batch.Records, 1, "the pending session; the emitted one is only released")
	assert.Len(t, batch.Released, 2)
	sessions, spans = b.Buffered()
	assert.Zero(t, sessions+spans)
	assert.NoError(t, b.Close(context.Background()))
}

// Step 1: Add writes one entry per held trace before it returns; a trace
// Add does not hold (a malformed span) gets none.
func TestAddWritesHeldTraces(t *testing.T) {
	store := storagetest.New()
	b, restored := open(t, store)
	assert.Zero(t, restored.Restored)
	bad := ptrace.NewTraces()
	bad.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	batch := add(t, b, t0, testgen.Merge(testgen.Session(1, 3), testgen.Session(2, 2), bad))
	assert.Equal(t, 1, batch.MalformedSpans)
	spans, markers := spanKeys(store)
	assert.Equal(t, []string{spanKey(testgen.TraceID(1), 0), spanKey(testgen.TraceID(2), 1)}, spans)
	assert.Empty(t, markers, "nothing emitted yet")
}

// A failed write is Add's error: the spans are buffered but not indexed as
// durable, and the batch is still valid.
func TestAddStorageFailure(t *testing.T) {
	store := storagetest.New()
	b, _ := open(t, store)
	store.SetFail(errors.New("disk full"))
	batch, err := b.Add(context.Background(), testgen.Session(1, 3), t0)
	require.ErrorContains(t, err, "disk full")
	assert.True(t, batch.update.empty())
	sessions, _ := b.Buffered()
	assert.Equal(t, 1, sessions, "buffered in memory; the sender's retry is a duplicate")
	store.SetFail(nil)
	batch = add(t, b, t0, testgen.Session(1, 3))
	assert.Equal(t, 3, batch.DuplicateSpans)
	spans, _ := spanKeys(store)
	assert.Len(t, spans, 1, "the retry is stored")
}

// Step 2: an emission's marker is written by Commit, only once its records
// were queued; a release deletes the trace's entries and marker.
func TestCommitWritesMarkerThenRelease(t *testing.T) {
	store := storagetest.New()
	b, _ := open(t, store)
	add(t, b, t0, testgen.Session(1, 3))
	add(t, b, t0, testgen.Split(testgen.Session(2, 2))...)

	batch := b.Tick(t0.Add(grace))
	require.Len(t, batch.Records, 2)
	_, markers := spanKeys(store)
	assert.Empty(t, markers, "no marker before the records are queued")
	require.NoError(t, b.Commit(context.Background(), batch, true))
	_, markers = spanKeys(store)
	assert.Equal(t, []string{markerKey(testgen.TraceID(1)), markerKey(testgen.TraceID(2))}, markers)
	v, ok := store.Get("/"+ClientName, markerKey(testgen.TraceID(2)))
	require.True(t, ok)
	m, err := decodeMarker(v)
	require.NoError(t, err)
	assert.Equal(t, marker{nextRevision: 1, lastSeq: 2}, m, "session 2's entries are seq 1 and 2")

	batch = b.Tick(t0.Add(grace + timeout))
	assert.Len(t, batch.Released, 2, "retention over")
	spans, markers := spanKeys(store)
	assert.Len(t, spans, 3, "deleted only by Commit")
	require.NoError(t, b.Commit(context.Background(), batch, true))
	spans, markers = spanKeys(store)
	assert.Empty(t, spans)
	assert.Empty(t, markers)
}

// Records that could not be queued leave their trace's entries in storage,
// even after the trace is released here, and the next start emits the
// session again.
func TestNotQueuedKeptForNextStart(t *testing.T) {
	store := storagetest.New()
	b, _ := open(t, store)
	add(t, b, t0, testgen.Session(1, 3))
	batch := b.Tick(t0.Add(grace))
	require.Len(t, batch.Records, 1)
	require.NoError(t, b.Commit(context.Background(), batch, false))
	batch = b.Tick(t0.Add(grace + timeout))
	require.NoError(t, b.Commit(context.Background(), batch, true))
	spans, markers := spanKeys(store)
	assert.Len(t, spans, 1, "kept")
	assert.Empty(t, markers)
	require.NoError(t, b.Close(context.Background()))

	again, restored := open(t, store)
	assert.Equal(t, Restored{Sessions: 1, Entries: 1}, restored.Restored)
	batch = again.Tick(t0.Add(grace))
	require.Len(t, batch.Records, 1, "emitted again")
	assert.Equal(t, 0, batch.Records[0].Revision)
}

// Step 3: Restore replays every entry in arrival order; a session with a
// marker is retained as emitted, one with entries newer than its marker is
// emitted again as the marker's revision, one without a marker is emitted as
// usual; unreadable keys and markers without entries are deleted; new
// entries continue the sequence.
func TestRestore(t *testing.T) {
	store := storagetest.New()
	b, _ := open(t, store)
	late := testgen.Split(testgen.Session(2, 4))
	add(t, b, t0, testgen.Session(1, 3))
	add(t, b, t0, late[:3]...)
	require.NoError(t, b.Commit(context.Background(), b.Tick(t0.Add(grace)), true))
	add(t, b, t0.Add(grace), late[3]) // session 2's revision 1 is due, not emitted
	add(t, b, t0.Add(grace), testgen.Session(3, 2))
	// What a crash leaves besides: junk, and a marker whose entries are gone.
	name := component.KindExporter.String() + "/" + owner.String() + "/" + ClientName
	store.Set(name, spanPrefix+"not-a-trace/0", []byte("x"))
	store.Set(name, spanKey(testgen.TraceID(7), 99), []byte("not protobuf"))
	store.Set(name, markerKey(testgen.TraceID(8)), marker{1, 0}.encode())
	store.Crash()

	b, restored := open(t, store)
	assert.Equal(t, Restored{Sessions: 3, Emitted: 2, Entries: 7}, restored.Restored)
	assert.Empty(t, restored.Records)
	spans, markers := spanKeys(store)
	assert.Len(t, spans, 6, "the unreadable entries are deleted")
	assert.Len(t, markers, 2, "the marker without entries is deleted")

	batch := b.Tick(t0.Add(grace))
	require.Len(t, batch.Records, 2)
	byID := map[string]int{}
	for _, r := range batch.Records {
		byID[r.SessionID] = r.Revision
	}
	assert.Equal(t, map[string]int{testgen.SessionID(2): 1, testgen.SessionID(3): 0}, byID,
		"session 1 is retained as emitted; session 2 is emitted as revision 1 with its late span")
	require.NoError(t, b.Commit(context.Background(), batch, true))

	add(t, b, t0.Add(grace), testgen.Session(4, 1))
	spans, _ = spanKeys(store)
	assert.Contains(t, spans, spanKey(testgen.TraceID(4), 100), "the sequence continues after the highest stored seq")
}

// Restore needs a client that can list its keys; one that cannot is closed.
func TestRestoreNeedsWalker(t *testing.T) {
	c := &plainClient{}
	_, err := New(testConfig()).Restore(context.Background(), c, t0)
	require.ErrorContains(t, err, "storage.Walker")
	assert.True(t, c.closed)
}

// A storage that fails while it is read fails Restore, and the client is
// closed.
func TestRestoreReadFailure(t *testing.T) {
	store := storagetest.New()
	client, err := store.GetClient(context.Background(), component.KindExporter, owner, ClientName)
	require.NoError(t, err)
	store.Crash()
	b := New(testConfig())
	_, err = b.Restore(context.Background(), client, t0)
	require.ErrorIs(t, err, storagetest.ErrCrashed)
	assert.False(t, b.Durable())
}

// plainClient is a storage client that cannot Walk.
type plainClient struct{ closed bool }

func (*plainClient) Get(context.Context, string) ([]byte, error)        { return nil, nil }
func (*plainClient) Set(context.Context, string, []byte) error          { return nil }
func (*plainClient) Delete(context.Context, string) error               { return nil }
func (*plainClient) Batch(context.Context, ...*storage.Operation) error { return nil }
func (c *plainClient) Close(context.Context) error                      { c.closed = true; return nil }

func TestKeys(t *testing.T) {
	tid := testgen.TraceID(5)
	got, seq, ok := parseSpanKey(spanKey(tid, 0xabc))
	require.True(t, ok)
	assert.Equal(t, tid, got)
	assert.Equal(t, uint64(0xabc), seq)
	assert.Equal(t, "s/0000000000c0ffee0000000000000006/0000000000000abc", spanKey(tid, 0xabc))
	for _, bad := range []string{"s/", "s/xyz/1", "s/0000000000c0ffee0000000000000005", "s/0000000000c0ffee0000000000000005/zz"} {
		_, _, ok := parseSpanKey(bad)
		assert.False(t, ok, bad)
	}
	m := marker{nextRevision: 3, lastSeq: 1 << 40}
	back, err := decodeMarker(m.encode())
	require.NoError(t, err)
	assert.Equal(t, m, back)
	_, err = decodeMarker([]byte{1})
	assert.Error(t, err)
	_, ok = parseTraceID("00")
	assert.False(t, ok)
	assert.Equal(t, "e/0000000000c0ffee0000000000000006", markerKey(tid))
}
