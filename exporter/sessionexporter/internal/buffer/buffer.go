// Package buffer holds the sessions the exporter is assembling and, with a
// storage extension, the log that lets them survive a crash. It is the one
// place where the durability protocol is carried out:
//
//	exporter                      Buffer (one mutex)                        storage client "sessions"
//	────────                      ──────────────────                        ─────────────────────────
//	start      ── Restore ──▶ replay the log into the assembler ◀─────────── s/… entries, e/… markers
//	ConsumeTraces ─ Add ────▶ assembler.Add; spans of held traces ─────────▶ s/<trace>/<seq> (before Add returns)
//	ticker     ── Tick ─────▶ assembler.Tick
//	shutdown   ── Drain ────▶ assembler.Drain (only without storage)
//	                │
//	                ▼ each returns a Batch: records, counts, and the log update they need
//	exporter: telemetry, records ──▶ sending_queue ──▶ sink
//	                │
//	                ▼ once the records are queued (or could not be)
//	exporter   ── Commit ───▶ write the update ───────────────────────────▶ e/<trace> markers; deletes
//
// Without a storage extension the log is absent: the same calls keep the
// sessions in memory only, and Commit does nothing.
//
// The log, kept in a storage extension client of its own (name "sessions";
// the records queue has another), holds two kinds of keys:
//
//	s/<trace id hex>/<seq, 16 hex digits>  the spans of one trace from one
//	                                       Add call (OTLP protobuf)
//	e/<trace id hex>                       emission marker: the next revision
//	                                       and the last seq the emitted record
//	                                       covered (2 × uint64, little endian)
//
// The protocol:
//
//  1. Add: the assembler buffers the spans, then the spans of every trace it
//     holds are written (one Batch) before Add returns; if the write fails
//     Add returns the error, so the receiver does not acknowledge spans that
//     are not durable.
//  2. A session is emitted (by Add at a limit, Tick or Drain): its record
//     goes into the sending queue (with sending_queue.storage, a persistent
//     one); only after that does Commit write its marker. A trace whose state
//     the assembler released (retention over, limit flush, shutdown) has its
//     entries and marker deleted by the same Commit, again only after its
//     records are queued. If they could not be queued, the trace's entries
//     are kept for the next start instead.
//  3. Restore, at start: every entry is replayed into the assembler in seq
//     order; a session with a marker is restored as already emitted
//     (retained, next revision from the marker) unless entries newer than the
//     marker exist, in which case it is emitted again as the marker's
//     revision.
//  4. At shutdown with storage the exporter does not Drain: the buffered
//     sessions stay in the log and carry on after the next start.
//
// So a crash between 2's enqueue and 2's Commit re-emits that session with
// the same revision number; nothing else is repeated and nothing is lost.
package buffer // import "github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/buffer"

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
)

// ClientName is the name of the storage client the log lives in.
const ClientName = "sessions"

// Key prefixes of the log.
const (
	spanPrefix   = "s/"
	markerPrefix = "e/"
)

// Buffer holds the assembler and, once Restore has opened one, its log. Its
// methods are safe for concurrent use: one mutex serialises them.
type Buffer struct {
	mu   sync.Mutex
	asm  *assembler.Assembler
	log  *spanLog // nil: sessions are kept in memory only
	step uint64   // numbers the steps (Batch.Step), under mu
}

// Batch is what one step produced: the records to emit, the assembler's
// counts, and the log update to Commit once the records are queued.
type Batch struct {
	assembler.Result
	// Restored says what Restore found in storage; zero for the other steps.
	Restored Restored
	// Step numbers the steps in the order they ran (under the Buffer's
	// lock): a batch settles the traces it emitted or released for every
	// Add with a lower step (see AddHolding).
	Step uint64

	update logUpdate
}

// Restored counts what Restore found in storage.
type Restored struct {
	// Sessions is the number of traces held after the replay.
	Sessions int
	// Emitted is how many of them had been emitted before the restart.
	Emitted int
	// Entries is the number of span entries replayed.
	Entries int
}

// New returns an empty Buffer that keeps sessions in memory until Restore
// gives it a log.
func New(cfg assembler.Config) *Buffer {
	return &Buffer{asm: assembler.New(cfg)}
}

// Restore replays the log kept in client into the assembler, at start and
// before any other call, and keeps the log from then on. The Batch holds
// what the replay emitted (only when the limits are smaller than the stored
// state) and what was found. The Buffer owns client from now on, and closes
// it if Restore fails.
func (b *Buffer) Restore(ctx context.Context, client storage.Client, now time.Time) (Batch, error) {
	walker, ok := client.(storage.Walker)
	if !ok {
		return Batch{}, errors.Join(errors.New("its client cannot list keys (storage.Walker), needed to reload sessions"), client.Close(ctx))
	}
	log := &spanLog{
		client:  client,
		walker:  walker,
		entries: make(map[pcommon.TraceID][]uint64),
		kept:    make(map[pcommon.TraceID]struct{}),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, restored, err := log.replay(ctx, b.asm, now)
	if err != nil {
		return Batch{}, errors.Join(err, client.Close(ctx))
	}
	b.log = log
	return Batch{Result: res, Restored: restored, update: log.updateFor(&res)}, nil
}

// Add buffers the spans of td at now and, with a log, writes the spans of
// the traces it holds before it returns. An error means the spans are
// buffered but not durable (the caller refuses them, the sender retries);
// the Batch is valid either way and must be emitted and committed.
func (b *Buffer) Add(ctx context.Context, td ptrace.Traces, now time.Time) (Batch, error) {
	return b.AddHolding(ctx, td, now, nil)
}

// AddHolding is Add that, before it releases the Buffer's lock, calls hold
// (when not nil) with the batch's step and the traces of td that are
// pending after the call: those whose spans await a record. A later batch
// (higher step) that emits or releases one of them settles it. Calling hold
// under the lock means no such batch can be produced before hold has run.
func (b *Buffer) AddHolding(ctx context.Context, td ptrace.Traces, now time.Time, hold func(step uint64, pending []pcommon.TraceID)) (Batch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.step++
	res := b.asm.Add(td, now)
	if hold != nil {
		hold(b.step, b.pendingOf(td))
	}
	if b.log == nil {
		return Batch{Result: res, Step: b.step}, nil
	}
	err := b.log.append(ctx, td, b.asm.Holds)
	return Batch{Result: res, Step: b.step, update: b.log.updateFor(&res)}, err
}

// pendingOf returns the distinct traces of td that are pending.
func (b *Buffer) pendingOf(td ptrace.Traces) []pcommon.TraceID {
	var out []pcommon.TraceID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				tid := spans.At(k).TraceID()
				if b.asm.Pending(tid) && !slices.Contains(out, tid) {
					out = append(out, tid)
				}
			}
		}
	}
	return out
}

// Tick emits the sessions whose deadlines passed at now and releases the
// retained ones whose retention is over.
func (b *Buffer) Tick(now time.Time) Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.step++
	res := b.asm.Tick(now)
	return Batch{Result: res, Step: b.step, update: b.log.updateFor(&res)}
}

// Drain emits every pending session and releases everything. With a log the
// exporter does not call it (protocol step 4).
func (b *Buffer) Drain(now time.Time) Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.step++
	res := b.asm.Drain(now)
	return Batch{Result: res, Step: b.step, update: b.log.updateFor(&res)}
}

// Commit finishes the storage update of a batch once its records were queued
// (queued true) or failed to be queued (queued false: the entries of its
// traces are kept for the next start). Without a log it does nothing. It
// writes even if ctx is cancelled: a shutdown must not leave a queued record
// without its marker.
func (b *Buffer) Commit(ctx context.Context, batch Batch, queued bool) error {
	if batch.update.empty() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.write(context.WithoutCancel(ctx), batch.update, queued)
}

// Buffered returns the number of traces and span summaries held.
func (b *Buffer) Buffered() (sessions, spans int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.asm.Buffered()
}

// Occupancy returns the number of traces and span summaries held and their
// accounted bytes (what max_bytes bounds), read together.
func (b *Buffer) Occupancy() (sessions, spans int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sessions, spans = b.asm.Buffered()
	return sessions, spans, b.asm.BufferedBytes()
}

// Durable reports whether the Buffer keeps a log.
func (b *Buffer) Durable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log != nil
}

// Close releases the log's storage client, if any. The buffered sessions
// stay in storage.
func (b *Buffer) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return nil
	}
	err := b.log.client.Close(ctx)
	b.log = nil
	return err
}

// spanLog is the log in storage and its in-memory index. Its methods are
// called under the Buffer's mutex.
type spanLog struct {
	client storage.Client
	walker storage.Walker
	seq    uint64 // seq of the next entry

	entries map[pcommon.TraceID][]uint64 // live entries per trace, ascending
	// kept are traces whose records could not be queued: their entries stay
	// in storage (replayed and emitted at the next start) and are never
	// deleted by this process.
	kept map[pcommon.TraceID]struct{}

	marshaler ptrace.ProtoMarshaler
}

// marker is what an e/ key holds.
type marker struct {
	nextRevision uint64
	lastSeq      uint64
}

// logUpdate is what must reach storage once the records of one batch are
// queued: the markers of its emitted sessions, the deletion of its released
// traces.
type logUpdate struct {
	markers []markerWrite
	deletes []traceDelete
}

type markerWrite struct {
	tid pcommon.TraceID
	m   marker
}

type traceDelete struct {
	tid  pcommon.TraceID
	seqs []uint64
}

func (u logUpdate) empty() bool { return len(u.markers) == 0 && len(u.deletes) == 0 }

// append writes the spans of td that belong to traces holds reports, one
// entry per trace, in one Batch (protocol step 1).
func (l *spanLog) append(ctx context.Context, td ptrace.Traces, holds func(pcommon.TraceID) bool) error {
	parts := splitByTrace(td, holds)
	if len(parts) == 0 {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(parts))
	seqs := make([]uint64, 0, len(parts))
	for _, part := range parts {
		b, err := l.marshaler.MarshalTraces(part.td)
		if err != nil {
			return fmt.Errorf("encode spans: %w", err)
		}
		seq := l.seq
		l.seq++
		ops = append(ops, storage.SetOperation(spanKey(part.tid, seq), b))
		seqs = append(seqs, seq)
	}
	if err := l.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("write spans to storage: %w", err)
	}
	for i, part := range parts {
		l.entries[part.tid] = append(l.entries[part.tid], seqs[i])
	}
	return nil
}

// updateFor computes, for one assembler result, the markers of its emitted
// sessions and the deletions of its released traces (protocol step 2).
// Released traces leave the in-memory index now, so later entries of the
// same trace are never deleted by this update. A nil log needs no update.
func (l *spanLog) updateFor(res *assembler.Result) logUpdate {
	var u logUpdate
	if l == nil {
		return u
	}
	for i := range res.Records {
		tid, ok := parseTraceID(res.Records[i].TraceID)
		if !ok {
			continue
		}
		var last uint64
		if s := l.entries[tid]; len(s) > 0 {
			last = s[len(s)-1]
		}
		u.markers = append(u.markers, markerWrite{tid, marker{uint64(res.Records[i].Revision) + 1, last}})
	}
	for _, tid := range res.Released {
		u.deletes = append(u.deletes, traceDelete{tid, l.entries[tid]})
		delete(l.entries, tid)
	}
	return u
}

// write stores an update after its records were queued (queued true) or
// failed to be queued (queued false: the traces' entries are kept for the
// next start instead).
func (l *spanLog) write(ctx context.Context, u logUpdate, queued bool) error {
	if !queued {
		for _, m := range u.markers {
			l.kept[m.tid] = struct{}{}
		}
	}
	ops := make([]*storage.Operation, 0, len(u.markers)+len(u.deletes))
	released := make(map[pcommon.TraceID]bool, len(u.deletes))
	for _, d := range u.deletes {
		if _, keep := l.kept[d.tid]; keep {
			continue
		}
		released[d.tid] = true
		for _, seq := range d.seqs {
			ops = append(ops, storage.DeleteOperation(spanKey(d.tid, seq)))
		}
		ops = append(ops, storage.DeleteOperation(markerKey(d.tid)))
	}
	if queued {
		for _, m := range u.markers {
			if released[m.tid] {
				continue
			}
			if _, keep := l.kept[m.tid]; keep {
				continue
			}
			ops = append(ops, storage.SetOperation(markerKey(m.tid), m.m.encode()))
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := l.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("update storage after emission: %w", err)
	}
	return nil
}

// entry is one s/ key read back.
type entry struct {
	seq  uint64
	data []byte
}

// replay reads the log into asm at now (protocol step 3) and returns what
// the replay itself emitted. Keys it cannot read, and markers of traces with
// no entries left (a crash between a release's enqueue and its deletion),
// are deleted.
func (l *spanLog) replay(ctx context.Context, asm *assembler.Assembler, now time.Time) (assembler.Result, Restored, error) {
	var (
		st      Restored
		res     assembler.Result
		entries = map[pcommon.TraceID][]entry{}
		markers = map[pcommon.TraceID]marker{}
		junk    []string
		maxSeq  uint64
		found   bool
	)
	err := l.walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case strings.HasPrefix(key, spanPrefix):
			tid, seq, ok := parseSpanKey(key)
			if !ok {
				junk = append(junk, key)
				return nil, nil
			}
			entries[tid] = append(entries[tid], entry{seq, slices.Clone(value)})
			if !found || seq > maxSeq {
				maxSeq, found = seq, true
			}
		case strings.HasPrefix(key, markerPrefix):
			tid, ok := parseTraceID(key[len(markerPrefix):])
			m, err := decodeMarker(value)
			if !ok || err != nil {
				junk = append(junk, key)
				return nil, nil
			}
			markers[tid] = m
		}
		return nil, nil
	})
	if err != nil {
		return res, st, fmt.Errorf("read storage: %w", err)
	}
	if found {
		l.seq = maxSeq + 1
	}

	// Replay in arrival order: traces by their first entry, entries by seq.
	tids := make([]pcommon.TraceID, 0, len(entries))
	for tid, es := range entries {
		slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
		tids = append(tids, tid)
	}
	slices.SortFunc(tids, func(a, b pcommon.TraceID) int { return cmp.Compare(entries[a][0].seq, entries[b][0].seq) })
	var unmarshaler ptrace.ProtoUnmarshaler
	for _, tid := range tids {
		for _, en := range entries[tid] {
			st.Entries++
			td, err := unmarshaler.UnmarshalTraces(en.data)
			if err != nil {
				junk = append(junk, spanKey(tid, en.seq))
				continue
			}
			r := asm.Add(td, now)
			res.Records = append(res.Records, r.Records...)
			res.Released = append(res.Released, r.Released...)
			l.entries[tid] = append(l.entries[tid], en.seq)
		}
	}
	for _, tid := range tids {
		if !asm.Holds(tid) {
			continue
		}
		st.Sessions++
		if m, ok := markers[tid]; ok {
			es := entries[tid]
			asm.Restore(tid, int(m.nextRevision), es[len(es)-1].seq > m.lastSeq, now)
			st.Emitted++
		}
	}
	for tid := range markers {
		if _, ok := entries[tid]; !ok {
			junk = append(junk, markerKey(tid))
		}
	}
	if len(junk) > 0 {
		ops := make([]*storage.Operation, len(junk))
		for i, k := range junk {
			ops[i] = storage.DeleteOperation(k)
		}
		if err := l.client.Batch(ctx, ops...); err != nil {
			return res, st, fmt.Errorf("delete stale keys: %w", err)
		}
	}
	return res, st, nil
}

func (m marker) encode() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, m.nextRevision)
	binary.LittleEndian.PutUint64(b[8:], m.lastSeq)
	return b
}

func decodeMarker(b []byte) (marker, error) {
	if len(b) != 16 {
		return marker{}, fmt.Errorf("emission marker of %d bytes", len(b))
	}
	return marker{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, nil
}

func spanKey(tid pcommon.TraceID, seq uint64) string {
	var b strings.Builder
	b.Grow(len(spanPrefix) + 32 + 1 + 16)
	b.WriteString(spanPrefix)
	b.WriteString(hex.EncodeToString(tid[:]))
	b.WriteByte('/')
	s := strconv.FormatUint(seq, 16)
	for i := len(s); i < 16; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
	return b.String()
}

func parseSpanKey(key string) (pcommon.TraceID, uint64, bool) {
	hexID, hexSeq, ok := strings.Cut(key[len(spanPrefix):], "/")
	if !ok {
		return pcommon.TraceID{}, 0, false
	}
	tid, ok := parseTraceID(hexID)
	seq, err := strconv.ParseUint(hexSeq, 16, 64)
	return tid, seq, ok && err == nil
}

func markerKey(tid pcommon.TraceID) string {
	return markerPrefix + hex.EncodeToString(tid[:])
}

func parseTraceID(s string) (pcommon.TraceID, bool) {
	var tid pcommon.TraceID
	if len(s) != 32 {
		return tid, false
	}
	if _, err := hex.Decode(tid[:], []byte(s)); err != nil {
		return tid, false
	}
	return tid, true
}
